/**
 * The per-process page table: the static prefix (tools, system + pinned, task), the append-only history
 * of message units and stubs, the swapped-page directory and the write-behind queue to the page store.
 * Plain data plus the mechanisms that edit it (append into units, collapse victims into stubs); policy
 * lives in ./replacer.ts, layout in ./render.ts, the public API in ./manager.ts.
 */
import type { ToolCall, ToolSpec } from '../llm/model.js';
import * as P from '../param.js';
import { sha256Hex } from '../util/canonical.js';
import type { PromptCacheModel } from './cache-model.js';
import { callLabel, describePage, messageTokens, oneLine, type Page, type PageKind } from './page.js';
import type { StoredPage } from './store.js';
import { buildStub, type StubEntry } from './summarizer.js';

/** One history message, or an assistant turn with tool calls plus its tool results (evicted together). */
export interface Unit {
  key: number;
  pages: Page[];
}

export interface Stub {
  key: number;
  entries: StubEntry[];
  summary: string;
  text: string;
  tokens: number;
  hash: string;
}

export type Entry = { t: 'unit'; unit: Unit } | { t: 'stub'; stub: Stub };

/** What the page table remembers about a page that left the window (its text is in the store). */
export interface SwappedInfo {
  id: string;
  kind: PageKind;
  name?: string;
  toolCalls?: ToolCall[];
  toolCallId?: string;
  label: string;
  line: string;
  /** Tokens of the full text. */
  tokens: number;
  importance: number;
  embedding: Float32Array;
}

export interface Price {
  input: number;
  cachedInput: number;
  cacheWrite: number;
}

export type CacheRule = 'openai' | 'vllm' | 'anthropic';

export interface Counters {
  renders: number;
  utilisationSum: number;
  evictionEvents: number;
  evictedPages: number;
  evictedTokens: number;
  faults: number;
  prefetches: number;
  summaries: number;
  summarizerFailures: number;
  costUsd: number;
  costUncachedUsd: number;
  /** Provider-reported input and cached input (observeUsage), to compare with the cache model. */
  reportedInput: number;
  reportedCached: number;
  swapInMs: number[];
}

export function newCounters(): Counters {
  return {
    renders: 0,
    utilisationSum: 0,
    evictionEvents: 0,
    evictedPages: 0,
    evictedTokens: 0,
    faults: 0,
    prefetches: 0,
    summaries: 0,
    summarizerFailures: 0,
    costUsd: 0,
    costUncachedUsd: 0,
    reportedInput: 0,
    reportedCached: 0,
    swapInMs: [],
  };
}

export interface ProcContext {
  pid: number | string;
  /** The model the process runs on (metrics per model); null when opened without one. */
  model: string | null;
  window: number;
  reserve: number;
  budget: number;
  tools: ToolSpec[];
  toolsJson: string;
  /** sha256 of toolsJson (32 hex), '' without tools: the prompt segment's hash and the checkpoint's reference. */
  toolsHash: string;
  /**
   * The tool list is the one the kernel derives for the process (`io.tools`): checkpoints then carry only
   * toolsHash, and importState is given the list again (manager.importState `tools`).
   */
  toolsByRef: boolean;
  toolsTokens: number;
  system: Page | null;
  task: Page | null;
  pinned: Page[];
  /** Tokens of the system message (system text + pinned pages), counted when either changes. */
  systemTokens: number;
  systemText: string;
  systemHash: string;
  history: Entry[];
  seq: number;
  step: number;
  /** Provider-reported input tokens / our estimate (EMA), applied to every budget check. */
  calibration: number;
  swapped: Map<string, SwappedInfo>;
  /** Full texts not yet written to the store (write-behind; flushed by prepare/flush). */
  pending: Map<string, StoredPage>;
  prefetched: Set<string>;
  cache: PromptCacheModel;
  cacheRule: CacheRule;
  price: Price | null;
  counters: Counters;
  /** Baselines' render order (unit keys); null = history order. */
  order: number[] | null;
  busy: boolean;
}

export function unitTokens(u: Unit): number {
  let n = 0;
  for (const p of u.pages) n += p.tokens;
  return n + missingResults(u).length * missingResultTokens();
}

/** A tool call whose result has not been appended is answered with a fixed note so the prompt stays valid. */
export const MISSING_RESULT_TEXT = '[no result recorded for this call]';
let missingTokens = -1;
export function missingResultTokens(): number {
  if (missingTokens < 0) missingTokens = messageTokens(MISSING_RESULT_TEXT) + P.CTX_MESSAGE_OVERHEAD_TOKENS;
  return missingTokens;
}

export function missingResults(u: Unit): ToolCall[] {
  const head = u.pages[0];
  if (!head?.toolCalls?.length) return [];
  const have = new Set(u.pages.slice(1).map((p) => p.toolCallId));
  return head.toolCalls.filter((c) => !have.has(c.id));
}

export function entryTokens(e: Entry): number {
  return e.t === 'unit' ? unitTokens(e.unit) : e.stub.tokens;
}

export function makeStub(key: number, entries: StubEntry[], summary: string): Stub {
  const text = buildStub(entries, summary || undefined);
  return {
    key,
    entries,
    summary,
    text,
    tokens: messageTokens(text),
    hash: sha256Hex(`stub\u0000${text}`).slice(0, 32),
  };
}

export function stubEntry(p: Page): StubEntry {
  // An assistant turn that only called tools has no text: its line says what it called.
  const line =
    p.kind === 'assistant' && !p.content.trim() && p.toolCalls?.length
      ? `called ${p.toolCalls.map((c) => callLabel(c)).join(', ')}`
      : oneLine(p.content);
  return { id: p.id, label: describePage(p), line, tokens: p.fullTokens ?? p.tokens };
}

/** Finds the unit an arriving tool result belongs to (newest first); null when its call was evicted. */
export function unitForResult(ctx: ProcContext, toolCallId: string): Unit | null {
  for (let i = ctx.history.length - 1; i >= 0; i--) {
    const e = ctx.history[i];
    if (e?.t !== 'unit') continue;
    const head = e.unit.pages[0];
    if (head?.toolCalls?.some((c) => c.id === toolCallId)) return e.unit;
  }
  return null;
}
