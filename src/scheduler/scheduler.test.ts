import { describe, expect, it } from 'vitest';
import { KernelError } from '../errors.js';
import { mulberry32 as rng } from '../util/random.js';
import { type Grant, Scheduler, type SchedulerOptions } from './scheduler.js';

function fake(opts: SchedulerOptions = {}) {
  const clock = { t: 0 };
  const s = new Scheduler({ clock: () => clock.t, ...opts });
  return { s, clock };
}

const E = (
  pid: number,
  priority: number,
  extra: Partial<{ weight: number; model: string; provider: string; estTokens: number }> = {},
) => ({
  pid,
  priority,
  model: extra.model ?? 'm',
  provider: extra.provider ?? 'p',
  ...extra,
});

describe('Scheduler: priority order', () => {
  it('dispatches lower priority numbers first, arrival order within a priority', () => {
    const { s } = fake({ slotsPerModel: 1 });
    for (const [pid, prio] of [
      [1, 50],
      [2, 10],
      [3, 90],
      [4, 10],
      [5, 30],
    ] as const)
      s.enqueue(E(pid, prio));
    const order: number[] = [];
    for (let g = s.dispatch(); g; g = s.dispatch()) {
      order.push(g.pid);
      expect(s.dispatch()).toBeNull(); // one slot
      s.release(g.slot, { tokensIn: 10, tokensOut: 0 });
    }
    expect(order).toEqual([2, 4, 5, 1, 3]);
  });

  it('FIFO and round-robin baselines ignore priority', () => {
    for (const policy of ['fifo', 'round_robin'] as const) {
      const { s } = fake({ slotsPerModel: 1, policy });
      s.enqueue(E(1, 90));
      s.enqueue(E(2, 0));
      const g = s.dispatch() as Grant;
      expect(g.pid).toBe(1);
    }
  });
});

describe('Scheduler: aging', () => {
  it('a low-priority process waiting behind a busy urgent one runs once aging lifts it past', () => {
    const aging = 5_000;
    const { s, clock } = fake({ slotsPerModel: 1, agingMs: aging });
    s.enqueue(E(1, 10));
    s.enqueue(E(2, 20));
    let lowRanAt = -1;
    for (let step = 0; step < 200 && lowRanAt < 0; step++) {
      const g = s.dispatch() as Grant;
      if (g.pid === 2) lowRanAt = clock.t;
      clock.t += 1_000; // each call takes a second
      s.release(g.slot, { tokensIn: 100, tokensOut: 10 });
      if (g.pid === 1) s.enqueue(E(1, 10)); // the urgent one always wants more
    }
    // 20 → 10 takes 10 agings (a tie goes to the natively more urgent class); the 11th lifts it to 9.
    expect(lowRanAt).toBeGreaterThanOrEqual(11 * aging);
    expect(lowRanAt).toBeLessThanOrEqual(11 * aging + 1_000);
  });

  it('without contention priority alone decides (aging does not reorder equals arriving later)', () => {
    const { s, clock } = fake({ slotsPerModel: 1, agingMs: 1_000 });
    s.enqueue(E(1, 40));
    clock.t = 3_500;
    s.enqueue(E(2, 38));
    // pid 1 waited 3.5 s → effective 37 < 38
    expect(s.dispatch()?.pid).toBe(1);
  });
});

