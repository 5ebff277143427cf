/**
 * ContextManager: virtual memory for agents' context windows. One page table per process (./table.ts),
 * rendered in the cache-friendly layout (./render.ts), kept under budget by a Replacer (./replacer.ts) and
 * the eviction mechanics (./evict.ts), with page faults from a PageStore (./store.ts) and prompt-cache
 * accounting by provider rules (./cache-model.ts). Page allocation is in ./alloc.ts, checkpoint state and
 * metrics in ./snapshot.ts and ./metrics.ts. The kernel calls: open → (append… → prepare → render → observeUsage)* → close.
 *
 * Size: Over 500 lines because the manager is the one place a page table changes state; rendering, eviction, allocation, snapshots and metrics are already in their own files.
 */
import { KernelError } from '../errors.js';
import { findModel } from '../llm/catalog.js';
import type { ChatMessage, LlmUsage, ReasoningBlock, ToolCall, ToolSpec } from '../llm/model.js';
import * as P from '../param.js';
import { cosine, hashingEmbedding } from '../util/embedder.js';
import { logger } from '../util/log.js';
import { allocPage, checkStatic, largeLimit, newProcContext, refreshSystem, touch } from './alloc.js';
import type { CacheObservation } from './cache-model.js';
import {
  applyEviction,
  ensureFits,
  rawTokens,
  STUB_COST_ESTIMATE,
  spanPages,
  unitViews,
  usedTokens,
  victimRuns,
} from './evict.js';
import {
  accountRequest,
  type ContextMetrics,
  computeMetrics,
  foldClosed,
  type GlobalContextMetrics,
  sumMetrics,
} from './metrics.js';
import {
  APPEND_KINDS,
  type AppendKind,
  callLabel,
  checkImportance,
  contentText,
  DEFAULT_IMPORTANCE,
  type Page,
} from './page.js';
import { readWindow } from './recall.js';
import { renderContext } from './render.js';
import { type Replacer, ScoredReplacer } from './replacer.js';
import { exportContext, importContext } from './snapshot.js';
import { MemoryPageStore, type PageStore } from './store.js';
import { clipTokens, ExtractiveSummarizer, type Summarizer } from './summarizer.js';
import { type CacheRule, type Price, type ProcContext, type Unit, unitForResult } from './table.js';

const log = logger('context');

export interface ContextManagerOptions {
  /** Caps every process's budget (the seeds' `max_context_tokens`); default: window − output reserve. */
  maxContextTokens?: number;
  store?: PageStore;
  replacer?: Replacer;
  /** Summarises evicted spans in `prepare` (the kernel passes one that calls the agent's model). */
  summarizer?: Summarizer;
  /** Milliseconds clock, for page timestamps and swap-in latency. */
  clock?: () => number;
  /** Default output reserve for `open` (config `context.output_reserve_tokens`). */
  outputReserve?: number;
}

export interface OpenOptions {
  /** Context window in tokens; taken from the model catalogue when `model` is known. */
  contextWindow?: number;
  model?: string;
  provider?: string;
  /** Tokens kept free for the answer (default OUTPUT_RESERVE_TOKENS, capped by the catalogue's max output). */
  outputReserve?: number;
  system?: string;
  tools?: ToolSpec[];
  /**
   * `tools` is the list the kernel derives for the process (`io.tools`): checkpoints carry only its hash,
   * and importState is given the list again (`{ tools }`).
   */
  toolsByRef?: boolean;
  task?: string;
  pinned?: string[];
  /** USD per 1M tokens; default from the catalogue, else costs are reported relative (input price = 1). */
  price?: Price | null;
  /** Which provider's cache rules drive the effective-cost metric (default: anthropic for Anthropic models, else openai). */
  cacheRule?: CacheRule;
}

