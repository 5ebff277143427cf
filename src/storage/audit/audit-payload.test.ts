/**
 * auditPayload redacts and bounds in one walk: for random payloads (secret strings and secret-named
 * fields, long strings, deep and wide values, Dates, undefined, non-finite numbers) it stores exactly what
 * bounding redact(payload)'s copy stored before, so entries hash as they did.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../param.js';
import { mulberry32 } from '../../util/random.js';
import { redact } from '../../util/redact.js';
import { storableString } from '../../util/storable.js';
import { auditPayload } from './audit-log.js';

/** auditPayload as it was: redact(), then a bounding walk over the redacted copy. */
function before(payload: unknown): unknown {
  const digest = (text: string) => auditPayload({ s: text }) as { s: string };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return v.length > P.AUDIT_STRING_MAX_CHARS ? digest(v).s : storableString(v);
    if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return v === undefined ? null : v;
    if (v instanceof Date) return v.toISOString();
    if (depth >= P.AUDIT_DEPTH_MAX) return `[aos:nested deeper than ${P.AUDIT_DEPTH_MAX} levels]`;
    if (Array.isArray(v)) {
      const out = v.slice(0, P.AUDIT_ARRAY_MAX).map((x) => walk(x, depth + 1));
      if (v.length > P.AUDIT_ARRAY_MAX) out.push(`[aos:${v.length - P.AUDIT_ARRAY_MAX} more items]`);
      return out;
    }
    const out: Record<string, unknown> = {};
    const keys = Object.keys(v as object);
    for (const k of keys.slice(0, P.AUDIT_ARRAY_MAX)) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[storableString(k)] = walk(x, depth + 1);
    }
    if (keys.length > P.AUDIT_ARRAY_MAX) out['aos:more_keys'] = keys.length - P.AUDIT_ARRAY_MAX;
    return out;
  };
  return JSON.parse(JSON.stringify(walk(redact(payload ?? null), 0)) ?? 'null');
}

function value(r: () => number, depth: number): unknown {
  const x = r();
  if (depth > 30 || x < 0.4) {
    const leaf = [
      null,
      undefined,
      true,
      2.5,
      Number.NaN,
      -0,
      'plain',
      'key sk-ant-abcdefghijklmnopqrstuvwx in text',
      'a\u0000b',
      'y'.repeat(P.AUDIT_STRING_MAX_CHARS + 10),
      new Date(86_400_000),
      '',
    ];
    return leaf[Math.floor(r() * leaf.length)];
  }
  if (x < 0.45) return r() < 0.3 ? Array.from({ length: P.AUDIT_ARRAY_MAX + 3 }, (_, i) => `w${i}`) : [];
  if (x < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
  const names = ['a', 'api_key', 'password', 'token', 'note', '0', 'authorization', 'x'];
  const o: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(r() * 5); i++)
    o[names[Math.floor(r() * names.length)]!] = value(r, depth + 1);
  return o;
}

describe('auditPayload', () => {
  it('stores what redact-then-bound stored, for 2,000 seeded random payloads', () => {
    const r = mulberry32(23);
    for (let i = 0; i < 2_000; i++) {
      const p = { tool: 'calc', args: value(r, 0) };
      expect(JSON.stringify(auditPayload(p))).toBe(JSON.stringify(before(p)));
    }
  });

  it('masks a secret-named field and a secret inside a string', () => {
    const out = auditPayload({ api_key: 'abc123456789', note: 'use sk-ant-abcdefghijklmnopqrstuvwx' });
    expect(JSON.stringify(out)).not.toContain('abc123456789');
    expect(JSON.stringify(out)).not.toContain('sk-ant-abcdefghijklmnopqrstuvwx');
  });
});
