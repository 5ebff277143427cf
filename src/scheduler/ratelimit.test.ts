import { describe, expect, it } from 'vitest';
import { mulberry32 as rng } from '../util/random.js';
import { RateLimiter, RateLimits } from './ratelimit.js';

/** Largest sum over any 60-s window of (t, amount) events sorted by t. */
function peakWindow(events: { t: number; amount: number }[], windowMs = 60_000): number {
  let lo = 0;
  let sum = 0;
  let peak = 0;
  for (let hi = 0; hi < events.length; hi++) {
    sum += (events[hi] as { amount: number }).amount;
    while ((events[lo] as { t: number }).t <= (events[hi] as { t: number }).t - windowMs)
      sum -= (events[lo++] as { amount: number }).amount;
    peak = Math.max(peak, sum);
  }
  return peak;
}

describe('RateLimiter', () => {
  it('admits greedily over a long random run and no 60-s window ever exceeds the limit', () => {
    for (const burstMs of [250, 1_000, 2_000]) {
      const r = rng(burstMs);
      const lim = new RateLimiter('p.tpm', 50_000, { burstMs });
      const events: { t: number; amount: number }[] = [];
      let t = 0;
      const pending: { e: ReturnType<RateLimiter['reserve']>; at: number; actual: number; idx: number }[] =
        [];
      while (t < 2 * 3_600_000) {
        // reconcile calls that have finished: refunds only (actual ≤ estimate)
        while (pending[0] && pending[0].at <= t) {
          const p = pending.shift() as (typeof pending)[0];
          lim.reconcile(p.e, p.actual, t);
          (events[p.idx] as { amount: number }).amount = p.actual;
        }
        const est = 500 + Math.floor(r() * 8_000);
        const at = lim.admitAt(est, t);
        // like the kernel loop: wake when the limiter says so, or when a call finishes (a refund), whichever first
        const wake = Math.min(Math.ceil(at), pending[0]?.at ?? Number.POSITIVE_INFINITY);
        t = Math.max(t + 1 + Math.floor(r() * 50), wake);
        if (!lim.canAdmit(est, t)) continue;
        const e = lim.reserve(est, t);
        events.push({ t, amount: est });
        pending.push({
          e,
          at: t + 1_000 + Math.floor(r() * 20_000),
          actual: Math.floor(est * (0.3 + 0.7 * r())),
          idx: events.length - 1,
        });
        pending.sort((a, b) => a.at - b.at);
      }
      const peak = peakWindow(events);
      expect(peak).toBeLessThanOrEqual(50_000);
      // Refunds are reused. Estimates here run 0–70 % high and are held 1–21 s until the refund, and a call
      // stays in the window for 60 s from its finish: that caps use near 75 % of the limit (better
      // estimates and shorter calls, better use); ≥ 70 % is required.
      const total = events.reduce((a, e) => a + e.amount, 0);
      expect(total / (50_000 * 120)).toBeGreaterThanOrEqual(0.7);
    }
  });

  it('the bucket starts with what the limit allows: no window over the limit, no stall, no echoing burst', () => {
    // Calls finish at once. A bucket holding 10 s of burst on top of a full minute of refill used to admit
    // its burst at 0, stall at ~50 s when the window filled, and burst again at 60 s, once per minute.
    const lim = new RateLimiter('p.rpm', 600, { burstMs: 10_000 });
    const events: { t: number; amount: number }[] = [];
    let longestGap = 0;
    let last = 0;
    for (let t = 0; t < 5 * 60_000; t += 10) {
      while (lim.canAdmit(1, t)) {
        lim.reconcile(lim.reserve(1, t), 1, t);
        events.push({ t, amount: 1 });
        if (events.length > 100) longestGap = Math.max(longestGap, t - last); // past the initial 100
        last = t;
      }
    }
    expect(peakWindow(events)).toBeLessThanOrEqual(600);
    expect(events.filter((e) => e.t === 0).length).toBe(100); // the bucket: 10 s of the limit
    expect(events.filter((e) => e.t === 60_000).length).toBeLessThanOrEqual(1); // no echo
    expect(longestGap).toBeLessThanOrEqual(130); // steady pace: 500 per minute, never a stall
    expect(events.length).toBeGreaterThanOrEqual(100 + 500 * 5 - 1);
  });

  it('a call in flight holds its place in the window until it finishes, and 60 s after', () => {
    const lim = new RateLimiter('p.rpm', 2, { burstMs: 30_000 }); // bucket 1, refill 1/min
    const a = lim.reserve(1, 0);
    lim.reserve(1, 60_000); // still in flight at the end
    expect(lim.admitAt(1, 120_000)).toBe(Number.POSITIVE_INFINITY); // the bucket is full: only a finish makes room
    lim.reconcile(a, 1, 125_000); // reached the provider somewhere in 0–125 s
    expect(lim.admitAt(1, 125_000)).toBe(185_000);
    expect(lim.used(184_999)).toBe(2);
    expect(lim.used(185_000)).toBe(1);
  });

  it('an under-estimate becomes debt that delays later calls', () => {
    const lim = new RateLimiter('p.tpm', 6_000, { burstMs: 30_000 }); // bucket 3,000, refill 50/s
    const e = lim.reserve(1_000, 0);
    lim.reconcile(e, 5_000, 1_000); // 4,000 more than reserved: the bucket is at −1,950
    expect(lim.used(1_000)).toBe(5_000);
    expect(lim.canAdmit(1_000, 1_000)).toBe(false); // the window has room, the bucket does not
    expect(lim.admitAt(1_000, 1_000)).toBeCloseTo(1_000 + (2_950 / 50) * 1_000, 6);
    expect(lim.admitAt(1_500, 1_000)).toBeCloseTo(1_000 + (3_450 / 50) * 1_000, 6);
  });

  it('a request larger than the limit waits for an empty window and runs alone', () => {
    const lim = new RateLimiter('p.tpm', 1_000);
    lim.reserve(10, 0);
    expect(lim.canAdmit(5_000, 1)).toBe(false);
    expect(lim.admitAt(5_000, 1)).toBeGreaterThanOrEqual(60_000);
  });

  it('rejects a non-positive limit naming it', () => {
    expect(() => new RateLimiter('deepseek.rpm', 0)).toThrow(/deepseek\.rpm must be a positive number/);
  });
});