/** Drives the scheduler like the kernel loop: N slots, each call lasts ∝ its tokens, slices honoured. */
function runLoop(
  s: Scheduler,
  clock: { t: number },
  procs: { pid: number; priority: number; weight: number; group?: string }[],
  steps: number,
  r: () => number,
): Map<number, number> {
  const tokens = new Map<number, number>();
  const slice = new Map<number, { steps: number; tokens: number }>();
  const inflight: { g: Grant; end: number; used: number }[] = [];
  for (const p of procs) {
    s.enqueue({ ...p, model: 'm', provider: 'p' });
    slice.set(p.pid, { steps: 0, tokens: 0 });
  }
  let done = 0;
  while (done < steps) {
    for (let g = s.dispatch(); g; g = s.dispatch()) {
      const used = 200 + Math.floor(r() * 1800);
      inflight.push({ g, end: clock.t + used, used });
    }
    inflight.sort((a, b) => a.end - b.end);
    const c = inflight.shift();
    if (!c) throw new Error('nothing in flight');
    clock.t = c.end;
    s.release(c.g.slot, { tokensIn: c.used - 50, tokensOut: 50 });
    done++;
    tokens.set(c.g.pid, (tokens.get(c.g.pid) ?? 0) + c.used);
    const sl = slice.get(c.g.pid) as { steps: number; tokens: number };
    sl.steps++;
    sl.tokens += c.used;
    const p = procs.find((x) => x.pid === c.g.pid) as (typeof procs)[number];
    if (s.timeSliceExpired(p.pid, sl)) {
      slice.set(p.pid, { steps: 0, tokens: 0 });
      s.enqueue({ ...p, model: 'm', provider: 'p' });
    } else {
      s.enqueue({ ...p, model: 'm', provider: 'p' }, { continuing: true });
    }
  }
  return tokens;
}

