import { describe, expect, it } from 'vitest';
import { KernelError } from '../errors.js';
import { Dispatcher, type SetTimer } from './dispatcher.js';
import { Scheduler } from './scheduler.js';

function setup(opts: ConstructorParameters<typeof Scheduler>[0] = {}) {
  const clock = { t: 0 };
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  const setTimer: SetTimer = (fn, ms) => {
    const t = { at: clock.t + ms, fn, live: true };
    timers.push(t);
    return () => {
      t.live = false;
    };
  };
  const s = new Scheduler({ clock: () => clock.t, ...opts });
  const d = new Dispatcher(s, { setTimer, clock: () => clock.t });
  /** Advances the fake clock to the next live timer and fires it. */
  const tick = () => {
    const next = timers.filter((t) => t.live).sort((a, b) => a.at - b.at)[0];
    if (!next) return false;
    next.live = false;
    clock.t = next.at;
    next.fn();
    return true;
  };
  return { s, d, clock, tick, timers };
}

const E = (pid: number, priority = 50) => ({ pid, priority, model: 'm', provider: 'p' });
const flush = () => new Promise((r) => setImmediate(r));

describe('Dispatcher', () => {
  it('resolves acquire() when a slot frees, most urgent first', async () => {
    const { d } = setup({ slotsPerModel: 1 });
    const got: number[] = [];
    const g1 = await d.acquire(E(1));
    d.acquire(E(2, 60)).then((g) => got.push(g.pid));
    d.acquire(E(3, 10)).then((g) => got.push(g.pid));
    await flush();
    expect(got).toEqual([]);
    d.release(g1, { tokensIn: 10, tokensOut: 1 });
    await flush();
    expect(got).toEqual([3]);
    expect(d.waiting).toBe(1);
  });

  it('sleeps exactly until a rate limit opens', async () => {
    const { d, tick, clock } = setup({
      slotsPerModel: 5,
      rateLimits: { p: { rpm: 6 } },
      rateLimiter: { burstMs: 10_000 },
    });
    const got: number[] = [];
    for (const pid of [1, 2, 3]) d.acquire(E(pid)).then((g) => got.push(g.pid));
    await flush();
    expect(got).toEqual([1]);
    expect(tick()).toBe(true);
    await flush();
    expect(clock.t).toBe(12_000); // 1 request of bucket, 5/min of refill
    expect(got).toEqual([1, 2]);
    tick();
    await flush();
    expect(clock.t).toBe(24_000);
    expect(got).toEqual([1, 2, 3]);
    expect(tick()).toBe(false); // nothing left to wait for: no timer armed
  });

  it('abort and close reject waiters with EABORTED and take them out of the queue', async () => {
    const { d, s } = setup({ slotsPerModel: 1 });
    await d.acquire(E(1));
    const ac = new AbortController();
    const p2 = d.acquire(E(2), { signal: ac.signal });
    const p3 = d.acquire(E(3));
    ac.abort(new Error('killed'));
    await expect(p2).rejects.toThrow(/pid 2 stopped waiting for an LLM slot: killed/);
    expect(s.stateOf(2)).toBe('idle');
    await expect(d.acquire(E(3))).rejects.toThrow(/already waiting/);
    await expect(d.acquire(E(5, 100))).rejects.toThrow(/priority must be an integer 0–99/); // rejects, never throws
    d.close();
    await expect(p3).rejects.toSatisfy((e: unknown) => KernelError.is(e, 'EABORTED'));
    expect(s.runQueueLength).toBe(0);
    await expect(d.acquire(E(4))).rejects.toThrow(/closed/);
  });
});
