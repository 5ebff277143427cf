import { describe, expect, it } from 'vitest';
import { abReport, newcombe, welch, wilson } from './ab.js';
import type { Trajectory } from './trajectory.js';

const close = (x: number, y: number, d = 1e-3) => expect(Math.abs(x - y)).toBeLessThan(d);

function run(success: boolean, steps: number, outcome: Trajectory['outcome'] = success ? 'done' : 'failed') {
  return {
    outcome,
    success,
    totals: { steps, tokensIn: steps * 100, tokensCached: 0, tokensOut: steps * 10, cost: 0, llmMs: 0 },
  } as Trajectory;
}

describe('A/B statistics', () => {
  it('Wilson and Newcombe intervals match the published worked examples', () => {
    // Newcombe (1998), Statistics in Medicine 17:873, table II: 56/70 vs 48/80
    const a = wilson(56, 70);
    const b = wilson(48, 80);
    close(a.lo, 0.6918);
    close(a.hi, 0.877);
    close(b.lo, 0.4905);
    close(b.hi, 0.7);
    const d = newcombe(a, b);
    close(d.estimate, 0.2, 1e-9);
    close(d.lo, 0.0524);
    close(d.hi, 0.3339);
    expect(wilson(0, 0)).toEqual({ estimate: 0, lo: 0, hi: 1 });
  });

  it('Welch: a clear difference of means has an interval excluding 0; a single run has no interval', () => {
    const w = welch([2, 2, 3, 2, 2, 3], [5, 6, 5, 6, 5, 6]);
    expect(w.estimate).toBeCloseTo(-3.1667, 3);
    expect(w.hi).toBeLessThan(0);
    expect(welch([2], [5, 6]).lo).toBe(Number.NEGATIVE_INFINITY);
  });

  it('reports arms, ignores running processes and says when there are too few runs', () => {
    const few = abReport('c1', [
      { arm: 'change', trajectory: run(true, 2) },
      { arm: 'control', trajectory: run(false, 9) },
    ]);
    expect(few.verdict).toMatch(/not enough runs/);
    const runs = [
      ...Array.from({ length: 12 }, () => ({ arm: 'change' as const, trajectory: run(true, 2) })),
      ...Array.from({ length: 12 }, (_, i) => ({
        arm: 'control' as const,
        trajectory: run(i % 3 === 0, 4 + (i % 2)),
      })),
      { arm: 'change' as const, trajectory: run(false, 1, 'running') },
    ];
    const r = abReport('c1', runs);
    expect(r.runs).toBe(24);
    expect(r.running).toBe(1);
    expect(r.arms.change.successRate.estimate).toBe(1);
    close(r.arms.control.successRate.estimate, 4 / 12);
    expect(r.difference.successRate.lo).toBeGreaterThan(0);
    expect(r.difference.steps.hi).toBeLessThan(0);
    expect(r.verdict).toMatch(/raises success by 66\.7 pp .*steps fewer by 2\.5/);
  });
});