export interface AppendInput {
  kind: AppendKind;
  content: string;
  toolCalls?: ToolCall[];
  toolCallId?: string;
  name?: string;
  importance?: number;
  /** Assistant pages: the model's reasoning (and Anthropic's signed thinking blocks). */
  reasoning?: string;
  reasoningBlocks?: ReasoningBlock[];
  /** Tool results: the tool failed. */
  isError?: boolean;
}

export interface RenderStats {
  rawTokens: number;
  tokens: number;
  budget: number;
  utilisation: number;
  staticTokens: number;
  messages: number;
  stubs: number;
  cache: CacheObservation | null;
}

export interface RenderResult {
  messages: ChatMessage[];
  tools: ToolSpec[];
  promptCacheKey: string;
  tokens: number;
  stats: RenderStats;
}

export interface RecallInput {
  pageId?: string;
  query?: string;
  /** Character offset into the page's full text (for reading a large page piece by piece). */
  offset?: number;
  /** Also append the recalled text at the tail as a note (default false: the recall tool's result is the page-in). */
  append?: boolean;
}

function embedOf(cache: WeakMap<Page, Float32Array>, p: Page): Float32Array {
  let v = cache.get(p);
  if (!v) {
    v = Float32Array.from(hashingEmbedding(p.content));
    cache.set(p, v);
  }
  return v;
}

/** The label of the call a result answers (tool name + key arguments), kept on the result page for stubs. */
function callOf(owner: { pages: Page[] }, id: string | undefined): { call?: string } {
  const c = owner.pages[0]?.toolCalls?.find((x) => x.id === id);
  return c ? { call: callLabel(c) } : {};
}

export class ContextManager {
  readonly store: PageStore;
  readonly replacer: Replacer;
  readonly summarizer: Summarizer;
  private readonly maxContextTokens: number | undefined;
  private readonly clock: () => number;
  private readonly outputReserve: number;
  private readonly procs = new Map<string, ProcContext>();
  /** Closed processes' metrics, folded into one record (global totals keep counting them). */
  /** Closed processes' figures, folded per model ('' = opened without a model). */
  private closed = new Map<string, ContextMetrics>();
  private readonly embeddings = new WeakMap<Page, Float32Array>();

  constructor(opts: ContextManagerOptions = {}) {
    if (
      opts.maxContextTokens !== undefined &&
      (!Number.isInteger(opts.maxContextTokens) || opts.maxContextTokens <= 0)
    ) {
      throw new KernelError(
        'EINVAL',
        `maxContextTokens must be a positive integer, got ${String(opts.maxContextTokens)}`,
      );
    }
    this.maxContextTokens = opts.maxContextTokens;
    this.store = opts.store ?? new MemoryPageStore();
    this.replacer = opts.replacer ?? new ScoredReplacer();
    this.summarizer = opts.summarizer ?? new ExtractiveSummarizer();
    this.clock = opts.clock ?? Date.now;
    this.outputReserve = opts.outputReserve ?? P.OUTPUT_RESERVE_TOKENS;
  }

  // ── lifecycle ──────────────────────────────────────────────────────────────────────────────────

