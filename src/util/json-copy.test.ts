import { describe, expect, it } from 'vitest';
import { jsonCopy } from './json-copy.js';
import { mulberry32 } from './random.js';

/** A random value with everything JSON text treats specially: undefined, functions, NaN, -0, Dates, toJSON. */
function randomValue(r: () => number, depth: number): unknown {
  const pick = Math.floor(r() * (depth > 3 ? 8 : 12));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return [0, -0, 1.5, -3, Number.NaN, Number.POSITIVE_INFINITY, 1e300][Math.floor(r() * 7)];
    case 3:
      return ['', 'a', 'é\u0000x', '\ud800', 'line\nbreak', 'x'.repeat(50)][Math.floor(r() * 6)];
    case 4:
      return undefined;
    case 5:
      return () => 1;
    case 6:
      return new Date(Math.floor(r() * 2e12));
    case 7: {
      const wrapped = r() < 0.5;
      return { toJSON: () => ({ wrapped }) };
    }
    case 8:
    case 9: {
      const n = Math.floor(r() * 5);
      return Array.from({ length: n }, () => randomValue(r, depth + 1));
    }
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 5); i > 0; i--) o[`k${Math.floor(r() * 8)}`] = randomValue(r, depth + 1);
      return o;
    }
  }
}

describe('jsonCopy', () => {
  it('gives what a JSON text round trip gives, for 3,000 seeded random values', () => {
    const r = mulberry32(17);
    for (let i = 0; i < 3_000; i++) {
      const v = { root: randomValue(r, 0) };
      const text = JSON.stringify(v);
      const copy = jsonCopy(v);
      expect(JSON.stringify(copy)).toBe(text);
      expect(copy).toStrictEqual(JSON.parse(text));
    }
  });

  it('shares no object with the original: changing the copy leaves it as it was', () => {
    const page = { id: '1.1', toolCalls: [{ id: 'c', name: 'f', arguments: '{}' }], accessCount: 1 };
    const state = { history: [{ pages: [page] }] };
    const copy = jsonCopy(state);
    copy.history[0]!.pages[0]!.accessCount = 9;
    copy.history[0]!.pages[0]!.toolCalls[0]!.name = 'g';
    expect(page.accessCount).toBe(1);
    expect(page.toolCalls[0]!.name).toBe('f');
  });

  it('refuses a bigint as JSON.stringify does', () => {
    expect(() => jsonCopy({ n: 1n })).toThrow(TypeError);
  });
});