describe('Scheduler: weighted fair share', () => {
  for (const slots of [1, 2]) {
    it(`token shares are within 2 % of weights over 10k steps (${slots} slot${slots > 1 ? 's' : ''})`, () => {
      const { s, clock } = fake({ slotsPerModel: slots });
      const procs = [
        { pid: 1, priority: 50, weight: 1 },
        { pid: 2, priority: 50, weight: 2 },
        { pid: 3, priority: 50, weight: 3 },
        { pid: 4, priority: 50, weight: 1 },
        { pid: 5, priority: 50, weight: 2 },
        { pid: 6, priority: 50, weight: 3 },
      ];
      const tokens = runLoop(s, clock, procs, 10_000, rng(42 + slots));
      const total = [...tokens.values()].reduce((a, b) => a + b, 0);
      const wsum = procs.reduce((a, p) => a + p.weight, 0);
      for (const p of procs) {
        const share = (tokens.get(p.pid) ?? 0) / total;
        const expected = p.weight / wsum;
        expect(Math.abs(share - expected) / expected).toBeLessThan(0.02);
      }
    });
  }

  for (const slots of [1, 2]) {
    it(`groups (tenants) share equally however many processes each runs: within 2 % (${slots} slot${slots > 1 ? 's' : ''})`, () => {
      const { s, clock } = fake({ slotsPerModel: slots });
      const procs = [
        ...Array.from({ length: 9 }, (_, i) => ({ pid: i + 1, priority: 50, weight: 1, group: 'flood' })),
        ...Array.from({ length: 3 }, (_, i) => ({ pid: i + 20, priority: 50, weight: 1, group: 'quiet' })),
      ];
      const tokens = runLoop(s, clock, procs, 10_000, rng(7 + slots));
      let quiet = 0;
      let total = 0;
      for (const [pid, t] of tokens) {
        total += t;
        if (pid >= 20) quiet += t;
      }
      expect(Math.abs(quiet / total - 0.5) / 0.5).toBeLessThan(0.02);
    });
  }

  it('groups share equally under a provider rate limit too (time slices on): within 2 %', () => {
    // The limiter is the bottleneck: each call waits at the head for the next token, often behind a
    // continuing record (key −∞) — which once hid the class minimum and lifted everyone to one floor.
    const { s, clock } = fake({ slotsPerModel: 256, rateLimits: { p: { rpm: 1200 } } });
    const procs = [
      ...Array.from({ length: 150 }, (_, i) => ({ pid: i + 1, group: 'flood' })),
      ...Array.from({ length: 50 }, (_, i) => ({ pid: i + 1000, group: 'quiet' })),
    ];
    const enq = (p: (typeof procs)[number], continuing = false) =>
      s.enqueue(
        { pid: p.pid, priority: 50, group: p.group, model: 'm', provider: 'p', estTokens: 100 },
        { continuing },
      );
    for (const p of procs) enq(p);
    const slice = new Map<number, number>();
    const served = { flood: 0, quiet: 0 };
    const inflight: Array<{ g: Grant; end: number; p: (typeof procs)[number] }> = [];
    while (clock.t < 1_800_000) {
      for (let g = s.dispatch(); g; g = s.dispatch()) {
        const grant = g;
        inflight.push({ g: grant, end: clock.t + 5, p: procs.find((x) => x.pid === grant.pid)! });
      }
      inflight.sort((x, y) => x.end - y.end);
      const c = inflight.shift();
      if (!c) {
        clock.t = s.nextWakeAt(clock.t) ?? clock.t + 10;
        continue;
      }
      clock.t = Math.max(clock.t, c.end);
      s.release(c.g.slot, { tokensIn: 50, tokensOut: 50 });
      if (clock.t > 20_000) served[c.p.group as 'flood' | 'quiet']++; // past the start-up burst
      const n = (slice.get(c.p.pid) ?? 0) + 1;
      const expired = s.timeSliceExpired(c.p.pid, { steps: n, tokens: n * 100 });
      slice.set(c.p.pid, expired ? 0 : n);
      enq(c.p, !expired);
    }
    const share = served.quiet / (served.quiet + served.flood);
    expect(Math.abs(share - 0.5) / 0.5).toBeLessThan(0.02);
  });

  it('groups share equally from the first call: a flood of newcomers does not take the start-up round', () => {
    // The gateway bench's case, counted from the start: 150 sessions of one tenant and 50 of another start
    // together against a provider limited to 1200 rpm; each session makes one call at a time (60 ms, then
    // 5 ms until its next call arrives), with time slices on. Per-process vruntime × the group's size
    // served every newcomer's first calls in arrival order: the quiet tenant had 24 % of the first 20 s.
    const { s, clock } = fake({ slotsPerModel: 256, rateLimits: { p: { rpm: 1200 } } });
    const procs = Array.from({ length: 200 }, (_, i) => ({
      pid: i + 1,
      group: i % 4 === 3 ? 'quiet' : 'flood',
    }));
    const arrivals: Array<{ at: number; p: (typeof procs)[number]; continuing: boolean }> = procs.map(
      (p, i) => ({ at: i * 0.5, p, continuing: false }),
    );
    const inflight: Array<{ g: Grant; end: number; p: (typeof procs)[number] }> = [];
    const slice = new Map<number, number>();
    const served = { flood: 0, quiet: 0 };
    while (clock.t < 20_000) {
      for (let g = s.dispatch(); g; g = s.dispatch()) {
        const grant = g;
        inflight.push({ g: grant, end: clock.t + 60, p: procs[grant.pid - 1]! });
      }
      inflight.sort((x, y) => x.end - y.end);
      arrivals.sort((x, y) => x.at - y.at);
      const next = Math.min(
        inflight[0]?.end ?? Infinity,
        arrivals[0]?.at ?? Infinity,
        s.nextWakeAt() ?? Infinity,
      );
      clock.t = Math.max(clock.t, next);
      if ((inflight[0]?.end ?? Infinity) <= clock.t) {
        const c = inflight.shift()!;
        s.release(c.g.slot, { tokensIn: 50, tokensOut: 50 });
        served[c.p.group as 'flood' | 'quiet']++;
        const n = (slice.get(c.p.pid) ?? 0) + 1;
        const expired = s.timeSliceExpired(c.p.pid, { steps: n, tokens: n * 100 });
        slice.set(c.p.pid, expired ? 0 : n);
        arrivals.push({ at: clock.t + 5, p: c.p, continuing: !expired });
      } else if ((arrivals[0]?.at ?? Infinity) <= clock.t) {
        const a = arrivals.shift()!;
        s.enqueue(
          { pid: a.p.pid, priority: 50, group: a.p.group, model: 'm', provider: 'p', estTokens: 1100 },
          { continuing: a.continuing },
        );
      }
    }
    expect(served.quiet + served.flood).toBeGreaterThan(350);
    const share = served.quiet / (served.quiet + served.flood);
    expect(Math.abs(share - 0.5) / 0.5).toBeLessThan(0.02);
  });

  it('groups share the calls of a request-bound provider equally however long their calls are (dominant resource)', () => {
    // The gateway bench, steady state: 150 sessions of one tenant and 50 of another against a provider
    // limited to 1200 rpm (no token limit). A session's conversation grows with every call it is served,
    // so the quiet tenant's sessions — served 3× as often each — send longer calls. Charging tokens gave
    // the quiet tenant a third of the calls of a provider that counts requests; a call costs one request.
    const run = (rateLimits: Record<string, { rpm?: number; tpm?: number }>) => {
      const { s, clock } = fake({ slotsPerModel: 256, rateLimits });
      const procs = Array.from({ length: 200 }, (_, i) => ({
        pid: i + 1,
        group: i % 4 === 3 ? 'quiet' : 'flood',
      }));
      const calls = new Map<number, number>();
      const enq = (p: (typeof procs)[number]) =>
        s.enqueue({ pid: p.pid, priority: 50, group: p.group, model: 'm', provider: 'p', estTokens: 1000 });
      for (const p of procs) enq(p);
      const served = { flood: 0, quiet: 0 };
      const tokens = { flood: 0, quiet: 0 };
      const inflight: Array<{ g: Grant; end: number; p: (typeof procs)[number] }> = [];
      while (clock.t < 600_000) {
        for (let g = s.dispatch(); g; g = s.dispatch()) {
          const grant = g;
          inflight.push({ g: grant, end: clock.t + 50, p: procs[grant.pid - 1]! });
        }
        inflight.sort((x, y) => x.end - y.end);
        const c = inflight.shift();
        if (!c) {
          clock.t = s.nextWakeAt(clock.t) ?? clock.t + 10;
          continue;
        }
        clock.t = Math.max(clock.t, c.end);
        const n = (calls.get(c.p.pid) ?? 0) + 1;
        calls.set(c.p.pid, n);
        const used = 200 + 40 * n; // the conversation so far is sent again
        s.release(c.g.slot, { tokensIn: used - 20, tokensOut: 20 });
        if (clock.t > 60_000) {
          served[c.p.group as 'flood' | 'quiet']++;
          tokens[c.p.group as 'flood' | 'quiet'] += used;
        }
        enq(c.p);
      }
      return {
        calls: served.quiet / (served.quiet + served.flood),
        tokens: tokens.quiet / (tokens.quiet + tokens.flood),
      };
    };
    const rpmOnly = run({ p: { rpm: 1200 } });
    expect(Math.abs(rpmOnly.calls - 0.5) / 0.5).toBeLessThan(0.02);
    // A token limit that binds (20k tpm is reached long before 1,200 calls a minute): tokens are shared.
    const tpmBinds = run({ p: { rpm: 1200, tpm: 20_000 } });
    expect(Math.abs(tpmBinds.tokens - 0.5) / 0.5).toBeLessThan(0.05);
  });

  it('a newcomer starts at the class minimum vruntime and cannot monopolise', () => {
    const { s, clock } = fake({ slotsPerModel: 1 });
    const procs = [
      { pid: 1, priority: 50, weight: 1 },
      { pid: 2, priority: 50, weight: 1 },
    ];
    runLoop(s, clock, procs, 1_000, rng(1));
    const min = Math.min(s.vruntimeOf(1) as number, s.vruntimeOf(2) as number);
    s.enqueue(E(3, 50));
    expect(s.vruntimeOf(3)).toBeGreaterThan(0.9 * min);
  });
});