  open(pid: number | string, opts: OpenOptions = {}): void {
    const key = String(pid);
    if (this.procs.has(key))
      throw new KernelError('EEXIST', `context of process ${key} is already open; close it first`);
    const entry = opts.model ? findModel(opts.model, opts.provider) : undefined;
    const window = opts.contextWindow ?? entry?.contextWindow ?? this.maxContextTokens;
    if (window === undefined || !Number.isInteger(window) || window <= 0) {
      throw new KernelError(
        'EINVAL',
        `open(${key}): contextWindow must be a positive integer (got ${String(opts.contextWindow)}); pass it, or a model the catalogue knows`,
      );
    }
    const reserve =
      opts.outputReserve ??
      Math.min(this.outputReserve, entry?.maxOutput ?? this.outputReserve, Math.floor(window / 4));
    if (!Number.isInteger(reserve) || reserve < 0 || reserve >= window) {
      throw new KernelError(
        'EINVAL',
        `open(${key}): outputReserve ${reserve} must be an integer in [0, contextWindow ${window})`,
      );
    }
    const budget = Math.min(window - reserve, this.maxContextTokens ?? Number.POSITIVE_INFINITY);
    const price = opts.price !== undefined ? opts.price : (entry?.price ?? null);
    const ctx = newProcContext({
      pid,
      window,
      reserve,
      budget,
      tools: opts.tools ?? [],
      model: opts.model ?? null,
      cacheRule: opts.cacheRule ?? (entry?.provider === 'anthropic' ? 'anthropic' : 'openai'),
      price: price
        ? { input: price.input, cachedInput: price.cachedInput, cacheWrite: price.cacheWrite }
        : null,
    });
    ctx.toolsByRef = opts.toolsByRef === true;
    if (opts.system) ctx.system = allocPage(ctx, this.clock(), 'system', opts.system, {});
    if (opts.task) ctx.task = allocPage(ctx, this.clock(), 'task', opts.task, {});
    for (const text of opts.pinned ?? []) ctx.pinned.push(allocPage(ctx, this.clock(), 'pinned', text, {}));
    refreshSystem(ctx);
    checkStatic(ctx);
    this.procs.set(key, ctx);
  }

  /** Adds a pinned note to the static prefix (breaks the prompt cache once; pinned pages are never evicted). */
  pin(pid: number | string, content: string): Page {
    const ctx = this.ctx(pid);
    const page = allocPage(ctx, this.clock(), 'pinned', contentText(content, 'pin'), {});
    ctx.pinned.push(page);
    refreshSystem(ctx);
    try {
      checkStatic(ctx);
    } catch (err) {
      ctx.pinned.pop();
      refreshSystem(ctx);
      throw err;
    }
    return page;
  }

  /** Closes a process's context. Its swap space is deleted unless `keepSwap` (a suspended process). */
  async close(pid: number | string, opts: { keepSwap?: boolean } = {}): Promise<void> {
    const ctx = this.ctx(pid);
    const key = ctx.model ?? '';
    const prev = this.closed.get(key);
    const m = computeMetrics(ctx, rawTokens(ctx));
    this.closed.set(key, foldClosed(prev ? [prev, m] : [m]));
    this.procs.delete(String(pid));
    if (opts.keepSwap) await this.store.put(ctx.pid, [...ctx.pending.values()]);
    else await this.store.deleteProcess(ctx.pid);
  }

  /**
   * Drops a process's live context without writing anything. A step that does not commit (a storage or
   * provider outage, a lost lease) must leave no trace: the next step imports the context from the
   * committed program state, which carries the page table and every page not yet in the store.
   */
  discard(pid: number | string): void {
    this.procs.delete(String(pid));
  }

  has(pid: number | string): boolean {
    return this.procs.has(String(pid));
  }

  // ── appending ─────────────────────────────────────────────────────────────────────────────────

