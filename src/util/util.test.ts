import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from './canonical.js';
import { REDACTED, redact, redactString } from './redact.js';

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
    expect(out.admin_token).toBe(REDACTED);
    expect(out.usage).toEqual({ tokensIn: 10, tokens: 5, maxTokens: 7 });
    expect(out.api_key).toBe(REDACTED);
    expect(out.nested.Authorization).toBe(REDACTED);
    expect(out.text).toBe(`use ${REDACTED} and ${REDACTED} please`);
    expect(out.url).toBe(`postgres://user:${REDACTED}@db:5432/x`);
    expect(out.schema).toBe('aos_test_schema_name');
    expect(out.count).toBe(3);
    expect(redactString('no secrets here')).toBe('no secrets here');
  });
});
