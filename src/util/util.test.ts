import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from './canonical.js';
import { HashingEmbedder, hashingEmbedding } from './embedder.js';
import { onLines } from './lines.js';
import { addKnownSecret, redact, redactString } from './redact.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, undefined], c: undefined, b: 'x' } })).toBe(
      '{"a":{"b":"x","d":[3,null]},"b":1}',
    );
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('redact', () => {
  it('masks secret-looking keys and values, and leaves the rest alone', () => {
    const token = `aos_${'A'.repeat(43)}`;
    const out = redact({
      api_key: 'sk-live-123',
      nested: { Authorization: 'Bearer abcdefghijklmnop' },
      text: `use sk-abcdefghijklmnopqrstuv and ${token} please`,
      url: 'postgres://user:hunter2@db:5432/x',
      schema: 'aos_test_schema_name',
      count: 3,
      admin_token: 'x',
      usage: { tokensIn: 10, tokens: 5, maxTokens: 7 },
    });
    expect(out.admin_token).toBe('[redacted:field admin_token, 1 chars]');
    expect(out.usage).toEqual({ tokensIn: 10, tokens: 5, maxTokens: 7 });
    expect(out.api_key).toBe('[redacted:field api_key, 11 chars]');
    expect(out.nested.Authorization).toBe('[redacted:field Authorization, 23 chars]');
    expect(out.text).toBe('use [redacted:openai-key] and [redacted:aos-token] please');
    expect(out.url).toBe('postgres://user:[redacted:postgres-password]@db:5432/x');
    expect(out.schema).toBe('aos_test_schema_name');
    expect(out.count).toBe(3);
    expect(redactString('no secrets here')).toBe('no secrets here');
  });

  it('masks a known secret as written and in base64 (any alignment), base64url and hex', () => {
    const secret = 'kernel-admin-secret-0123456789';
    addKnownSecret(secret, 'admin-token');
    const b = Buffer.from(secret);
    for (const pre of ['', 'x', 'xy', 'xyz']) {
      const enc = Buffer.concat([Buffer.from(pre), b, Buffer.from('tail')]).toString('base64');
      expect(redactString(`data ${enc} end`)).toContain('[redacted:admin-token]');
    }
    expect(redactString(b.toString('hex'))).toBe('[redacted:admin-token]');
    expect(redactString(`say ${secret}!`)).toBe('say [redacted:admin-token]!');
  });
});

describe('hashingEmbedding', () => {
  it('gives the vectors of hashing-v1 (memories embedded by earlier versions stay comparable)', () => {
    const v = hashingEmbedding('restart the billing service');
    const nz = v.map((x, i) => [i, x] as const).filter(([, x]) => x !== 0);
    expect(nz).toHaveLength(27);
    expect(nz.slice(0, 4)).toEqual([
      [22, 0.12084074525689141],
      [24, 0.12084074525689141],
      [41, -0.12084074525689141],
      [50, 0.12084074525689141],
    ]);
    expect(v.reduce((s, x, i) => s + x * (i + 1), 0)).toBeCloseTo(-431.7948387946454, 9);
    expect(new HashingEmbedder().name).toBe('hashing-v1-256');
  });

  it('reads only the head of a huge text, and the same text always gives the same vector', () => {
    const head = 'alpha beta gamma '.repeat(2_000);
    expect(hashingEmbedding(head + 'omega '.repeat(10_000))).toEqual(hashingEmbedding(head));
    expect(hashingEmbedding('zeta eta')).toEqual(hashingEmbedding('zeta eta'));
  });
});

describe('onLines', () => {
  it('frames lines however the bytes are chunked, a multi-byte character split across chunks included', () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    onLines(stream, (l) => lines.push(l));
    const bytes = Buffer.from('READY\nSTEP 1 2\nnaïve → ok\n\ntail', 'utf8');
    for (let i = 0; i < bytes.length; i++) stream.write(bytes.subarray(i, i + 1)); // one byte a chunk
    expect(lines).toEqual(['READY', 'STEP 1 2', 'naïve → ok', '']);
    stream.write('\n');
    expect(lines.at(-1)).toBe('tail');
  });
});