describe('Scheduler: time slices', () => {
  it('a process yields after time_slice_steps when a peer of equal priority waits', () => {
    const { s } = fake({ slotsPerModel: 1, timeSliceSteps: 4, timeSliceTokens: 1e9 });
    s.enqueue(E(1, 50));
    s.enqueue(E(2, 50));
    const order: number[] = [];
    const slice = new Map([
      [1, 0],
      [2, 0],
    ]);
    for (let i = 0; i < 16; i++) {
      const g = s.dispatch() as Grant;
      order.push(g.pid);
      s.release(g.slot, { tokensIn: 100, tokensOut: 0 });
      const n = (slice.get(g.pid) ?? 0) + 1;
      const expired = s.timeSliceExpired(g.pid, { steps: n, tokens: 0 });
      slice.set(g.pid, expired ? 0 : n);
      s.enqueue(E(g.pid, 50), { continuing: !expired });
    }
    expect(order).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(s.stats().preemptions).toBe(4);
  });

  it('the token slice counts too; nobody waiting, or only less urgent ones, means no preemption', () => {
    const { s } = fake({ slotsPerModel: 1, timeSliceSteps: 100, timeSliceTokens: 1_000 });
    s.enqueue(E(1, 50));
    const g = s.dispatch() as Grant;
    s.release(g.slot, { tokensIn: 900, tokensOut: 200 });
    expect(s.timeSliceExpired(1, { steps: 1, tokens: 1_100 })).toBe(false); // alone
    s.enqueue(E(2, 60));
    expect(s.timeSliceExpired(1, { steps: 1, tokens: 1_100 })).toBe(false); // only a less urgent one
    s.enqueue(E(3, 50));
    expect(s.timeSliceExpired(1, { steps: 1, tokens: 999 })).toBe(false); // slice not used up
    expect(s.timeSliceExpired(1, { steps: 1, tokens: 1_000 })).toBe(true);
  });

  it('FIFO never preempts; round-robin does', () => {
    for (const [policy, want] of [
      ['fifo', false],
      ['round_robin', true],
    ] as const) {
      const { s } = fake({ slotsPerModel: 1, policy, timeSliceSteps: 1 });
      s.enqueue(E(1, 50));
      const g = s.dispatch() as Grant;
      s.release(g.slot, { tokensIn: 1, tokensOut: 1 });
      s.enqueue(E(2, 50));
      expect(s.timeSliceExpired(1, { steps: 1, tokens: 2 })).toBe(want);
    }
  });
});

