/**
 * Bench suite `context`: the context manager on a seeded synthetic long-run agent workload
 * (src/context/workload.ts: lognormal observation sizes with occasional huge outputs, parallel calls,
 * recalls), 50 and 150 steps, 128k and 32k windows. For each configuration, our policy (scored victims,
 * chunked hysteresis, append-only layout) against the seeds' policy (re-sort by recency + importance +
 * similarity every turn) and plain append-only (truncate oldest): prefix-cache hit ratio under OpenAI rules,
 * effective input cost relative to no caching, mean utilisation and fault rate; samples are seeds.
 * The same comparison on traces recorded from kernel runs through the simulator (src/bench/traces.ts: a
 * ReAct agent reading, listing and searching a generated workspace with real tools; config.context.replacer
 * set per run), where the kernel's computed hit ratio is also set against the cached tokens the simulator
 * reported. Then page-fault latency (recall by id through SqlPageStore) on PGlite and, when reachable,
 * PostgreSQL.
 */
import { performance } from 'node:perf_hooks';
import { ContextManager } from '../../context/manager.js';
import { AppendOnlyReplacer, type Replacer, SeedsReplacer } from '../../context/replacer.js';
import { SqlPageStore } from '../../context/sql-page-store.js';
import { MemoryPageStore } from '../../context/store.js';
import { mulberry32, runWorkload, type WorkloadResult } from '../../context/workload.js';
import type { StorageDriver } from '../../storage/driver.js';
import { openStorage } from '../../storage/open.js';
import { type BenchCase, type BenchContext, defineBench } from '../harness.js';
import { type ReplacerName, recordTrace, type TraceResult } from '../traces.js';

const CONFIGS = [
  { steps: 50, window: 128_000 },
  { steps: 50, window: 32_000 },
  { steps: 150, window: 128_000 },
  { steps: 150, window: 32_000 },
];

type Policy = 'ours' | 'seeds' | 'append-only';
const make: Record<Policy, () => Replacer | undefined> = {
  ours: () => undefined,
  seeds: () => new SeedsReplacer(),
  'append-only': () => new AppendOnlyReplacer(),
};

