/**
 * State deltas against JSON's semantics: for random states and random edits (in place, as a program may
 * make them), the stored base with the delta applied is exactly what storing the new state whole would give.
 */
import { describe, expect, it } from 'vitest';
import { jsonbText } from '../../util/storable.js';
import { applyDelta, type DeltaOp, diffState, storedCopy } from './delta.js';

/** Deterministic PRNG (mulberry32): the same cases every run. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function value(r: () => number, depth: number): unknown {
  const x = r();
  if (depth > 3 || x < 0.35) {
    const leaf = [null, true, 1.5, -3, 'a', 'ü\u0000z', undefined, Number.NaN, new Date(86_400_000)];
    return leaf[Math.floor(r() * leaf.length)];
  }
  if (x < 0.65) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(r() * 4); i++) o[`k${Math.floor(r() * 6)}`] = value(r, depth + 1);
  return o;
}

/** One random in-place edit somewhere in the tree: set, append, remove, shrink. */
function edit(r: () => number, root: Record<string, unknown>): void {
  let cur: unknown = root;
  for (let d = 0; d < 4; d++) {
    const kids = Array.isArray(cur) ? cur : cur && typeof cur === 'object' ? Object.values(cur) : [];
    const objs = kids.filter((k) => k && typeof k === 'object' && !(k instanceof Date));
    if (!objs.length || r() < 0.3) break;
    cur = objs[Math.floor(r() * objs.length)];
  }
  const x = r();
  if (Array.isArray(cur)) {
    if (x < 0.5) cur.push(value(r, 2));
    else if (x < 0.7) cur.pop();
    else if (cur.length) cur[Math.floor(r() * cur.length)] = value(r, 2);
  } else if (cur && typeof cur === 'object') {
    const o = cur as Record<string, unknown>;
    const keys = Object.keys(o);
    if (x < 0.3 && keys.length) delete o[keys[Math.floor(r() * keys.length)]!];
    else o[`k${Math.floor(r() * 8)}`] = value(r, 2);
  }
}

describe('program state deltas', () => {
  it('base + delta equals the new state stored whole, over 2000 random edits in place', () => {
    const r = rng(17);
    for (let c = 0; c < 200; c++) {
      const state = { root: value(r, 0), list: [value(r, 1)], n: c } as Record<string, unknown>;
      let base = storedCopy(state);
      for (let e = 0; e < 10; e++) {
        edit(r, state);
        const ops = diffState(base, state);
        expect(ops).not.toBeNull();
        // stored as JSON text, read back parsed: exactly the path a step commit and a reader take
        const back = JSON.parse(jsonbText(ops)) as DeltaOp[];
        base = applyDelta(base, back);
        expect(base).toEqual(storedCopy(state));
      }
    }
  });

  it('an appended page is an append, not the history again', () => {
    const before = { ctx: { history: [{ id: 1, text: 'x'.repeat(1000) }], step: 1 } };
    const after = { ctx: { history: [...before.ctx.history, { id: 2, text: 'y' }], step: 2 } };
    const ops = diffState(storedCopy(before), after)!;
    expect(ops).toEqual([
      { p: ['ctx', 'history'], a: [{ id: 2, text: 'y' }] },
      { p: ['ctx', 'step'], s: 2 },
    ]);
    expect(jsonbText(ops).length).toBeLessThan(100);
  });

  it('a state of another kind at the root is written whole', () => {
    expect(diffState({ a: 1 }, [1])).toBeNull();
    expect(diffState({ a: 1 }, null)).toBeNull();
    expect(diffState({ a: 1 }, { a: 1 })).toEqual([]);
  });

  it('a delta that does not fit the state is refused with EINTEGRITY', () => {
    expect(() => applyDelta({ a: 1 }, [{ p: ['b', 'c'], s: 1 }])).toThrow(
      expect.objectContaining({ code: 'EINTEGRITY' }),
    );
  });
});
