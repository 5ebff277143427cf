/**
 * Context metrics: plain per-process and global getters computed from the page table and the prompt-cache
 * model, and `registerContextMetrics` which exposes them as Prometheus gauges (prom-client, read at scrape).
 */
import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';
import * as P from '../param.js';
import { type CacheObservation, type CacheTotals, emptyTotals, hitRatio } from './cache-model.js';
import type { CacheRule, ProcContext } from './table.js';

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ContextMetrics {
  pid: string;
  /** The process's model (null: opened without one). */
  model?: string | null;
  budget: number;
  window: number;
  renders: number;
  /** Calibrated tokens of the prompt as it stands. */
  tokens: number;
  utilisation: number;
  meanUtilisation: number;
  residentPages: number;
  residentTokens: number;
  swappedPages: number;
  stubs: number;
  pendingWrites: number;
  evictionEvents: number;
  evictedPages: number;
  evictedTokens: number;
  faults: number;
  prefetches: number;
  /** Page faults (recalls and prefetches) per rendered request. */
  faultRate: number;
  swapIn: LatencySummary;
  cache: CacheTotals & {
    openaiHitRatio: number;
    vllmHitRatio: number;
    anthropicHitRatio: number;
    ceilingHitRatio: number;
  };
  /** What the provider reported through observeUsage (to compare with the model above). */
  reported: { input: number; cachedInput: number; hitRatio: number };
  cost: { rule: CacheRule; priced: boolean; effectiveInput: number; withoutCache: number; relative: number };
  calibration: number;
  summaries: number;
  summarizerFailures: number;
  /** Raw samples, kept for aggregation (not exported to Prometheus). */
  swapInSamples: number[];
}

export interface GlobalContextMetrics {
  processes: number;
  renders: number;
  evictionEvents: number;
  faults: number;
  prefetches: number;
  faultRate: number;
  residentTokens: number;
  swappedPages: number;
  swapIn: LatencySummary;
  cache: CacheTotals & {
    openaiHitRatio: number;
    vllmHitRatio: number;
    anthropicHitRatio: number;
    ceilingHitRatio: number;
  };
  cost: { effectiveInput: number; withoutCache: number; relative: number };
  meanUtilisation: number;
}

export function latency(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) return { count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] ?? 0;
  return { count: s.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: s[s.length - 1] ?? 0 };
}

function withRatios(t: CacheTotals) {
  return {
    ...t,
    openaiHitRatio: hitRatio(t.openaiCached, t.input),
    vllmHitRatio: hitRatio(t.vllmCached, t.input),
    anthropicHitRatio: hitRatio(t.anthropicRead, t.input),
    ceilingHitRatio: hitRatio(t.ceiling, t.input),
  };
}

export function computeMetrics(ctx: ProcContext, raw: number): ContextMetrics {
  const c = ctx.counters;
  let residentPages = 0;
  let residentTokens = 0;
  let stubs = 0;
  for (const e of ctx.history) {
    if (e.t === 'stub') {
      stubs++;
      continue;
    }
    residentPages += e.unit.pages.length;
    for (const p of e.unit.pages) residentTokens += p.tokens;
  }
  const tokens = Math.ceil(raw * ctx.calibration);
  const totals = ctx.cache.totals;
  return {
    pid: String(ctx.pid),
    model: ctx.model,
    budget: ctx.budget,
    window: ctx.window,
    renders: c.renders,
    tokens,
    utilisation: tokens / ctx.budget,
    meanUtilisation: c.renders ? c.utilisationSum / c.renders : 0,
    residentPages,
    residentTokens,
    swappedPages: ctx.swapped.size,
    stubs,
    pendingWrites: ctx.pending.size,
    evictionEvents: c.evictionEvents,
    evictedPages: c.evictedPages,
    evictedTokens: c.evictedTokens,
    faults: c.faults,
    prefetches: c.prefetches,
    faultRate: c.renders ? c.faults / c.renders : 0,
    swapIn: latency(c.swapInMs),
    cache: withRatios(totals),
    reported: {
      input: c.reportedInput,
      cachedInput: c.reportedCached,
      hitRatio: hitRatio(c.reportedCached, c.reportedInput),
    },
    cost: {
      rule: ctx.cacheRule,
      priced: ctx.price !== null,
      effectiveInput: c.costUsd,
      withoutCache: c.costUncachedUsd,
      relative: c.costUncachedUsd ? c.costUsd / c.costUncachedUsd : 0,
    },
    calibration: ctx.calibration,
    summaries: c.summaries,
    summarizerFailures: c.summarizerFailures,
    swapInSamples: [...c.swapInMs],
  };
}

