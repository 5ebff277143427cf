/**
 * A/B reports for profile changes applied to a share of new processes: each finished process of the
 * change's test is in the `change` or the `control` arm (drawn at spawn, see ProfileOptimizer.forSpawn);
 * the report compares the arms' success rate (Wilson intervals per arm, Newcombe's interval for the
 * difference) and mean steps, tokens and cost (Welch's difference with a normal 95 % interval). Pure
 * functions over trajectories; the intervals say how sure the difference is, never only the point.
 */
import type { Trajectory } from './trajectory.js';

/** Which arm of each A/B change a process was given at spawn (change id → arm). */
export type Arms = Record<string, 'change' | 'control'>;

const Z95 = 1.959_963_984_540_054;

export interface Interval {
  estimate: number;
  lo: number;
  hi: number;
}

export interface ArmSummary {
  runs: number;
  successes: number;
  successRate: Interval;
  steps: Interval;
  tokens: Interval;
  cost: Interval;
}

export interface AbReport {
  changeId: string;
  runs: number;
  /** Still running (not counted). */
  running: number;
  arms: { change: ArmSummary; control: ArmSummary };
  /** change − control, with 95 % intervals. */
  difference: { successRate: Interval; steps: Interval; tokens: Interval; cost: Interval };
  /** One sentence a person can act on, with the numbers. */
  verdict: string;
}

/** Wilson score interval for k successes in n trials. */
export function wilson(k: number, n: number, z = Z95): Interval {
  if (n === 0) return { estimate: 0, lo: 0, hi: 1 };
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { estimate: p, lo: Math.max(0, c - h), hi: Math.min(1, c + h) };
}

/** Newcombe's hybrid score interval for p1 − p0 (method 10), from the arms' Wilson intervals. */
export function newcombe(a: Interval, b: Interval): Interval {
  const d = a.estimate - b.estimate;
  return {
    estimate: d,
    lo: d - Math.sqrt((a.estimate - a.lo) ** 2 + (b.hi - b.estimate) ** 2),
    hi: d + Math.sqrt((a.hi - a.estimate) ** 2 + (b.estimate - b.lo) ** 2),
  };
}

function meanVar(xs: readonly number[]): { mean: number; variance: number; n: number } {
  const n = xs.length;
  if (n === 0) return { mean: 0, variance: 0, n };
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const variance = n > 1 ? xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, variance, n };
}

function meanInterval(xs: readonly number[]): Interval {
  const m = meanVar(xs);
  const h = m.n > 1 ? Z95 * Math.sqrt(m.variance / m.n) : Number.POSITIVE_INFINITY;
  return { estimate: m.mean, lo: m.mean - h, hi: m.mean + h };
}

/** Welch: difference of means with a normal 95 % interval (unbounded while an arm has < 2 runs). */
export function welch(a: readonly number[], b: readonly number[]): Interval {
  const x = meanVar(a);
  const y = meanVar(b);
  const d = x.mean - y.mean;
  if (x.n < 2 || y.n < 2) return { estimate: d, lo: Number.NEGATIVE_INFINITY, hi: Number.POSITIVE_INFINITY };
  const h = Z95 * Math.sqrt(x.variance / x.n + y.variance / y.n);
  return { estimate: d, lo: d - h, hi: d + h };
}

function summary(ts: readonly Trajectory[]): ArmSummary {
  const successes = ts.filter((t) => t.success).length;
  return {
    runs: ts.length,
    successes,
    successRate: wilson(successes, ts.length),
    steps: meanInterval(ts.map((t) => t.totals.steps)),
    tokens: meanInterval(ts.map((t) => t.totals.tokensIn + t.totals.tokensOut)),
    cost: meanInterval(ts.map((t) => t.totals.cost)),
  };
}

const pp = (x: number) => `${Math.round(x * 1000) / 10} pp`;
const fin = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : x > 0 ? '∞' : '−∞');

export function abReport(
  changeId: string,
  runs: ReadonlyArray<{ arm: Arms[string]; trajectory: Trajectory }>,
): AbReport {
  const done = runs.filter((r) => r.trajectory.outcome !== 'running');
  const change = done.filter((r) => r.arm === 'change').map((r) => r.trajectory);
  const control = done.filter((r) => r.arm === 'control').map((r) => r.trajectory);
  const a = summary(change);
  const b = summary(control);
  const difference = {
    successRate: newcombe(a.successRate, b.successRate),
    steps: welch(
      change.map((t) => t.totals.steps),
      control.map((t) => t.totals.steps),
    ),
    tokens: welch(
      change.map((t) => t.totals.tokensIn + t.totals.tokensOut),
      control.map((t) => t.totals.tokensIn + t.totals.tokensOut),
    ),
    cost: welch(
      change.map((t) => t.totals.cost),
      control.map((t) => t.totals.cost),
    ),
  };
  const s = difference.successRate;
  const st = difference.steps;
  let verdict: string;
  if (a.runs < 2 || b.runs < 2)
    verdict = `not enough runs yet (change ${a.runs}, control ${b.runs}; at least 2 per arm for an interval)`;
  else {
    const succ =
      s.lo > 0
        ? `the change raises success by ${pp(s.estimate)} (95 % CI ${pp(s.lo)} … ${pp(s.hi)})`
        : s.hi < 0
          ? `the change lowers success by ${pp(-s.estimate)} (95 % CI ${pp(s.lo)} … ${pp(s.hi)})`
          : `no clear difference in success (${pp(s.estimate)}, 95 % CI ${pp(s.lo)} … ${pp(s.hi)})`;
    const steps =
      st.hi < 0 || st.lo > 0
        ? `; steps ${st.estimate < 0 ? 'fewer' : 'more'} by ${fin(Math.abs(st.estimate))} (95 % CI ${fin(st.lo)} … ${fin(st.hi)})`
        : `; steps ${fin(st.estimate)} (95 % CI ${fin(st.lo)} … ${fin(st.hi)}, not clear)`;
    verdict = `${succ}${steps}, over ${a.runs} + ${b.runs} runs`;
  }
  return {
    changeId,
    runs: done.length,
    running: runs.length - done.length,
    arms: { change: a, control: b },
    difference,
    verdict,
  };
}
