import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkTarget, collect, defineBench, quantile, runBenches, stats, summarise } from './harness.js';
import { findSuites } from './index.js';

describe('bench harness', () => {
  it('computes nearest-rank median and p99', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100 shuffled order
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.99)).toBe(99);
    expect(stats([3, 1, 2])).toMatchObject({ n: 3, median: 2, p99: 3, min: 1, max: 3, mean: 2 });
    expect(Number.isNaN(stats([]).median)).toBe(true);
  });

  it('checks targets and computes baseline ÷ ours ratios', () => {
    const s = stats([1, 2, 3, 4, 10]);
    expect(checkTarget('p99 < 5 ms', s)).toEqual({ target: 'p99 < 5 ms', met: false });
    expect(checkTarget('median <= 3', s)).toEqual({ target: 'median <= 3', met: true });
    expect(checkTarget('fast enough', s)).toEqual({ target: 'fast enough', met: null });
    const r = summarise({
      name: 'x',
      unit: 'ms',
      ours: { label: 'o', samples: [1, 1, 1] },
      baseline: { label: 'b', samples: [4, 4, 4] },
      target: { ours: 'p99 < 2 ms' },
    });
    expect(r.ratio).toEqual({ median: 4, p99: 4 });
    expect(r.target?.ours?.met).toBe(true);
  });

  it('collect times each call and honours warmup and budget', async () => {
    const calls: number[] = [];
    const xs = await collect(4, (i) => calls.push(i), { warmup: 2 });
    expect(calls).toEqual([-1, -2, 0, 1, 2, 3]);
    expect(xs.length).toBe(4);
    expect(xs.every((x) => x >= 0)).toBe(true);
    const early = await collect(1000, () => new Promise((r) => setTimeout(r, 2)), {
      warmup: 0,
      budgetMs: 1,
      minN: 3,
    });
    expect(early.length).toBe(3);
  });

  it('runBenches writes <suite>.quick.json with machine info and prints a table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-harness-'));
    const lines: string[] = [];
    try {
      const suite = defineBench({
        name: 'demo',
        subsystem: 'test',
        run: async (ctx) => {
          ctx.record('summary', [{ configuration: 'x', ratio: 1.5 }]);
          return [{ name: 'noop', unit: 'ms', ours: { label: 'o', samples: [1, 2, 3] } }];
        },
      });
      await runBenches([suite], { quick: true, outDir: dir, out: (l) => lines.push(l) });
      const json = JSON.parse(readFileSync(join(dir, 'demo.quick.json'), 'utf8'));
      expect(json).toMatchObject({
        suite: 'demo',
        quick: true,
        cases: [{ name: 'noop', ours: { median: 2, n: 3 } }],
        extra: { summary: [{ configuration: 'x', ratio: 1.5 }] },
      });
      expect(json.machine.cores).toBeGreaterThan(0);
      expect(lines.some((l) => l.includes('noop'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Suites that install peers or take minutes run only when named.
    expect(findSuites([]).some((x) => x.name === 'peers')).toBe(false);
    expect(findSuites(['peers']).map((x) => x.name)).toEqual(['peers']);
    expect(() => defineBench({ name: 'Bad Name', subsystem: 'x', run: async () => [] })).toThrow(/lowercase/);
  });
});