describe('Scheduler: slots per model', () => {
  it('never holds more calls per model than its slots, under random load', () => {
    const { s, clock } = fake({ slotsPerModel: 3, slots: { small: 1, big: 5 } });
    const cap: Record<string, number> = { small: 1, big: 5, other: 3 };
    const models = Object.keys(cap);
    const r = rng(3);
    const held: Grant[] = [];
    let pid = 0;
    for (let i = 0; i < 5_000; i++) {
      clock.t += 10;
      if (r() < 0.5)
        s.enqueue(E(++pid, Math.floor(r() * 100), { model: models[Math.floor(r() * 3)] as string }));
      if (r() < 0.5) for (let g = s.dispatch(); g; g = s.dispatch()) held.push(g);
      if (held.length && r() < 0.45) {
        const g = held.splice(Math.floor(r() * held.length), 1)[0] as Grant;
        s.release(g.slot, { tokensIn: 5, tokensOut: 5 });
      }
      const busy: Record<string, number> = {};
      for (const g of held) busy[g.model] = (busy[g.model] ?? 0) + 1;
      for (const m of models) expect(busy[m] ?? 0).toBeLessThanOrEqual(cap[m] as number);
      const st = s.stats();
      for (const m of Object.keys(st.slots)) expect(st.slots[m]?.busy).toBe(busy[m] ?? 0);
    }
    expect(held.length).toBeGreaterThan(0);
  });

  it('a process waiting on a tool is out of the queue and holds no slot', () => {
    const { s } = fake({ slotsPerModel: 1 });
    s.enqueue(E(1, 10));
    s.enqueue(E(2, 50));
    const g = s.dispatch() as Grant;
    s.release(g.slot, { tokensIn: 1, tokensOut: 1 }); // pid 1 now runs a tool: not re-enqueued
    expect(s.stateOf(1)).toBe('idle');
    expect(s.dispatch()?.pid).toBe(2);
  });
});