describe('RateLimits', () => {
  it('applies global and per-provider limits together and reconciles requests (retries count)', () => {
    const rl = new RateLimits({ global: { rpm: 10 }, a: { rpm: 3, tpm: 1_000 } }, { burstMs: 30_000 });
    expect(rl.limitersFor('a').map((l) => l.limiter.name)).toEqual(['global.rpm', 'a.rpm', 'a.tpm']);
    expect(rl.limitersFor('b').map((l) => l.limiter.name)).toEqual(['global.rpm']);
    const t1 = rl.reserve('a', 100, 0);
    rl.reconcile(t1, { tokens: 80, requests: 3 }, 10); // two retries inside the LLM layer
    expect(rl.check('a', 100, 10)?.limiter.name).toBe('a.rpm'); // 3 of 3 in the window
    expect(rl.check('b', 0, 10)).toBeNull(); // global: 3 of 10, bucket 5 − 3
    rl.reserve('b', 0, 10);
    rl.reserve('b', 0, 10); // in flight: they count too
    expect(rl.check('b', 0, 10)?.limiter.name).toBe('global.rpm');
    expect(rl.snapshot(10)).toMatchObject({
      'global.rpm': { used: 5, limit: 10 },
      'a.tpm': { used: 80, limit: 1_000 },
    });
  });
});

describe('the kernel never causes a provider 429', () => {
  // The provider is the LLM simulator's own limiter (a sliding 60-s minute per arrival), on a fake clock;
  // the kernel side is the scheduler as config.yaml builds it. Calls reach the provider late by a varying
  // amount — seconds while the machine is loaded at start-up, milliseconds after — and take 800 ms.
  async function run(rpm: number, lateMs: (t: number, r: () => number) => number) {
    const { parseConfigText } = await import('../config/load.js');
    const { schedulerOptionsFromConfig } = await import('./config.js');
    const { Scheduler } = await import('./scheduler.js');
    const { SimEngine, SimHttpError } = await import('../llm/simulated/engine.js');
    const { config } = parseConfigText(
      `scheduler:\n  slots_per_model: 1000\n  rate_limits:\n    p: { rpm: ${rpm} }\n`,
      'config.yaml',
      {},
    );
    const clock = { t: 0 };
    const s = new Scheduler({ ...schedulerOptionsFromConfig(config), clock: () => clock.t });
    const provider = new SimEngine({ rateLimit: { rpm }, now: () => clock.t });
    const req = { model: 'm', messages: [{ role: 'user' as const, content: 'x' }], tools: [], stream: false };
    const r = rng(7);
    const arrivals: { at: number; slot: number }[] = [];
    const done: { at: number; slot: number; requests: number }[] = [];
    let served = 0;
    let servedAfter20s = 0;
    const agents = 400;
    for (let pid = 1; pid <= agents; pid++) s.enqueue({ pid, priority: 50, model: 'm', provider: 'p' });
    const end = 3 * 60_000;
    for (clock.t = 0; clock.t < end; clock.t += 5) {
      for (let g = s.dispatch(); g; g = s.dispatch())
        arrivals.push({ at: clock.t + lateMs(clock.t, r), slot: g.slot });
      arrivals.sort((a, b) => a.at - b.at);
      while (arrivals[0] && arrivals[0].at <= clock.t) {
        const a = arrivals.shift() as { at: number; slot: number };
        let ok = true;
        try {
          provider.decide({ ...req, preset: 'openai' }, { tokens: [1] }, '');
        } catch (err) {
          if (!(err instanceof SimHttpError)) throw err;
          ok = false;
        }
        if (ok) {
          served++;
          if (clock.t >= 20_000) servedAfter20s++;
        }
        done.push({ at: clock.t + 800, slot: a.slot, requests: 1 });
      }
      while (done[0] && done[0].at <= clock.t) {
        const d = done.shift() as { at: number; slot: number };
        const { pid } = s.release(d.slot, { tokensIn: 10, tokensOut: 10 });
        s.enqueue({ pid, priority: 50, model: 'm', provider: 'p' });
      }
    }
    return {
      provider429s: provider.stats.rateLimited,
      served,
      steadyShare: servedAfter20s / ((rpm * (end - 20_000)) / 60_000),
    };
  }

  it('however late calls reach the provider, and the limit is still used ≥ 95 % in the steady state', async () => {
    // Start-up: a call reaches the provider up to 3 s after the kernel admitted it (a loaded event loop
    // sending a burst); later within 50 ms. A window counted from admission lets the late start-up calls
    // still sit in the provider's minute when the kernel thinks they have left it.
    const got = await run(3_000, (t, r) => (t < 10_000 ? r() * 3_000 : r() * 50));
    expect(got.provider429s).toBe(0);
    expect(got.steadyShare).toBeGreaterThanOrEqual(0.95);
    // The reverse: calls fast at start, slow later (a GC pause, a busy database) — same promise.
    const rev = await run(600, (t, r) => (t > 60_000 && t < 70_000 ? 2_000 + r() * 2_000 : r() * 20));
    expect(rev.provider429s).toBe(0);
  });
});