async function grid(ctx: BenchContext, seeds: number[]): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  for (const c of CONFIGS) {
    const tag = `${c.steps} steps, ${c.window / 1000}k window`;
    const res: Record<Policy, WorkloadResult[]> = { ours: [], seeds: [], 'append-only': [] };
    for (const p of Object.keys(make) as Policy[]) {
      for (const seed of seeds) {
        const replacer = make[p]();
        res[p].push(
          await runWorkload({
            steps: c.steps,
            contextWindow: c.window,
            seed,
            ...(replacer ? { replacer } : {}),
          }),
        );
      }
    }
    const col = (p: Policy, f: (r: WorkloadResult) => number) => ({ label: p, samples: res[p].map(f) });
    const pct = (x: number) => Math.round(x * 1000) / 10;
    const overflow = (p: Policy) => res[p].filter((r) => r.overflow).length;
    const ceiling = pct(res.ours.reduce((s, r) => s + r.ceilingHitRatio, 0) / res.ours.length);
    ctx.log(
      `${tag}: hit ours ${col('ours', (r) => pct(r.hitRatio)).samples.join('/')}%, seeds ${col('seeds', (r) => pct(r.hitRatio)).samples.join('/')}%, append-only ${col('append-only', (r) => pct(r.hitRatio)).samples.join('/')}% (ceiling ${ceiling}%)`,
    );
    const note = `overflows: ours ${overflow('ours')}, seeds ${overflow('seeds')}, append-only ${overflow('append-only')} of ${seeds.length} runs; ceiling (new tokens per step always miss) ${ceiling}%`;
    cases.push(
      {
        name: `prefix-cache hit % (OpenAI rules), ${tag} — vs seeds`,
        unit: '%',
        ours: col('ours', (r) => pct(r.hitRatio)),
        baseline: col('seeds', (r) => pct(r.hitRatio)),
        target: { seed: 'median >= 70', ours: 'median >= 90' },
        notes: note,
      },
      {
        name: `prefix-cache hit % (OpenAI rules), ${tag} — vs append-only`,
        unit: '%',
        ours: col('ours', (r) => pct(r.hitRatio)),
        baseline: col('append-only', (r) => pct(r.hitRatio)),
        target: { ours: 'median >= 90' },
      },
      {
        name: `Anthropic breakpoint read %, ${tag} — vs seeds`,
        unit: '%',
        ours: col('ours', (r) => pct(r.anthropicHitRatio)),
        baseline: col('seeds', (r) => pct(r.anthropicHitRatio)),
      },
      {
        name: `effective input cost (× uncached, cached = 0.1×), ${tag} — vs seeds`,
        unit: '×',
        ours: col('ours', (r) => Math.round(r.relativeInputCost * 1000) / 1000),
        baseline: col('seeds', (r) => Math.round(r.relativeInputCost * 1000) / 1000),
        notes: 'ratio = baseline cost ÷ our cost (> 1: we pay less)',
      },
      {
        name: `effective input cost (× uncached), ${tag} — vs append-only`,
        unit: '×',
        ours: col('ours', (r) => Math.round(r.relativeInputCost * 1000) / 1000),
        baseline: col('append-only', (r) => Math.round(r.relativeInputCost * 1000) / 1000),
      },
      {
        name: `mean utilisation % of budget, ${tag} — vs seeds`,
        unit: '%',
        ours: col('ours', (r) => pct(r.meanUtilisation)),
        baseline: col('seeds', (r) => pct(r.meanUtilisation)),
        target: { ours: 'max <= 100' },
      },
      {
        name: `page faults per step, ${tag} — vs append-only`,
        unit: 'faults/step',
        ours: col('ours', (r) => Math.round(r.faultRate * 1000) / 1000),
        baseline: col('append-only', (r) => Math.round(r.faultRate * 1000) / 1000),
        notes: 'faults = recall tool calls (fixed by the workload) + automatic prefetches',
      },
    );
  }
  return cases;
}

const TRACE_POLICIES: Record<Policy, ReplacerName> = {
  ours: 'scored',
  seeds: 'seeds',
  'append-only': 'append-only',
};