describe('Scheduler: rate limits', () => {
  it('over a long random run no 60-second window exceeds a provider RPM/TPM or the global limit', () => {
    const { s, clock } = fake({
      slotsPerModel: 8,
      rateLimits: { p: { rpm: 30, tpm: 20_000 }, q: { rpm: 1_000 }, global: { rpm: 45 } },
    });
    const r = rng(11);
    const log: { t: number; provider: string; tokens: number }[] = [];
    const inflight: { g: Grant; end: number; used: number }[] = [];
    let pid = 0;
    for (let i = 0; i < 40; i++) {
      const provider = i % 3 === 0 ? 'q' : 'p';
      s.enqueue(E(++pid, Math.floor(r() * 100), { provider, model: `${provider}-m`, estTokens: 1_500 }));
    }
    const end = 30 * 60_000;
    while (clock.t < end) {
      for (let g = s.dispatch(); g; g = s.dispatch()) {
        const used = 300 + Math.floor(r() * 1_200); // ≤ estimate
        // A finished call stays in the window for 60 s from its finish, so use is capped near
        // limit × 60 s ÷ (60 s + call time): calls of 0.2–2 s here.
        inflight.push({ g, end: clock.t + 200 + Math.floor(r() * 1_800), used });
        log.push({ t: clock.t, provider: g.provider, tokens: used });
      }
      inflight.sort((a, b) => a.end - b.end);
      const wake = s.nextWakeAt();
      const next = Math.min(inflight[0]?.end ?? Number.POSITIVE_INFINITY, wake ?? Number.POSITIVE_INFINITY);
      expect(Number.isFinite(next)).toBe(true);
      expect(next).toBeGreaterThan(clock.t); // never asks to be woken "now" without dispatching
      clock.t = next;
      while (inflight[0] && inflight[0].end <= clock.t) {
        const c = inflight.shift() as { g: Grant; end: number; used: number };
        s.release(c.g.slot, { tokensIn: c.used - 100, tokensOut: 100 });
        s.enqueue(E(c.g.pid, 50, { provider: c.g.provider, model: c.g.model, estTokens: 1_500 }));
      }
    }
    // Every 60-s window ending at an admission is the worst case for windows containing it.
    const check = (
      filter: (e: (typeof log)[0]) => boolean,
      limit: number,
      what: (e: (typeof log)[0]) => number,
    ) => {
      const xs = log.filter(filter);
      let lo = 0;
      let sum = 0;
      let peak = 0;
      for (let hi = 0; hi < xs.length; hi++) {
        sum += what(xs[hi] as (typeof log)[0]);
        while ((xs[lo] as (typeof log)[0]).t <= (xs[hi] as (typeof log)[0]).t - 60_000)
          sum -= what(xs[lo++] as (typeof log)[0]);
        peak = Math.max(peak, sum);
      }
      expect(peak).toBeLessThanOrEqual(limit);
      return { peak, total: xs.reduce((a, e) => a + what(e), 0) };
    };
    const p = check(
      (e) => e.provider === 'p',
      30,
      () => 1,
    );
    check(
      (e) => e.provider === 'p',
      20_000,
      (e) => e.tokens,
    );
    const all = check(
      () => true,
      45,
      () => 1,
    );
    // and the limits are used, not just respected: ≥ 95 % of the global RPM over the run
    expect(all.total).toBeGreaterThanOrEqual(0.95 * 45 * 30);
    expect(p.peak).toBeGreaterThan(0);
    expect(s.stats().quotaDenials.rpm + s.stats().quotaDenials.tpm).toBeGreaterThan(0);
  });

  it('nextWakeAt is the moment the blocked call becomes admissible', () => {
    const { s, clock } = fake({
      slotsPerModel: 10,
      rateLimits: { p: { rpm: 6 } },
      rateLimiter: { burstMs: 10_000 },
    });
    for (let i = 1; i <= 3; i++) s.enqueue(E(i, 50));
    expect(s.dispatch()?.pid).toBe(1); // bucket holds 1 request (6/min × 10 s), refills the other 5/min
    expect(s.dispatch()).toBeNull();
    const wake = s.nextWakeAt() as number;
    expect(wake).toBe(12_000);
    clock.t = wake - 1;
    expect(s.dispatch()).toBeNull();
    clock.t = wake;
    expect(s.dispatch()?.pid).toBe(2);
  });

  it('a more urgent call waiting for a limiter is not overtaken by a less urgent one on the same limiter', () => {
    const { s } = fake({
      slotsPerModel: 1,
      rateLimits: { p: { tpm: 6_000 } },
      rateLimiter: { burstMs: 60_000 },
    });
    s.enqueue(E(1, 50, { model: 'a', estTokens: 5_000 }));
    const g = s.dispatch() as Grant;
    s.release(g.slot, { tokensIn: 5_000, tokensOut: 0 });
    s.enqueue(E(2, 10, { model: 'a', estTokens: 5_000 })); // urgent, does not fit yet
    s.enqueue(E(3, 90, { model: 'b', estTokens: 500 })); // fits, but would delay pid 2
    expect(s.dispatch()).toBeNull();
    s.enqueue(E(4, 90, { model: 'c', provider: 'other' })); // another provider is free to go
    expect(s.dispatch()?.pid).toBe(4);
  });
});

