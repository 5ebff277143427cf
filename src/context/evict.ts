/**
 * Eviction mechanics: turn a set of victim units into stubs (or drop them, for baselines), move their text
 * to the write-behind queue, and the hard budget guarantee (`ensureFits`) that runs after any policy. The
 * policy that picks victims is a Replacer (./replacer.ts); this file never decides *which*, only *how*.
 */
import { KernelError } from '../errors.js';
import * as P from '../param.js';
import { hashingEmbedding } from '../util/embedder.js';
import { callLabel, type Page } from './page.js';
import type { Replacer, UnitView } from './replacer.js';
import { clipTokens, extractiveSummary, type SpanPage } from './summarizer.js';
import { type Entry, entryTokens, makeStub, type ProcContext, stubEntry, type Unit } from './table.js';

export function calibrated(ctx: ProcContext, raw: number): number {
  return Math.ceil(raw * ctx.calibration);
}

export function staticRaw(ctx: ProcContext): number {
  return ctx.toolsTokens + (ctx.systemText ? ctx.systemTokens : 0) + (ctx.task?.tokens ?? 0);
}

export function rawTokens(ctx: ProcContext): number {
  let n = staticRaw(ctx);
  for (const e of ctx.history) n += entryTokens(e);
  return n;
}

export function usedTokens(ctx: ProcContext): number {
  return calibrated(ctx, rawTokens(ctx));
}

/** Tokens set aside for the stub an eviction creates (one per run of victims, capped), for planning. */
export const STUB_COST_ESTIMATE = P.CTX_STUB_MAX_TOKENS;

/** Views of the history for a Replacer; `similarity` filled when a step embedding is given. */
export function unitViews(ctx: ProcContext, similarity: (u: Unit) => number): UnitView[] {
  const units = ctx.history.filter((e) => e.t === 'unit').length;
  let seen = 0;
  return ctx.history.map((e, index): UnitView => {
    if (e.t === 'stub') {
      return {
        key: e.stub.key,
        index,
        tokens: calibrated(ctx, e.stub.tokens),
        importance: 1,
        accessCount: 0,
        lastAccess: ctx.step,
        createdStep: 0,
        similarity: 0,
        isStub: true,
        recent: false,
      };
    }
    seen++;
    const ps = e.unit.pages;
    return {
      key: e.unit.key,
      index,
      tokens: calibrated(ctx, entryTokens(e)),
      importance: Math.max(...ps.map((p) => p.importance)),
      accessCount: ps.reduce((n, p) => n + p.accessCount, 0),
      lastAccess: Math.max(...ps.map((p) => p.lastAccess)),
      createdStep: ps[0]?.createdStep ?? 0,
      similarity: similarity(e.unit),
      isStub: false,
      recent: units - seen < P.CTX_PROTECT_RECENT_UNITS,
    };
  });
}

/** Groups of consecutive entries that will collapse into one stub (victims plus adjacent old stubs). */
export function victimRuns(ctx: ProcContext, victims: ReadonlySet<number>): Entry[][] {
  const runs: Entry[][] = [];
  let cur: Entry[] = [];
  const close = () => {
    if (cur.some((e) => e.t === 'unit')) runs.push(cur);
    cur = [];
  };
  for (const e of ctx.history) {
    if (e.t === 'stub' || victims.has(e.unit.key)) cur.push(e);
    else close();
  }
  close();
  return runs;
}

/** What a summarizer is given for a run: old stubs as their summaries, victims with their full text. */
export function spanPages(ctx: ProcContext, run: readonly Entry[]): SpanPage[] {
  const out: SpanPage[] = [];
  for (const e of run) {
    if (e.t === 'stub') {
      if (e.stub.summary)
        out.push({
          id: `stub${e.stub.key}`,
          kind: 'summary',
          content: e.stub.summary,
          tokens: e.stub.tokens,
        });
      continue;
    }
    for (const p of e.unit.pages) {
      let content = ctx.pending.get(p.id)?.content ?? p.content;
      // A tool-calling turn is its calls: the summariser must see what was asked, not a bare "[assistant]".
      if (p.kind === 'assistant' && p.toolCalls?.length)
        content = `${content.trim() ? `${content.trim()}\n` : ''}called ${p.toolCalls.map((c) => callLabel(c)).join(', ')}`;
      out.push({
        id: p.id,
        kind: p.kind,
        ...(p.name ? { name: p.name } : {}),
        ...(p.call ? { call: p.call } : {}),
        content,
        tokens: p.fullTokens ?? p.tokens,
      });
    }
  }
  return out;
}

function swapOut(ctx: ProcContext, p: Page): void {
  const pending = ctx.pending.get(p.id);
  const full = pending?.content ?? p.content;
  const entry = stubEntry(p);
  if (!pending && p.fullTokens === undefined) {
    ctx.pending.set(p.id, {
      pageId: p.id,
      kind: p.kind,
      content: p.content,
      summary: entry.line,
      tokens: p.tokens,
      importance: p.importance,
      meta: {
        ...(p.toolCalls ? { toolCalls: p.toolCalls } : {}),
        ...(p.toolCallId ? { toolCallId: p.toolCallId } : {}),
        ...(p.name ? { name: p.name } : {}),
      },
    });
  }
  const embedding = Float32Array.from(hashingEmbedding(full));
  const stored = ctx.pending.get(p.id);
  if (stored) stored.embedding = embedding;
  ctx.swapped.set(p.id, {
    id: p.id,
    kind: p.kind,
    ...(p.name ? { name: p.name } : {}),
    ...(p.toolCalls ? { toolCalls: p.toolCalls } : {}),
    ...(p.toolCallId ? { toolCallId: p.toolCallId } : {}),
    label: entry.label,
    line: entry.line,
    tokens: entry.tokens,
    importance: p.importance,
    embedding,
  });
  ctx.prefetched.delete(p.id);
}