/** Kernel runs through the simulator, one per (config, policy, seed); figures as in `grid`. */
async function traceGrid(ctx: BenchContext, seeds: number[]): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  const configs = ctx.quick ? CONFIGS.filter((c) => c.steps === 50) : CONFIGS;
  for (const c of configs) {
    const tag = `${c.steps} steps, ${c.window / 1000}k window`;
    const res: Record<Policy, TraceResult[]> = { ours: [], seeds: [], 'append-only': [] };
    for (const p of Object.keys(TRACE_POLICIES) as Policy[]) {
      for (const seed of seeds) {
        res[p].push(
          await recordTrace({ steps: c.steps, contextWindow: c.window, replacer: TRACE_POLICIES[p], seed }),
        );
      }
    }
    const pct = (x: number) => Math.round(x * 1000) / 10;
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const col = (p: Policy, f: (r: TraceResult) => number) => ({ label: p, samples: res[p].map(f) });
    const overflows = (p: Policy) =>
      res[p].filter((r) => r.maxRenderedTokens > r.budget || r.simulator.maxInput > r.contextWindow).length;
    const unfinished = Object.values(res)
      .flat()
      .filter((r) => r.exitReason !== null).length;
    const gap = (p: Policy) =>
      Math.round(
        Math.max(...res[p].map((r) => Math.abs(r.kernel.cache.openaiHitRatio - r.simulator.hitRatio))) * 1000,
      ) / 10;
    const hits = (p: Policy) => res[p].map((r) => pct(r.kernel.cache.openaiHitRatio)).join('/');
    const ceiling = pct(res.ours.reduce((s, r) => s + r.kernel.cache.ceilingHitRatio, 0) / res.ours.length);
    ctx.log(
      `trace ${tag}: hit ours ${hits('ours')}%, seeds ${hits('seeds')}%, append-only ${hits('append-only')}% (ceiling ${ceiling}%); ` +
        `kernel vs simulator max gap ${gap('ours')}/${gap('seeds')}/${gap('append-only')} points`,
    );
    const note =
      `overflows (rendered > budget or reported > window): ours ${overflows('ours')}, seeds ${overflows('seeds')}, ` +
      `append-only ${overflows('append-only')} of ${seeds.length} runs; runs not finished cleanly: ${unfinished}; ` +
      `ceiling ${ceiling}%; kernel-vs-simulator max gap (points): ours ${gap('ours')}, seeds ${gap('seeds')}, append-only ${gap('append-only')}`;
    cases.push(
      {
        name: `trace: prefix-cache hit %, kernel-computed vs simulator-reported (ours), ${tag}`,
        unit: '%',
        ours: {
          label: 'kernel (cm.metrics)',
          samples: res.ours.map((r) => pct(r.kernel.cache.openaiHitRatio)),
        },
        baseline: {
          label: 'simulator usage.cachedInput',
          samples: res.ours.map((r) => pct(r.simulator.hitRatio)),
        },
        notes: "ratio ≈ 1 when the kernel's own cache model agrees with what the provider reports",
      },
      {
        name: `trace: prefix-cache hit % (simulator-reported), ${tag} — vs seeds`,
        unit: '%',
        ours: col('ours', (r) => pct(r.simulator.hitRatio)),
        baseline: col('seeds', (r) => pct(r.simulator.hitRatio)),
        target: { seed: 'median >= 70', ours: 'median >= 90' },
        notes: note,
      },
      {
        name: `trace: prefix-cache hit % (simulator-reported), ${tag} — vs append-only`,
        unit: '%',
        ours: col('ours', (r) => pct(r.simulator.hitRatio)),
        baseline: col('append-only', (r) => pct(r.simulator.hitRatio)),
        target: { ours: 'median >= 90' },
      },
      {
        name: `trace: effective input cost (× uncached, simulator usage), ${tag} — vs seeds`,
        unit: '×',
        ours: col('ours', (r) => r3(r.simulatorRelativeCost)),
        baseline: col('seeds', (r) => r3(r.simulatorRelativeCost)),
      },
      {
        name: `trace: effective input cost (× uncached, simulator usage), ${tag} — vs append-only`,
        unit: '×',
        ours: col('ours', (r) => r3(r.simulatorRelativeCost)),
        baseline: col('append-only', (r) => r3(r.simulatorRelativeCost)),
      },
      {
        name: `trace: mean utilisation % of budget, ${tag} — vs seeds`,
        unit: '%',
        ours: col('ours', (r) => pct(r.kernel.meanUtilisation)),
        baseline: col('seeds', (r) => pct(r.kernel.meanUtilisation)),
        target: { ours: 'max <= 100' },
      },
      {
        name: `trace: page faults per step, ${tag} — vs append-only`,
        unit: 'faults/step',
        ours: col('ours', (r) => r3(r.kernel.faultRate)),
        baseline: col('append-only', (r) => r3(r.kernel.faultRate)),
        notes: 'faults = recall tool calls (the scenario recalls ~5 % of steps) + automatic prefetches',
      },
    );
  }
  return cases;
}

/**
 * Recall-by-id latency through SqlPageStore: N pages written, then random faults (store read + window).
 * Pages are 200–1,700 tokens (they come back whole); with `big`, 6k–16k tokens (head+tail views whose
 * first 3,000-token window is cut with one tokenizer pass).
 */
