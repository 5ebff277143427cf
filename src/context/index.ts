/**
 * `agent-os-kernel/context`: the context window as virtual memory — pages, the page table, replacement,
 * prompt layout, the recall tool, cache metrics and the workload simulator. A third-party PageStore runs
 * pageStoreCases from `agent-os-kernel/testing`.
 */

export {
  type CacheObservation,
  openaiCachedTokens,
  PromptCacheModel,
  type Segment,
  vllmCachedTokens,
} from './cache-model.js';
export { contextManagerFromConfig } from './from-config.js';
export {
  type AppendInput,
  ContextManager,
  type ContextManagerOptions,
  type OpenOptions as ContextOpenOptions,
  type RecallInput,
  type RenderResult,
  type RenderStats,
} from './manager.js';
export { type ContextMetrics, type GlobalContextMetrics, registerContextMetrics } from './metrics.js';
export type { AppendKind, Page, PageKind } from './page.js';
export { RECALL_TOOL, runRecallTool } from './recall-tool.js';
export {
  AppendOnlyReplacer,
  type ReplacementInput,
  type ReplacementPlan,
  type Replacer,
  replacerByName,
  ScoredReplacer,
  SeedsReplacer,
  type UnitView,
} from './replacer.js';
export { SqlPageStore } from './sql-page-store.js';
export { MemoryPageStore, type PageStore, type StoredPage } from './store.js';
export { ExtractiveSummarizer, type SpanPage, type Summarizer } from './summarizer.js';
export { runWorkload, type WorkloadOptions, type WorkloadResult } from './workload.js';