export function sumMetrics(all: readonly ContextMetrics[], open: number): GlobalContextMetrics {
  const totals = emptyTotals();
  let renders = 0;
  let evictionEvents = 0;
  let faults = 0;
  let prefetches = 0;
  let residentTokens = 0;
  let swappedPages = 0;
  let eff = 0;
  let without = 0;
  let utilSum = 0;
  const samples: number[] = [];
  for (const m of all) {
    for (const k of Object.keys(totals) as (keyof CacheTotals)[]) totals[k] += m.cache[k];
    renders += m.renders;
    evictionEvents += m.evictionEvents;
    faults += m.faults;
    prefetches += m.prefetches;
    residentTokens += m.residentTokens;
    swappedPages += m.swappedPages;
    eff += m.cost.effectiveInput;
    without += m.cost.withoutCache;
    utilSum += m.meanUtilisation * m.renders;
    samples.push(...m.swapInSamples);
  }
  return {
    processes: open,
    renders,
    evictionEvents,
    faults,
    prefetches,
    faultRate: renders ? faults / renders : 0,
    residentTokens,
    swappedPages,
    swapIn: latency(samples),
    cache: withRatios(totals),
    cost: { effectiveInput: eff, withoutCache: without, relative: without ? eff / without : 0 },
    meanUtilisation: renders ? utilSum / renders : 0,
  };
}

/**
 * Folds the metrics of closed processes into one record, so global totals keep counting them without the
 * manager holding one record per process ever run. Window state (resident, swapped) is zero once closed.
 */
export function foldClosed(all: readonly ContextMetrics[]): ContextMetrics {
  const g = sumMetrics(all, 0);
  const samples = all.flatMap((m) => m.swapInSamples).slice(-1024);
  return {
    pid: 'closed',
    model: all[0]?.model ?? null,
    budget: 0,
    window: 0,
    renders: g.renders,
    tokens: 0,
    utilisation: 0,
    meanUtilisation: g.meanUtilisation,
    residentPages: 0,
    residentTokens: 0,
    swappedPages: 0,
    stubs: 0,
    pendingWrites: 0,
    evictionEvents: g.evictionEvents,
    evictedPages: all.reduce((n, m) => n + m.evictedPages, 0),
    evictedTokens: all.reduce((n, m) => n + m.evictedTokens, 0),
    faults: g.faults,
    prefetches: g.prefetches,
    faultRate: g.faultRate,
    swapIn: latency(samples),
    cache: g.cache,
    reported: {
      input: all.reduce((n, m) => n + m.reported.input, 0),
      cachedInput: all.reduce((n, m) => n + m.reported.cachedInput, 0),
      hitRatio: 0,
    },
    cost: {
      rule: 'openai',
      priced: false,
      effectiveInput: g.cost.effectiveInput,
      withoutCache: g.cost.withoutCache,
      relative: g.cost.relative,
    },
    calibration: 1,
    summaries: all.reduce((n, m) => n + m.summaries, 0),
    summarizerFailures: all.reduce((n, m) => n + m.summarizerFailures, 0),
    swapInSamples: samples,
  };
}

/** Anything that can report context metrics (the ContextManager). */
export interface ContextMetricsSource {
  pids(): string[];
  metrics(pid: string): ContextMetrics;
  globalMetrics(): GlobalContextMetrics;
  /** Open and closed processes' figures summed per model. */
  modelMetrics(): Map<string, GlobalContextMetrics>;
}

/**
 * Registers gauges `aos_context_*` on a prom-client registry; values are read from `cm` at scrape time.
 * Per-process gauges carry a `pid` label; `_total`-style counters are exposed as gauges of running totals.
 */
