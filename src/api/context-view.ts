/**
 * The context of a process as a memory map for GET /processes/:pid/context: every page in prompt order
 * (tools, system + pinned, task, history units, stubs) with its size, whether it is resident or swapped
 * out, and whether it lies in the prefix the previous prompt shared (what a prefix cache would serve).
 * Works on the exported page table (src/context/snapshot.ts), so a process whose context is loaded and
 * one that is only in a checkpoint are described the same way; nothing here mutates the live table.
 */
import { rawTokens, usedTokens } from '../context/evict.js';
import { computeMetrics } from '../context/metrics.js';
import { renderContext } from '../context/render.js';
import { importContext } from '../context/snapshot.js';
import type { ProcContext } from '../context/table.js';

export interface PageView {
  id: string;
  kind: string;
  tokens: number;
  resident: boolean;
  pinned: boolean;
  summary?: string;
  cachedPrefix: boolean;
}

export interface ContextView {
  loaded: boolean;
  pages: PageView[];
  budget: number;
  used: number;
  window: number;
  cachedPrefixTokens: number;
  metrics: Record<string, unknown> | null;
}

export const EMPTY_CONTEXT: ContextView = {
  loaded: false,
  pages: [],
  budget: 0,
  used: 0,
  window: 0,
  cachedPrefixTokens: 0,
  metrics: null,
};

function commonPrefix(a: readonly string[], b: readonly string[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Describes an exported context state (kernel.context.exportState(pid) or programState.ctx). */
export function describeContextState(pid: number, state: unknown, loaded: boolean): ContextView {
  const ctx: ProcContext = importContext(pid, state, undefined, { view: true });
  const toolsCount = ctx.tools.length || ((state as { toolsCount?: number }).toolsCount ?? 0);
  const rendered = renderContext(ctx);
  const last = (state as { cache?: { last?: { hashes?: string[] } | null } }).cache?.last;
  const shared = last?.hashes
    ? commonPrefix(
        rendered.segments.map((s) => s.hash),
        last.hashes,
      )
    : 0;
  let seg = 0;
  let cachedTokens = 0;
  const pages: PageView[] = [];
  /** Advances one prompt segment; returns whether it was in the shared prefix. */
  const next = (): boolean => {
    const s = rendered.segments[seg];
    const hit = seg < shared;
    if (hit && s) cachedTokens += s.tokens;
    seg++;
    return hit;
  };

  if (ctx.toolsHash) {
    pages.push({
      id: 'tools',
      kind: 'tools',
      tokens: ctx.toolsTokens,
      resident: true,
      pinned: true,
      summary: `${toolsCount} tool schemas`,
      cachedPrefix: next(),
    });
  }
  if (ctx.systemText) {
    const hit = next();
    // One system message carries the system page and the pinned notes; its tokens are split as counted.
    if (ctx.system)
      pages.push({
        id: ctx.system.id,
        kind: 'system',
        tokens: ctx.system.tokens,
        resident: true,
        pinned: true,
        cachedPrefix: hit,
      });
    for (const p of ctx.pinned)
      pages.push({
        id: p.id,
        kind: 'pinned',
        tokens: p.tokens,
        resident: true,
        pinned: true,
        cachedPrefix: hit,
      });
  }
  if (ctx.task)
    pages.push({
      id: ctx.task.id,
      kind: 'task',
      tokens: ctx.task.tokens,
      resident: true,
      pinned: true,
      cachedPrefix: next(),
    });

  const listed = new Set<string>();
  for (const e of ctx.history) {
    if (e.t === 'stub') {
      const hit = next();
      pages.push({
        id: `stub.${e.stub.key}`,
        kind: 'stub',
        tokens: e.stub.tokens,
        resident: true,
        pinned: false,
        summary: e.stub.summary || `${e.stub.entries.length} pages swapped out`,
        cachedPrefix: hit,
      });
      for (const s of e.stub.entries) {
        listed.add(s.id);
        pages.push({
          id: s.id,
          kind: ctx.swapped.get(s.id)?.kind ?? 'swapped',
          tokens: s.tokens,
          resident: false,
          pinned: false,
          summary: s.line,
          cachedPrefix: false,
        });
      }
      continue;
    }
    const [head, ...rest] = e.unit.pages;
    if (!head) continue;
    const view = (p: typeof head, hit: boolean): PageView => ({
      id: p.id,
      kind: p.kind,
      tokens: p.tokens,
      resident: true,
      pinned: p.pinned,
      ...(p.fullTokens ? { summary: `head+tail view of ${p.fullTokens} tokens` } : {}),
      cachedPrefix: hit,
    });
    pages.push(view(head, next()));
    // Same order as render.ts: results in call order, a missing result is a segment of its own.
    const results = new Map(rest.map((p) => [p.toolCallId ?? '', p]));
    for (const c of head.toolCalls ?? []) {
      const p = results.get(c.id);
      const hit = next();
      if (p) {
        pages.push(view(p, hit));
        results.delete(c.id);
      }
    }
    for (const p of results.values()) pages.push(view(p, next()));
  }
  for (const s of ctx.swapped.values()) {
    if (!listed.has(s.id))
      pages.push({
        id: s.id,
        kind: s.kind,
        tokens: s.tokens,
        resident: false,
        pinned: false,
        summary: s.line,
        cachedPrefix: false,
      });
  }

  const { swapInSamples: _drop, ...metrics } = computeMetrics(ctx, rawTokens(ctx));
  return {
    loaded,
    pages,
    budget: ctx.budget,
    used: usedTokens(ctx),
    window: ctx.window,
    cachedPrefixTokens: cachedTokens,
    metrics: metrics as unknown as Record<string, unknown>,
  };
}
