/**
 * Page allocation and the static prefix: a process's empty page table, page ids and token counts (counted
 * once, here), head+tail views of large contents (full text queued for the store), the system message
 * (system + pinned) and the check that the static prefix leaves room for history.
 */
import { KernelError } from '../errors.js';
import type { ToolSpec } from '../llm/model.js';
import * as P from '../param.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import { PromptCacheModel } from './cache-model.js';
import { staticRaw } from './evict.js';
import {
  DEFAULT_IMPORTANCE,
  headTail,
  messageTokens,
  type Page,
  type PageKind,
  safeCountTokens,
  toolCallTokens,
} from './page.js';
import { systemText } from './render.js';
import { type CacheRule, newCounters, type Price, type ProcContext } from './table.js';
import { toolList } from './tool-list.js';

export function newProcContext(init: {
  pid: number | string;
  window: number;
  reserve: number;
  budget: number;
  tools: readonly ToolSpec[];
  cacheRule: CacheRule;
  price: Price | null;
  model?: string | null;
}): ProcContext {
  const list = toolList(init.tools);
  return {
    pid: init.pid,
    model: init.model ?? null,
    window: init.window,
    reserve: init.reserve,
    budget: init.budget,
    tools: list.tools,
    toolsJson: list.json,
    toolsHash: list.hash,
    toolsByRef: false,
    toolsTokens: list.tokens,
    system: null,
    task: null,
    pinned: [],
    systemTokens: 0,
    systemText: '',
    systemHash: '',
    history: [],
    seq: 0,
    step: 0,
    calibration: 1,
    swapped: new Map(),
    pending: new Map(),
    prefetched: new Set(),
    cache: new PromptCacheModel(),
    cacheRule: init.cacheRule,
    price: init.price,
    counters: newCounters(),
    order: null,
    busy: false,
  };
}

/** Pages above this many tokens become head+tail views (at least 256, so tiny budgets still read something). */
export function largeLimit(ctx: ProcContext): number {
  return Math.max(
    256,
    Math.min(P.CTX_LARGE_OUTPUT_TOKENS, Math.floor(P.CTX_LARGE_OUTPUT_FRACTION * ctx.budget)),
  );
}

/** A new page with the next id; tokens counted once; a large content becomes a head+tail view. */
export function allocPage(
  ctx: ProcContext,
  now: number,
  kind: PageKind,
  content: string,
  extra: Partial<Page>,
): Page {
  ctx.seq++;
  const id = `${String(ctx.pid)}.${ctx.seq}`;
  const page: Page = {
    id,
    kind,
    content,
    tokens: 0,
    importance: extra.importance ?? DEFAULT_IMPORTANCE[kind],
    pinned: kind === 'pinned' || kind === 'system' || kind === 'task',
    accessCount: 0,
    lastAccess: ctx.step,
    createdStep: ctx.step,
    createdAt: now,
    ...(extra.toolCalls ? { toolCalls: extra.toolCalls } : {}),
    ...(extra.toolCallId ? { toolCallId: extra.toolCallId } : {}),
    ...(extra.name ? { name: extra.name } : {}),
    ...(extra.reasoning ? { reasoning: extra.reasoning } : {}),
    ...(extra.reasoningBlocks?.length ? { reasoningBlocks: extra.reasoningBlocks } : {}),
    ...(extra.isError ? { isError: true } : {}),
    ...(extra.call ? { call: extra.call } : {}),
  };
  const limit = largeLimit(ctx);
  // safeCountTokens estimates texts beyond CTX_COUNT_MAX_CHARS instead of tokenizing them.
  const full = safeCountTokens(content);
  if (!page.pinned && full > limit) {
    const view = headTail(
      content,
      limit,
      (omitted, headChars) =>
        `[… ${omitted} characters omitted (page ${id}, ${full} tokens in all). Call the recall tool with {"page_id": "${id}", "offset": ${headChars}} to read on …]`,
    );
    page.content = view.view;
    page.fullTokens = full;
    ctx.pending.set(id, {
      pageId: id,
      kind,
      content,
      summary: '',
      tokens: full,
      importance: page.importance,
      meta: {
        view: true,
        ...(page.toolCallId ? { toolCallId: page.toolCallId } : {}),
        ...(page.name ? { name: page.name } : {}),
      },
    });
  }
  page.tokens =
    (page.fullTokens === undefined
      ? P.CTX_MESSAGE_OVERHEAD_TOKENS + full + toolCallTokens(page.toolCalls)
      : messageTokens(page.content, page.toolCalls)) + reasoningTokens(page);
  return page;
}

/** Reasoning travels with the page when the vendor wants it back: the budget counts it either way. */
function reasoningTokens(p: Page): number {
  if (!p.reasoning && !p.reasoningBlocks?.length) return 0;
  // Signatures are opaque base64 the API counts as part of the block; ~4 chars a token.
  const sig = (p.reasoningBlocks ?? []).reduce(
    (n, b) => n + Math.ceil((b.type === 'thinking' ? b.signature : b.data).length / 4),
    0,
  );
  return safeCountTokens(p.reasoning ?? '') + sig;
}

/** Recomputes the system message (system text + pinned notes) after either changed. */
export function refreshSystem(ctx: ProcContext): void {
  ctx.systemText = systemText(ctx.system, ctx.pinned);
  ctx.systemTokens = ctx.systemText ? messageTokens(ctx.systemText) : 0;
  ctx.systemHash = sha256Hex(canonicalJson({ r: 'system', c: ctx.systemText })).slice(0, 32);
}

/** The static prefix plus one stub must fit, or no history ever can: EOVERFLOW naming sizes and fixes. */
export function checkStatic(ctx: ProcContext): void {
  const need = Math.ceil(staticRaw(ctx) * ctx.calibration) + P.CTX_STUB_MAX_TOKENS;
  if (need > ctx.budget) {
    throw new KernelError(
      'EOVERFLOW',
      `context of process ${String(ctx.pid)}: the static prefix needs ${need - P.CTX_STUB_MAX_TOKENS} tokens (tools ${ctx.toolsTokens}, system + ${ctx.pinned.length} pinned ${ctx.systemTokens}, task ${ctx.task?.tokens ?? 0}) plus ${P.CTX_STUB_MAX_TOKENS} for history, but the budget is ${ctx.budget} (window ${ctx.window} − output reserve ${ctx.reserve}); pin less, shorten the system prompt or tool list, or use a model with a larger context window`,
      { details: { pid: ctx.pid, need, budget: ctx.budget, pinned: ctx.pinned.length } },
    );
  }
}

/** Counts an access (recency and frequency for the replacer). */
export function touch(ctx: ProcContext, p: Page): void {
  p.accessCount++;
  p.lastAccess = ctx.step;
}