  append(pid: number | string, input: AppendInput): Page {
    const ctx = this.ctx(pid);
    if (!APPEND_KINDS.includes(input.kind)) {
      throw new KernelError(
        'EINVAL',
        `append: kind "${String(input.kind)}" is not one of ${APPEND_KINDS.join(', ')}`,
      );
    }
    if (input.kind === 'tool_result' && !input.toolCallId) {
      throw new KernelError(
        'EINVAL',
        'append: a tool_result needs toolCallId (the id of the call it answers)',
      );
    }
    if (input.toolCalls && input.kind !== 'assistant') {
      throw new KernelError('EINVAL', `append: toolCalls belong on an assistant page, not "${input.kind}"`);
    }
    const importance = checkImportance(input.importance, 'append');
    // A result whose call is no longer resident (or answered twice) cannot be a tool message: it becomes
    // a note saying what it answers, so the prompt stays valid for every provider.
    const owner =
      input.kind === 'tool_result' && input.toolCallId ? unitForResult(ctx, input.toolCallId) : null;
    const orphan =
      input.kind === 'tool_result' && (!owner || owner.pages.some((p) => p.toolCallId === input.toolCallId));
    const text = contentText(input.content, 'append');
    const page = allocPage(
      ctx,
      this.clock(),
      orphan ? 'note' : input.kind,
      orphan ? `[result of ${input.name ?? 'tool'} call ${input.toolCallId}]\n${text}` : text,
      {
        ...(input.toolCalls?.length
          ? { toolCalls: input.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })) }
          : {}),
        ...(input.toolCallId && !orphan ? { toolCallId: input.toolCallId } : {}),
        ...(input.name ? { name: input.name } : {}),
        ...(importance !== undefined ? { importance } : {}),
        ...(input.kind === 'assistant' && input.reasoning ? { reasoning: input.reasoning } : {}),
        ...(input.kind === 'assistant' && input.reasoningBlocks?.length
          ? { reasoningBlocks: input.reasoningBlocks.map((b) => ({ ...b })) }
          : {}),
        ...(input.isError && !orphan ? { isError: true } : {}),
        ...(owner && !orphan ? callOf(owner, input.toolCallId) : {}),
      },
    );
    if (owner && !orphan) owner.pages.push(page);
    else ctx.history.push({ t: 'unit', unit: { key: ctx.seq, pages: [page] } });
    return page;
  }

  /** A tool's output; above the large-output threshold the page shows head and tail and stores the rest. */
  appendToolResult(
    pid: number | string,
    r: { toolCallId: string; name: string; output: string; importance?: number; isError?: boolean },
  ): Page {
    return this.append(pid, {
      kind: 'tool_result',
      content: r.output,
      toolCallId: r.toolCallId,
      name: r.name,
      ...(r.isError ? { isError: true } : {}),
      ...(r.importance !== undefined ? { importance: r.importance } : {}),
    });
  }

  // ── the step: prepare, render, observe ────────────────────────────────────────────────────────

  /**
   * Before a model call: prefetch a swapped page highly similar to the step, compact with hysteresis
   * (summaries from the summarizer), enforce the hard budget and write evicted pages to the store.
   */
  async prepare(pid: number | string, opts: { currentStep?: string } = {}): Promise<void> {
    const ctx = this.ctx(pid);
    if (ctx.busy)
      throw new KernelError('ESTATE', `prepare(${String(pid)}) is already running for this process`);
    ctx.busy = true;
    try {
      const query = opts.currentStep ? Float32Array.from(hashingEmbedding(opts.currentStep)) : null;
      if (query) await this.prefetch(ctx, query);
      const sim = this.similarity(query);
      // A resident page similar to the step counts as used by it: the frequency signal of the scorer.
      for (const e of ctx.history) {
        if (e.t === 'unit' && query && sim(e.unit) >= P.CTX_PREFETCH_SIMILARITY)
          for (const p of e.unit.pages) touch(ctx, p);
      }
      const plan = this.replacer.plan({
        units: unitViews(ctx, sim),
        used: usedTokens(ctx),
        budget: ctx.budget,
        step: ctx.step,
        stubCost: this.replacer.leavesStubs ? STUB_COST_ESTIMATE : 0,
      });
      ctx.order = plan.order ?? null;
      if (plan.evict.length > 0) {
        const victims = new Set(plan.evict);
        const summaries = this.replacer.leavesStubs ? await this.summarize(ctx, victims) : undefined;
        applyEviction(ctx, victims, this.replacer.leavesStubs, summaries);
      }
      ensureFits(ctx, this.replacer, sim);
      await this.flushCtx(ctx);
    } finally {
      ctx.busy = false;
    }
  }

  /**
   * The prompt for the next model call. Never exceeds the budget (evicts synchronously if appends since
   * `prepare` overflowed it). `record: false` peeks without counting a request in the cache metrics.
   */
  render(pid: number | string, opts: { record?: boolean } = {}): RenderResult {
    const ctx = this.ctx(pid);
    ensureFits(ctx, this.replacer, () => 0);
    const r = renderContext(ctx);
    const tokens = Math.ceil(r.rawTokens * ctx.calibration);
    if (tokens > ctx.budget)
      throw new KernelError(
        'EOVERFLOW',
        `render(${String(pid)}): ${tokens} tokens exceed the budget ${ctx.budget}`,
      );
    let cache: CacheObservation | null = null;
    if (opts.record !== false) {
      ctx.step++;
      cache = ctx.cache.observe(r.segments);
      accountRequest(ctx, cache, tokens);
    }
    return {
      messages: r.messages,
      // A shared tool list is deep-frozen (./tool-list.ts): handed out as it is, checked once by the gate.
      tools: Object.isFrozen(ctx.tools) ? ctx.tools : ctx.tools.map((t) => ({ ...t })),
      promptCacheKey: String(ctx.pid),
      tokens,
      stats: {
        rawTokens: r.rawTokens,
        tokens,
        budget: ctx.budget,
        utilisation: tokens / ctx.budget,
        staticTokens: r.staticTokens,
        messages: r.messages.length,
        stubs: ctx.history.filter((e) => e.t === 'stub').length,
        cache,
      },
    };
  }

  /** Calibrates the token estimate with the provider's count for the prompt rendered as `renderedTokens`. */
  observeUsage(pid: number | string, usage: LlmUsage, renderedTokens: number): void {
    const ctx = this.ctx(pid);
    if (!(renderedTokens > 0) || !(usage.input > 0)) return;
    const raw = renderedTokens / ctx.calibration;
    const ratio = usage.input / raw;
    const [lo, hi] = P.CTX_CALIBRATION_BOUNDS;
    ctx.calibration = Math.min(hi, Math.max(lo, 0.7 * ctx.calibration + 0.3 * ratio));
    ctx.counters.reportedInput += usage.input;
    ctx.counters.reportedCached += usage.cachedInput;
  }

  // ── page faults ───────────────────────────────────────────────────────────────────────────────

  /**
   * Pages a swapped (or large) page back in by id, or the best lexical match for a query. Returns the text
   * (at most CTX_RECALL_MAX_TOKENS; a footer gives the offset to read on). With `append` it is also
   * appended at the tail as a note; otherwise the caller (the recall tool) appends it as the tool result.
   */
  async recall(pid: number | string, input: RecallInput): Promise<string> {
    const ctx = this.ctx(pid);
    let id = input.pageId;
    if (!id) {
      if (!input.query) throw new KernelError('EINVAL', 'recall: give a pageId (from a stub) or a query');
      const q = Float32Array.from(hashingEmbedding(input.query));
      let best = -1;
      for (const s of ctx.swapped.values()) {
        const c = cosine(q, s.embedding);
        if (c > best) {
          best = c;
          id = s.id;
        }
      }
      if (!id || best <= 0) return `[recall: no paged-out page matches "${clipTokens(input.query, 30)}"]`;
    }
    const text = await this.pageText(ctx, id);
    const resident = this.findResident(ctx, id);
    const info = ctx.swapped.get(id);
    const win = readWindow(
      id,
      text,
      input.offset ?? 0,
      Math.min(P.CTX_RECALL_MAX_TOKENS, largeLimit(ctx) - 120),
      info?.tokens ?? resident?.fullTokens ?? resident?.tokens,
    );
    ctx.counters.faults++;
    if (resident) touch(ctx, resident);
    const label = info?.label ?? (resident ? `${resident.id} ${resident.kind}` : id);
    const out = `[page ${label}${input.offset ? `, from character ${input.offset}` : ''}]\n${win}`;
    if (input.append)
      this.append(pid, {
        kind: 'note',
        content: out,
        importance: info?.importance ?? DEFAULT_IMPORTANCE.note,
      });
    return out;
  }

  /** Writes the write-behind queue to the store (prepare does this; the kernel calls it before a checkpoint). */
  async flush(pid: number | string): Promise<void> {
    await this.flushCtx(this.ctx(pid));
  }

  // ── checkpoints ───────────────────────────────────────────────────────────────────────────────

  /** JSON-serialisable state for the process's checkpoint (includes text not yet flushed to the store). */
  exportState(pid: number | string): unknown {
    return exportContext(this.ctx(pid));
  }

  /**
   * Restores a context exported by exportState (replacing an open one for the same pid). `tools`: the list
   * the kernel derives for the process now (`io.tools`); a state that refers to its tools by hash needs it.
   */
  importState(pid: number | string, state: unknown, opts: { tools?: readonly ToolSpec[] } = {}): void {
    const ctx = importContext(pid, state, opts.tools);
    this.procs.set(String(pid), ctx);
  }

  // ── metrics ───────────────────────────────────────────────────────────────────────────────────

  metrics(pid: number | string): ContextMetrics {
    const ctx = this.ctx(pid);
    return computeMetrics(ctx, rawTokens(ctx));
  }

  globalMetrics(): GlobalContextMetrics {
    return sumMetrics(
      [...[...this.procs.values()].map((c) => computeMetrics(c, rawTokens(c))), ...this.closed.values()],
      this.procs.size,
    );
  }

  /** Open and closed processes' figures summed per model (contexts opened without a model: `unknown`). */
  modelMetrics(): Map<string, GlobalContextMetrics> {
    const by = new Map<string, { all: ContextMetrics[]; open: number }>();
    const slot = (model: string) => {
      const g = by.get(model) ?? { all: [], open: 0 };
      by.set(model, g);
      return g;
    };
    for (const c of this.procs.values()) {
      const g = slot(c.model ?? 'unknown');
      g.all.push(computeMetrics(c, rawTokens(c)));
      g.open++;
    }
    for (const [model, m] of this.closed) slot(model || 'unknown').all.push(m);
    return new Map([...by].map(([model, g]) => [model, sumMetrics(g.all, g.open)]));
  }

  pids(): string[] {
    return [...this.procs.keys()];
  }

  /** Ids of resident pages in render order of the history (tests, dashboards). */
  residentPageIds(pid: number | string): string[] {
    const ctx = this.ctx(pid);
    return ctx.history.flatMap((e) => (e.t === 'unit' ? e.unit.pages.map((p) => p.id) : []));
  }

  // ── the seeds' API ────────────────────────────────────────────────────────────────────────────

  /** Seeds: `allocate_page(agent_pid, content, importance)`; opens the process on first use. */
  allocatePage(pid: number | string, content: string, importance = 0.5): string {
    if (!this.has(pid)) this.open(pid, { contextWindow: this.maxContextTokens ?? 100_000, outputReserve: 0 });
    const page = this.append(pid, { kind: 'note', content, importance });
    ensureFits(this.ctx(pid), this.replacer, () => 0);
    return page.id;
  }

  /** Seeds: `access_page(page_id)`: the resident page (access counted), or null when swapped out or unknown. */
  accessPage(pageId: string): Page | null {
    const ctx = this.procs.get(pageId.slice(0, pageId.lastIndexOf('.')));
    if (!ctx) return null;
    const p = this.findResident(ctx, pageId);
    if (p) touch(ctx, p);
    return p;
  }

  /** Seeds: `get_agent_context(agent_pid)`: the rendered context as text, in layout order (not re-sorted). */
  getAgentContext(pid: number | string): string {
    return this.render(pid, { record: false })
      .messages.map((m) => m.content)
      .join('\n\n');
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────

  private ctx(pid: number | string): ProcContext {
    const ctx = this.procs.get(String(pid));
    if (!ctx)
      throw new KernelError(
        'ENOPROC',
        `no context is open for process ${String(pid)}; call open(pid, …) first`,
        { details: { pid } },
      );
    return ctx;
  }

  private findResident(ctx: ProcContext, id: string): Page | null {
    for (const p of [ctx.system, ctx.task, ...ctx.pinned]) if (p?.id === id) return p;
    for (const e of ctx.history) if (e.t === 'unit') for (const p of e.unit.pages) if (p.id === id) return p;
    return null;
  }

  private similarity(q: Float32Array | null): (u: Unit) => number {
    if (!q) return () => 0;
    return (u) => {
      const head = u.pages[0];
      return head ? cosine(q, embedOf(this.embeddings, head)) : 0;
    };
  }

  /** Full text of a page: resident content, the write-behind queue, or the store (a timed swap-in). */
  private async pageText(ctx: ProcContext, id: string): Promise<string> {
    const pending = ctx.pending.get(id);
    if (pending) return pending.content;
    const resident = this.findResident(ctx, id);
    if (resident && resident.fullTokens === undefined) return resident.content;
    const t0 = performance.now();
    const stored = await this.store.get(ctx.pid, id);
    ctx.counters.swapInMs.push(performance.now() - t0);
    if (ctx.counters.swapInMs.length > 1024) ctx.counters.swapInMs.shift();
    if (!stored) {
      throw new KernelError(
        'ENOTFOUND',
        `page ${id} of process ${String(ctx.pid)} is not resident and not in the page store (${this.store.name}); check the id in the stub`,
        {
          details: { pid: ctx.pid, pageId: id },
        },
      );
    }
    return stored.content;
  }

  private async prefetch(ctx: ProcContext, q: Float32Array): Promise<void> {
    const cands: Array<{ id: string; c: number; e: Float32Array }> = [];
    for (const s of ctx.swapped.values()) {
      if (ctx.prefetched.has(s.id)) continue;
      const c = cosine(q, s.embedding);
      if (c >= P.CTX_PREFETCH_SIMILARITY) cands.push({ id: s.id, c, e: s.embedding });
    }
    if (cands.length === 0) return;
    cands.sort((a, b) => b.c - a.c);
    // A page whose text is already in the window (a file read again, say) is not worth its tokens: on
    // recorded kernel runs such duplicates were most prefetches, and their tokens forced extra evictions.
    const resident = ctx.history.flatMap((e) => (e.t === 'unit' ? e.unit.pages : []));
    const bestId = cands
      .slice(0, 3)
      .find(
        (x) => !resident.some((p) => cosine(x.e, embedOf(this.embeddings, p)) >= P.CTX_PREFETCH_DUPLICATE),
      )?.id;
    if (!bestId) return;
    ctx.prefetched.add(bestId);
    ctx.counters.prefetches++;
    await this.recall(ctx.pid, { pageId: bestId, append: true });
  }

  private async summarize(ctx: ProcContext, victims: ReadonlySet<number>): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const run of victimRuns(ctx, victims)) {
      let s: string;
      try {
        s = clipTokens(
          await this.summarizer.summarize(spanPages(ctx, run), {
            maxTokens: P.CTX_SUMMARY_MAX_TOKENS,
            pid: ctx.pid,
          }),
          P.CTX_SUMMARY_MAX_TOKENS,
        );
        ctx.counters.summaries++;
      } catch (err) {
        ctx.counters.summarizerFailures++;
        log.warnOnce(
          `summarizer:${this.summarizer.name}`,
          'summarizer failed; using the extractive fallback',
          { error: err instanceof Error ? err.message : String(err) },
        );
        continue;
      }
      for (const e of run) if (e.t === 'unit') out.set(e.unit.key, s);
    }
    return out;
  }

  private async flushCtx(ctx: ProcContext): Promise<void> {
    if (ctx.pending.size === 0) return;
    const batch = [...ctx.pending.values()];
    await this.store.put(ctx.pid, batch);
    for (const p of batch) if (ctx.pending.get(p.pageId) === p) ctx.pending.delete(p.pageId);
  }
}