export function registerContextMetrics(registry: Registry, cm: ContextMetricsSource): void {
  // prom-client is CommonJS, so this is the instance the caller's Registry came from; requiring it here
  // keeps ContextManager importable without it
  const { Gauge } = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
  const perPid: [string, string, (m: ContextMetrics) => number][] = [
    ['aos_context_tokens', 'tokens of the rendered prompt (calibrated estimate)', (m) => m.tokens],
    ['aos_context_budget_tokens', 'working-set budget: context window minus output reserve', (m) => m.budget],
    ['aos_context_utilisation', 'prompt tokens / budget', (m) => m.utilisation],
    ['aos_context_resident_pages', 'pages in the window (working set)', (m) => m.residentPages],
    ['aos_context_swapped_pages', 'pages paged out to the store', (m) => m.swappedPages],
    [
      'aos_context_prefix_hit_ratio_openai',
      'prompt-cache hit ratio under OpenAI rules (computed in-process)',
      (m) => m.cache.openaiHitRatio,
    ],
    [
      'aos_context_prefix_hit_ratio_vllm',
      'prompt-cache hit ratio under vLLM 16-token block rules',
      (m) => m.cache.vllmHitRatio,
    ],
    [
      'aos_context_prefix_hit_ratio_anthropic',
      'prompt-cache read ratio under Anthropic breakpoint rules',
      (m) => m.cache.anthropicHitRatio,
    ],
    [
      'aos_context_cache_breaks',
      'requests whose prompt did not extend the previous one',
      (m) => m.cache.cacheBreaks,
    ],
    ['aos_context_page_faults', 'recalls and prefetches', (m) => m.faults],
    ['aos_context_fault_rate', 'page faults per request', (m) => m.faultRate],
    ['aos_context_evictions', 'eviction events (each a chunk)', (m) => m.evictionEvents],
    [
      'aos_context_swap_in_p99_seconds',
      'p99 latency of reading a page from the store',
      (m) => m.swapIn.p99Ms / 1000,
    ],
    [
      'aos_context_effective_input_cost',
      'input cost with caching (USD, or relative units when unpriced)',
      (m) => m.cost.effectiveInput,
    ],
  ];
  for (const [name, help, read] of perPid) {
    new Gauge({
      name,
      help,
      labelNames: ['pid'],
      registers: [registry],
      collect() {
        this.reset();
        for (const pid of cm.pids()) this.set({ pid }, read(cm.metrics(pid)));
      },
    });
  }
  new Gauge({
    name: 'aos_context_prefix_hit_ratio',
    help: 'kernel-wide prompt-cache hit ratio under OpenAI rules, open and closed processes',
    registers: [registry],
    collect() {
      this.set(cm.globalMetrics().cache.openaiHitRatio);
    },
  });
  // Per model, open and closed processes together: what an operator compares providers by.
  const perModel: [string, string, (m: GlobalContextMetrics) => number][] = [
    [
      'aos_context_model_prefix_hit_ratio',
      "prompt-cache hit ratio of the model's prompts under OpenAI rules (Anthropic models: breakpoint reads), computed in-process",
      (m) => (m.cache.anthropicRead > 0 ? m.cache.anthropicHitRatio : m.cache.openaiHitRatio),
    ],
    ['aos_context_model_page_faults', 'recalls and prefetches (page faults)', (m) => m.faults],
    ['aos_context_model_fault_rate', 'page faults per rendered request', (m) => m.faultRate],
    ['aos_context_model_swap_ins', 'pages read back from the store (swap-ins)', (m) => m.swapIn.count],
    ['aos_context_model_swap_in_p99_seconds', 'p99 latency of a swap-in', (m) => m.swapIn.p99Ms / 1000],
    [
      'aos_context_model_utilisation',
      'mean prompt tokens / budget over rendered requests',
      (m) => m.meanUtilisation,
    ],
    ['aos_context_model_evictions', 'eviction events (each a chunk)', (m) => m.evictionEvents],
    ['aos_context_model_renders', 'prompts rendered', (m) => m.renders],
  ];
  for (const [name, help, read] of perModel) {
    new Gauge({
      name,
      help,
      labelNames: ['model'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [model, m] of cm.modelMetrics()) this.set({ model }, read(m));
      },
    });
  }
}

/** Counts one rendered request: utilisation and input cost under the process's cache rule. */
export function accountRequest(ctx: ProcContext, obs: CacheObservation, tokens: number): void {
  const c = ctx.counters;
  c.renders++;
  c.utilisationSum += tokens / ctx.budget;
  // Unpriced models are costed relative to an input price of 1 (cached 0.1×, Anthropic cache write 1.25×).
  const price = ctx.price ?? { input: 1, cachedInput: P.CTX_CACHED_PRICE_RATIO, cacheWrite: 1.25 };
  const cached =
    ctx.cacheRule === 'anthropic'
      ? obs.anthropicRead
      : ctx.cacheRule === 'vllm'
        ? obs.vllmCached
        : obs.openaiCached;
  const write = ctx.cacheRule === 'anthropic' ? obs.anthropicWrite : 0;
  c.costUsd +=
    ((obs.input - cached - write) * price.input + cached * price.cachedInput + write * price.cacheWrite) /
    1e6;
  c.costUncachedUsd += (obs.input * price.input) / 1e6;
}