/**
 * Evicts the victim units: their pages go to the write-behind queue and the swapped directory; each run of
 * victims (with neighbouring stubs) becomes one stub, or nothing when the replacer leaves no stubs.
 * `summaries` maps a victim unit key to the summary of its run (missing = extractive).
 */
export function applyEviction(
  ctx: ProcContext,
  victims: ReadonlySet<number>,
  leaveStubs: boolean,
  summaries?: ReadonlyMap<number, string>,
): void {
  if (victims.size === 0) return;
  const runs = leaveStubs ? victimRuns(ctx, victims) : [];
  const runOf = new Map<Entry, Entry[]>();
  for (const r of runs) for (const e of r) runOf.set(e, r);
  const out: Entry[] = [];
  const done = new Set<Entry[]>();
  let pages = 0;
  let tokens = 0;
  for (const e of ctx.history) {
    const isVictim = e.t === 'unit' && victims.has(e.unit.key);
    if (isVictim) {
      for (const p of e.unit.pages) {
        swapOut(ctx, p);
        pages++;
        tokens += p.tokens;
      }
    }
    const run = runOf.get(e);
    if (run) {
      if (done.has(run)) continue;
      done.add(run);
      const entries = run.flatMap((x) => (x.t === 'stub' ? x.stub.entries : x.unit.pages.map(stubEntry)));
      const parts = new Set<string>();
      for (const x of run) {
        if (x.t === 'stub' && x.stub.summary) parts.add(x.stub.summary);
        const s = x.t === 'unit' ? summaries?.get(x.unit.key) : undefined;
        if (s) parts.add(s);
      }
      const summary =
        parts.size > 0
          ? clipTokens([...parts].join(' '), P.CTX_SUMMARY_MAX_TOKENS)
          : extractiveSummary(spanPages(ctx, run), P.CTX_SUMMARY_MAX_TOKENS);
      const first = run[0];
      const key = first?.t === 'stub' ? first.stub.key : (first?.unit.key ?? 0);
      out.push({ t: 'stub', stub: makeStub(key, entries, summary) });
      continue;
    }
    if (!isVictim) out.push(e);
  }
  ctx.history = out;
  ctx.counters.evictionEvents++;
  ctx.counters.evictedPages += pages;
  ctx.counters.evictedTokens += tokens;
}

/**
 * The hard guarantee: after this returns, the rendered prompt fits the budget. The replacer is asked
 * first; if its plan is not enough, the oldest units go (newest last), then all stubs merge into one.
 * If the static prefix plus one stub still does not fit, the window cannot hold this process: EOVERFLOW.
 */
export function ensureFits(ctx: ProcContext, replacer: Replacer, similarity: (u: Unit) => number): void {
  if (usedTokens(ctx) <= ctx.budget) return;
  const plan = replacer.plan({
    units: unitViews(ctx, similarity),
    used: usedTokens(ctx),
    budget: ctx.budget,
    step: ctx.step,
    stubCost: replacer.leavesStubs ? STUB_COST_ESTIMATE : 0,
  });
  if (plan.order) ctx.order = plan.order;
  applyEviction(ctx, new Set(plan.evict), replacer.leavesStubs);
  for (let guard = 0; usedTokens(ctx) > ctx.budget && guard < 64; guard++) {
    const units = ctx.history.filter((e): e is Extract<Entry, { t: 'unit' }> => e.t === 'unit');
    if (units.length === 0) break;
    let excess = usedTokens(ctx) + (replacer.leavesStubs ? STUB_COST_ESTIMATE : 0) - ctx.budget;
    const victims = new Set<number>();
    for (const u of units) {
      victims.add(u.unit.key);
      excess -= calibrated(ctx, entryTokens(u));
      if (excess <= 0) break;
    }
    applyEviction(ctx, victims, replacer.leavesStubs);
  }
  if (usedTokens(ctx) > ctx.budget && ctx.history.length > 1 && ctx.history.every((e) => e.t === 'stub')) {
    const entries = ctx.history.flatMap((e) => (e.t === 'stub' ? e.stub.entries : []));
    const summary = clipTokens(
      ctx.history
        .map((e) => (e.t === 'stub' ? e.stub.summary : ''))
        .filter(Boolean)
        .join(' '),
      P.CTX_SUMMARY_MAX_TOKENS,
    );
    const first = ctx.history[0];
    ctx.history = [{ t: 'stub', stub: makeStub(first?.t === 'stub' ? first.stub.key : 0, entries, summary) }];
  }
  const used = usedTokens(ctx);
  if (used > ctx.budget) {
    throw new KernelError(
      'EOVERFLOW',
      `context of process ${String(ctx.pid)} cannot fit: ${used} tokens needed after evicting every evictable page, budget is ${ctx.budget} (window ${ctx.window} − output reserve ${ctx.reserve}); the static prefix (tools ${ctx.toolsTokens} + system/pinned ${ctx.systemTokens} + task ${ctx.task?.tokens ?? 0} tokens, calibration ×${ctx.calibration.toFixed(2)}) is too large: unpin pages, shorten the system prompt or tool list, or use a model with a larger context window`,
      { details: { pid: ctx.pid, used, budget: ctx.budget, window: ctx.window, reserve: ctx.reserve } },
    );
  }
}