describe('Scheduler: priority inheritance', () => {
  it('a holder runs at its waiter priority, transitively, until the wait ends', () => {
    const { s } = fake({ slotsPerModel: 1 });
    for (const [pid, prio] of [
      [1, 10],
      [2, 50],
      [3, 90],
    ] as const)
      s.enqueue(E(pid, prio));
    s.remove(1);
    s.remove(2); // 1 and 2 now wait
    s.inherit(1, 2); // proc.wait: 1 waits on its child 2
    s.inherit(2, 3); // 2 waits on 3
    expect(s.priorityOf(3)).toEqual({ base: 90, effective: 10 });
    expect(s.priorityOf(2)).toEqual({ base: 50, effective: 10 });
    s.enqueue(E(4, 30));
    expect(s.dispatch()?.pid).toBe(3); // runs at 10, ahead of 4 at 30
    s.enqueue(E(5, 30)); // while 3 holds the slot
    s.uninherit(1);
    expect(s.priorityOf(3)).toEqual({ base: 90, effective: 50 }); // still waited on by 2
    s.uninherit(2, 3);
    expect(s.priorityOf(3)).toEqual({ base: 90, effective: 90 });
  });

  it('a queued holder moves to its inherited class immediately', () => {
    const { s } = fake({ slotsPerModel: 1 });
    s.enqueue(E(1, 10));
    s.remove(1);
    s.enqueue(E(2, 90));
    s.enqueue(E(3, 40));
    s.inherit(1, 2);
    expect(s.dispatch()?.pid).toBe(2);
  });

  it('refuses a wait that would deadlock, and forgets edges of exited processes', () => {
    const { s } = fake();
    s.enqueue(E(1, 10));
    s.enqueue(E(2, 50));
    s.enqueue(E(3, 90));
    s.inherit(1, 2);
    s.inherit(2, 3);
    expect(() => s.inherit(3, 1)).toThrow(/deadlock/);
    expect(() => s.inherit(1.5, 1)).toThrowError(KernelError);
    s.forget(1);
    expect(s.priorityOf(3)?.effective).toBe(50);
    expect(s.priorityOf(1)).toBeUndefined();
  });
});

describe('Scheduler: errors and bookkeeping', () => {
  it('rejects bad input with errors that say what to fix', () => {
    const { s } = fake();
    expect(() => s.enqueue(E(1, 100))).toThrow(/priority must be an integer 0–99/);
    expect(() => s.enqueue({ ...E(1, 5), weight: 0 })).toThrow(/weight/);
    expect(() => s.enqueue({ ...E(1, 5), model: '' })).toThrow(/model/);
    s.enqueue(E(1, 5));
    expect(() => s.enqueue(E(1, 5))).toThrow(/already in the ready queue/);
    const g = s.dispatch() as Grant;
    expect(() => s.enqueue(E(1, 5))).toThrow(/holds an LLM slot/);
    s.release(g.slot, { tokensIn: 1, tokensOut: 1 });
    expect(() => s.release(g.slot, { tokensIn: 1, tokensOut: 1 })).toThrow(/released twice/);
    expect(() => new Scheduler({ slotsPerModel: 0 })).toThrow(/slotsPerModel/);
    expect(() => new Scheduler({ policy: 'lottery' as 'fair' })).toThrow(/fair, fifo or round_robin/);
  });

  it('reports queue length, slots, dispatch samples', () => {
    const samples: number[] = [];
    const { s, clock } = fake({ slotsPerModel: 2, hooks: { onDispatch: (d) => samples.push(d.waitedMs) } });
    s.enqueue(E(1, 5));
    s.enqueue(E(2, 5, { model: 'x' }));
    expect(s.runQueueLength).toBe(2);
    clock.t = 250;
    s.dispatch();
    expect(samples).toEqual([250]);
    const st = s.stats();
    expect(st.runQueue).toBe(1);
    expect(st.slots.m).toEqual({ busy: 1, total: 2 });
    expect(st.runQueueByModel.x).toBe(1);
    expect(s.remove(2)).toBe(true);
    expect(s.remove(2)).toBe(false);
    expect(s.runQueueLength).toBe(0);
  });
});