async function faultLatency(
  driver: StorageDriver | null,
  label: string,
  n: number,
  quick: boolean,
  big = false,
): Promise<number[]> {
  const store = driver ? new SqlPageStore(driver) : new MemoryPageStore();
  const cm = new ContextManager({ store });
  const pid = 900_000 + Math.floor(Math.random() * 90_000);
  cm.open(pid, { contextWindow: 32_000, system: 'sys', task: `bench ${label}` });
  const rnd = mulberry32(77);
  const pages = big ? (quick ? 60 : 300) : quick ? 300 : 2000;
  for (let i = 0; i < pages; i++) {
    const size = big ? 6000 + Math.floor(rnd() * 10_000) : 200 + Math.floor(rnd() * 1500);
    cm.append(pid, {
      kind: 'note',
      content: `page ${i} ${'lorem ipsum dolor sit amet '.repeat(Math.ceil(size / 5))}`.slice(0, size * 4),
    });
    if (i % (big ? 5 : 100) === (big ? 4 : 99)) await cm.prepare(pid);
  }
  await cm.prepare(pid);
  await cm.flush(pid);
  // Big pages are all in the store (as head+tail views while resident), so any id is a store read.
  const span = big ? pages - 10 : cm.metrics(pid).swappedPages - 10;
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(`${pid}.${4 + Math.floor(rnd() * Math.max(1, span))}`);
  const samples: number[] = [];
  for (const [i, id] of ids.entries()) {
    const t0 = performance.now();
    await cm.recall(pid, { pageId: id });
    if (i >= 10) samples.push(performance.now() - t0);
  }
  await cm.close(pid);
  return samples;
}

export const contextBench = defineBench({
  name: 'context',
  subsystem: 'context',
  async run(ctx) {
    const seeds = ctx.quick ? [1] : [1, 2, 3];
    const cases = await grid(ctx, seeds);
    cases.push(...(await traceGrid(ctx, seeds)));
    const n = ctx.quick ? 60 : 400;
    const floor = { label: 'MemoryPageStore', samples: await faultLatency(null, 'memory', n, ctx.quick) };
    const lite = await openStorage('memory://');
    try {
      cases.push({
        name: 'page fault (recall by id) latency, PGlite memory://',
        unit: 'ms',
        ours: { label: 'SqlPageStore on PGlite', samples: await faultLatency(lite, 'pglite', n, ctx.quick) },
        baseline: floor,
        notes: "baseline = the same recall through MemoryPageStore (no database): the manager's own share",
        target: { seed: 'p99 < 100', ours: 'p99 < 5' },
      });
      cases.push({
        name: 'page fault latency, large pages (6k–16k tokens, first 3,000-token window), PGlite memory://',
        unit: 'ms',
        ours: {
          label: 'SqlPageStore on PGlite',
          samples: await faultLatency(lite, 'pglite-big', n, ctx.quick, true),
        },
        baseline: {
          label: 'MemoryPageStore',
          samples: await faultLatency(null, 'memory-big', n, ctx.quick, true),
        },
        notes:
          'the window is cut with a BPE pass over ~3,000 tokens; that pass, not the store read, is most of it',
        target: { seed: 'p99 < 100' },
      });
    } finally {
      await lite.close();
    }
    const url = process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    let pg: StorageDriver | null = null;
    try {
      pg = await openStorage(url, { schema: `aos_bench_ctx_${process.pid}` });
    } catch (err) {
      ctx.log(
        `PostgreSQL not reachable at ${new URL(url).host}: ${(err as Error).message}; server case skipped`,
      );
    }
    if (pg) {
      try {
        cases.push({
          name: 'page fault (recall by id) latency, PostgreSQL server',
          unit: 'ms',
          ours: {
            label: 'SqlPageStore on Postgres',
            samples: await faultLatency(pg, 'postgres', n, ctx.quick),
          },
          baseline: floor,
          notes: "baseline = the same recall through MemoryPageStore (no database): the manager's own share",
          target: { seed: 'p99 < 100', ours: 'p99 < 10' },
        });
      } finally {
        await pg.query(`DROP SCHEMA IF EXISTS aos_bench_ctx_${process.pid} CASCADE`).catch(() => undefined);
        await pg.close();
      }
    }
    return cases;
  },
});
