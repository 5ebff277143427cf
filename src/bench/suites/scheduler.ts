/**
 * Bench suite `scheduler`: the decision latency of `Scheduler.dispatch()` at 100 / 1k / 10k ready processes,
 * FairPolicy against NaiveSortPolicy (the same ordering rules — a test checks identical dispatch order — kept
 * in an array sorted in full on every decision, the seeds' prototype approach); and the fairness of token
 * shares over 10k steps for three weight classes (fair policy against the round-robin baseline).
 * Everything runs in-process on a fake clock; only the decision itself is timed.
 */
import { performance } from 'node:perf_hooks';
import { AGING_MS } from '../../param.js';
import { FairPolicy } from '../../scheduler/policies/fair-policy.js';
import { NaiveSortPolicy } from '../../scheduler/policies/naive-sort-policy.js';
import { type Grant, Scheduler } from '../../scheduler/scheduler.js';
import { mulberry32 as rng } from '../../util/random.js';
import { type BenchCase, defineBench } from '../harness.js';

const MODELS = ['m0', 'm1', 'm2', 'm3'];
const SLOTS = 4;

export interface LatencySamples {
  impl: 'ours' | 'naive-sort';
  ready: number;
  samplesMs: number[];
}

/**
 * Steady state with `ready` processes waiting: each iteration dispatches one call, releases the oldest in
 * flight and re-queues it, so the ready count stays constant. Only dispatch() is timed.
 */
export function dispatchLatency(
  impl: 'ours' | 'naive-sort',
  ready: number,
  iterations: number,
  seed = 1,
): LatencySamples {
  const r = rng(seed);
  let now = 0;
  const total = ready + MODELS.length * SLOTS;
  const samplesMs: number[] = [];
  const policy =
    impl === 'ours' ? new FairPolicy({ agingMs: AGING_MS }) : new NaiveSortPolicy({ agingMs: AGING_MS });
  const s = new Scheduler({ clock: () => now, slotsPerModel: SLOTS, policy });
  const spec = (pid: number) => ({
    pid,
    priority: 40 + (pid % 8),
    weight: 1 + (pid % 3),
    model: MODELS[pid % MODELS.length] as string,
    provider: 'p',
  });
  for (let pid = 1; pid <= total; pid++) s.enqueue(spec(pid));
  const inflight: Grant[] = [];
  for (let g = s.dispatch(); g; g = s.dispatch()) inflight.push(g);
  for (let i = 0; i < iterations; i++) {
    now += 5;
    const done = inflight.shift() as Grant;
    s.release(done.slot, { tokensIn: 500 + Math.floor(r() * 1500), tokensOut: 100 });
    s.enqueue(spec(done.pid));
    const t0 = performance.now();
    const g = s.dispatch();
    samplesMs.push(performance.now() - t0);
    if (g) inflight.push(g);
  }
  return { impl, ready, samplesMs };
}

export interface FairnessResult {
  policy: 'fair' | 'round_robin';
  steps: number;
  weights: number[];
  /** Token share per weight class divided by its weight share. */
  ratio: number[];
  /** max |share − expected| / expected over the classes. */
  maxDeviation: number;
}

/** Three weight classes (1, 2, 4), two processes each, one slot, 10k steps of random size, slices honoured. */
export function fairness(policy: 'fair' | 'round_robin', steps = 10_000, seed = 7): FairnessResult {
  const r = rng(seed);
  let now = 0;
  const weights = [1, 2, 4];
  const s = new Scheduler({ clock: () => now, slotsPerModel: 1, policy });
  const procs = [0, 1, 2, 3, 4, 5].map((i) => ({
    pid: i + 1,
    priority: 50,
    weight: weights[i % 3] as number,
    model: 'm',
    provider: 'p',
  }));
  const slice = new Map<number, { steps: number; tokens: number }>();
  for (const p of procs) {
    s.enqueue(p);
    slice.set(p.pid, { steps: 0, tokens: 0 });
  }
  const byClass = [0, 0, 0];
  for (let i = 0; i < steps; i++) {
    const g = s.dispatch() as Grant;
    const used = 200 + Math.floor(r() * 3_800);
    now += used;
    s.release(g.slot, { tokensIn: used - 100, tokensOut: 100 });
    const cls = (g.pid - 1) % 3;
    byClass[cls] = (byClass[cls] ?? 0) + used;
    const sl = slice.get(g.pid) as { steps: number; tokens: number };
    sl.steps++;
    sl.tokens += used;
    const p = procs[g.pid - 1] as (typeof procs)[0];
    const expired = s.timeSliceExpired(g.pid, sl);
    if (expired) slice.set(g.pid, { steps: 0, tokens: 0 });
    s.enqueue(p, { continuing: !expired });
  }
  const total = byClass.reduce((a, b) => a + b, 0);
  const wsum = weights.reduce((a, b) => a + b, 0);
  const ratio = byClass.map((t, i) => t / total / ((weights[i] as number) / wsum));
  return { policy, steps, weights, ratio, maxDeviation: Math.max(...ratio.map((x) => Math.abs(x - 1))) };
}

export const schedulerBench = defineBench({
  name: 'scheduler',
  subsystem: 'scheduler',
  async run(ctx) {
    const cases: BenchCase[] = [];
    dispatchLatency('ours', 1_000, 2_000, 99); // warm the JIT before anything is timed
    dispatchLatency('naive-sort', 1_000, 200, 99);
    for (const ready of [100, 1_000, 10_000]) {
      const oursN = ctx.quick ? 2_000 : 20_000;
      const naiveN = ctx.quick ? 100 : ready >= 10_000 ? 500 : 2_000;
      ctx.log(`dispatch latency at ${ready} ready: ${oursN} decisions (ours), ${naiveN} (naive sort)`);
      const ours = dispatchLatency('ours', ready, oursN);
      const naive = dispatchLatency('naive-sort', ready, naiveN);
      cases.push({
        name: `dispatch latency, ${ready} ready`,
        unit: 'ms',
        ours: { label: 'Scheduler (fair, indexed heaps)', samples: ours.samplesMs },
        baseline: { label: 'NaiveSortPolicy: same rules, full sort per decision', samples: naive.samplesMs },
        target: { seed: 'p99 < 10 ms', ours: 'p99 < 1 ms' },
        notes: `${MODELS.length} models × ${SLOTS} slots, priorities 40–47, weights 1–3; steady state (one release + re-queue per decision); only dispatch() timed`,
      });
    }
    const seeds = ctx.quick ? [1, 2] : [1, 2, 3, 4, 5];
    ctx.log(`fairness: ${seeds.length} runs × 10k steps, weights 1/2/4`);
    const fair = seeds.map((seed) => fairness('fair', 10_000, seed).maxDeviation * 100);
    const rr = seeds.map((seed) => fairness('round_robin', 10_000, seed).maxDeviation * 100);
    cases.push({
      name: 'fairness deviation, 3 weight classes, 10k steps',
      unit: '%',
      ours: { label: 'fair policy (vruntime in tokens)', samples: fair },
      baseline: { label: 'round-robin', samples: rr },
      target: { seed: 'max <= 5 %', ours: 'max <= 2 %' },
      notes:
        'max |token share / weight share − 1| over the classes, one sample per seed; 1 slot, slices honoured, call sizes 200–4,000 tokens',
    });
    return cases;
  },
});