describe('Scheduler: renice', () => {
  it('setPriority moves a queued process to its new class at once', () => {
    const { s } = fake({ slotsPerModel: 1 });
    s.enqueue(E(1, 50));
    s.enqueue(E(2, 60));
    s.setPriority(2, 5);
    expect(s.priorityOf(2)).toEqual({ base: 5, effective: 5 });
    expect(s.dispatch()?.pid).toBe(2);
    expect(() => s.setPriority(2, -1)).toThrow(/priority must be/);
    expect(() => s.setPriority(99, 1)).toThrow(/not known to the scheduler/);
  });
});

describe('Scheduler: restart and wake-ups', () => {
  it('processes restored with their vruntime lift the floor: a newcomer cannot monopolise after a reboot', () => {
    const { s } = fake({ slotsPerModel: 1 });
    s.enqueue({ ...E(1, 50), vruntime: 50_000 });
    s.enqueue({ ...E(2, 50), vruntime: 70_000 });
    s.enqueue(E(3, 50));
    expect(s.vruntimeOf(3)).toBe(50_000);
  });

  it('wakes at the aging step that lets a held-back call overtake one stuck on the same limiter', () => {
    const { s, clock } = fake({
      slotsPerModel: 1,
      agingMs: 1_000,
      rateLimits: { p: { tpm: 6_000 } },
      rateLimiter: { burstMs: 30_000 }, // bucket 3,000, refill 3,000/min
    });
    s.enqueue(E(9, 50, { model: 'c', estTokens: 5_000 }));
    s.release((s.dispatch() as Grant).slot, { tokensIn: 5_000, tokensOut: 0 }); // window: 5,000 of 6,000 until 60 s
    clock.t = 52_000; // the bucket is back above 500
    s.enqueue(E(2, 13, { model: 'b', estTokens: 500 })); // small, fits, waits since 52 s
    clock.t = 55_500;
    s.enqueue(E(1, 10, { model: 'a', estTokens: 5_000 })); // more urgent for now, cannot fit before 60 s
    expect(s.dispatch()).toBeNull(); // class 13 aged to 10 ties with 10: the native 10 goes first and is stuck
    expect(s.nextWakeAt()).toBe(56_000); // then class 13 reaches 9
    clock.t = 56_000;
    expect(s.dispatch()?.pid).toBe(2);
  });
});

describe('Scheduler: inheritance before first enqueue', () => {
  it('a wait on a child that has not asked for a slot yet boosts it when it does', () => {
    const { s } = fake({ slotsPerModel: 1 });
    s.inherit(1, 2); // neither known yet: parent 1 waits on its new child 2
    s.enqueue(E(1, 10));
    s.remove(1); // the parent is blocked in proc.wait
    s.enqueue(E(3, 40));
    s.enqueue(E(2, 80)); // the child's first call
    expect(s.priorityOf(2)).toEqual({ base: 80, effective: 10 });
    expect(s.dispatch()?.pid).toBe(2);
  });

  it('a waiter enqueued after the edge was made lifts an already queued holder', () => {
    const { s } = fake({ slotsPerModel: 1 });
    s.enqueue(E(2, 80));
    s.enqueue(E(3, 40));
    s.inherit(1, 2); // waiter 1 unknown: no lift yet
    expect(s.priorityOf(2)?.effective).toBe(80);
    s.enqueue(E(1, 10)); // now known (e.g. restored after a restart)
    expect(s.priorityOf(2)?.effective).toBe(10);
  });
});
