import { describe, expect, it } from 'vitest';
import { BreakpointCache, PrefixCache } from './prefix-cache.js';

const seq = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => i + offset);
/** `n` tokens equal to `base` for the first `common`, then different. */
const diverge = (base: number[], common: number, n: number) => [
  ...base.slice(0, common),
  ...seq(n - common, 1_000_000),
];

describe('PrefixCache (OpenAI rules: ≥ 1024 tokens, 128-token steps)', () => {
  it('reports nothing for a first request', () => {
    expect(new PrefixCache().lookupAndStore(seq(2000))).toBe(0);
  });

  it('rounds a 1500-token common prefix down to 1408 (11 × 128)', () => {
    const c = new PrefixCache();
    const a = seq(2000);
    c.lookupAndStore(a);
    expect(c.lookupAndStore(diverge(a, 1500, 1800))).toBe(1408);
  });

  it('reports 0 when the common prefix is under 1024 tokens (1000 → 0), and exactly 1024 at 1024..1151', () => {
    const c = new PrefixCache();
    const a = seq(3000);
    c.lookupAndStore(a);
    expect(c.lookupAndStore(diverge(a, 1000, 2000))).toBe(0);
    expect(c.lookupAndStore(diverge(a, 1024, 2000))).toBe(1024);
    expect(c.lookupAndStore(diverge(a, 1151, 2000))).toBe(1024);
    expect(c.lookupAndStore(diverge(a, 1152, 2000))).toBe(1152);
  });

  it('an identical 2000-token prompt hits 1920 (the partial last block is never cached)', () => {
    const c = new PrefixCache();
    c.lookupAndStore(seq(2000));
    expect(c.lookupAndStore(seq(2000))).toBe(1920);
  });

  it('matches against ANY earlier request, not only the previous one', () => {
    const c = new PrefixCache();
    const a = seq(3000);
    c.lookupAndStore(a); // A
    c.lookupAndStore(seq(3000, 50_000)); // B, unrelated
    expect(c.lookupAndStore(diverge(a, 2600, 2900))).toBe(2560); // 20 × 128, from A
  });

  it('keeps prompt_cache_key pools apart', () => {
    const c = new PrefixCache();
    c.lookupAndStore(seq(2000), 'pid-1');
    expect(c.lookupAndStore(seq(2000), 'pid-2')).toBe(0);
    expect(c.lookupAndStore(seq(2000), 'pid-1')).toBe(1920);
  });

  it('a growing append-only conversation hits everything but the tail', () => {
    const c = new PrefixCache();
    const base = seq(5000);
    expect(c.lookupAndStore(base.slice(0, 1300))).toBe(0);
    expect(c.lookupAndStore(base.slice(0, 2100))).toBe(1280); // previous 1300 → 10 full blocks
    expect(c.lookupAndStore(base.slice(0, 2900))).toBe(2048); // previous 2100 → 16 full blocks
  });

  it('evicts least-recently-used blocks beyond its bound', () => {
    const c = new PrefixCache({ maxEntries: 10 });
    c.lookupAndStore(seq(1280)); // 10 blocks
    c.lookupAndStore(seq(1280, 9_000)); // 10 other blocks evict all of the first
    expect(c.lookupAndStore(seq(1280))).toBe(0);
  });
});

describe('BreakpointCache (Anthropic rules)', () => {
  const block = (n: number, off: number, breakpoint = false) => ({ tokens: seq(n, off), breakpoint });

  it('writes at a breakpoint, reads it back, and leaves the rest as plain input', () => {
    const c = new BreakpointCache();
    const sys = block(1500, 0, true);
    const r1 = c.lookupAndStore([sys, block(50, 10_000)]);
    expect(r1).toEqual({ read: 0, write: 1500, uncached: 50 });
    const r2 = c.lookupAndStore([sys, block(80, 20_000)]);
    expect(r2).toEqual({ read: 1500, write: 0, uncached: 80 });
  });

  it('does not cache a prefix shorter than the 1024-token minimum', () => {
    const c = new BreakpointCache();
    expect(c.lookupAndStore([block(500, 0, true), block(10, 9_000)])).toEqual({
      read: 0,
      write: 0,
      uncached: 510,
    });
    expect(c.lookupAndStore([block(500, 0, true), block(10, 9_000)])).toEqual({
      read: 0,
      write: 0,
      uncached: 510,
    });
  });

  it('a rolling breakpoint reads the previous one and writes only the new span', () => {
    const c = new BreakpointCache();
    const sys = block(1200, 0, true);
    const t1 = block(300, 5_000, true);
    expect(c.lookupAndStore([sys, t1])).toEqual({ read: 0, write: 1500, uncached: 0 });
    const t1plain = block(300, 5_000, false);
    const t2 = block(400, 7_000, true);
    expect(c.lookupAndStore([sys, t1plain, t2])).toEqual({ read: 1500, write: 400, uncached: 0 });
  });

  it('without breakpoints nothing is read or written', () => {
    const c = new BreakpointCache();
    c.lookupAndStore([block(2000, 0)]);
    expect(c.lookupAndStore([block(2000, 0)])).toEqual({ read: 0, write: 0, uncached: 2000 });
  });
});
