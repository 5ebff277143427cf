/**
 * Public entry of agent-os-kernel. Named exports only; each subsystem adds its public names in its section.
 */

// ── errors, params, config ──
export { KernelError, KernelPanic, panic, ERROR_CODES, type KernelErrorCode } from './errors.js';
export * as param from './param.js';
export { loadConfig, parseConfig, parseConfigText, type LoadedConfig } from './config/load.js';
export type { AosConfig, AosConfigInput } from './config/schema.js';
export { CONFIG_TEMPLATE } from './config/template.js';
export { canonicalJson, sha256Hex } from './util/canonical.js';
export { redact } from './util/redact.js';

// ── storage ──
export type { StorageDriver, StorageCapabilities, Queryable, QueryResult } from './storage/driver.js';
export { openStorage, parseStorageUrl, type OpenStorageOptions } from './storage/open.js';
export { createStorage, storageOn, type Storage, type CreateStorageOptions } from './storage/storage.js';
export { PgliteDriver } from './storage/pglite/pglite-driver.js';
export { PostgresDriver } from './storage/postgres/postgres-driver.js';
export { migrate, MIGRATIONS, type Migration } from './storage/migrations/index.js';
export { StateStore } from './storage/state/state-store.js';
export type * from './storage/state/types.js';
export { ZERO_USAGE, PROCESS_STATES } from './storage/state/types.js';
export {
  AuditLog,
  auditHash,
  type AuditEntry,
  type AuditEntryInput,
  type AuditHead,
  type VerifyResult,
} from './storage/audit/audit-log.js';
export {
  Coordination,
  MAILBOX_CHANNEL,
  type Lease,
  type MailMessage,
  type QueueItem,
} from './storage/coordination/coordination.js';
export {
  MemoryStore,
  type MemoryHit,
  type MemoryInput,
  type MemoryRecord,
  type MemorySearch,
} from './storage/memory/memory-store.js';
export { HashingEmbedder, type Embedder } from './storage/memory/embedder.js';
export { VectorStore, type VectorHit, type VectorItem, type ExactStrategy } from './storage/vectors/vector-store.js';

// ── llm ──
export type {
  ChatMessage,
  ChatRequest,
  ChatResponse,
  LlmUsage,
  Model,
  ModelProvider,
  StreamEvent,
  ToolCall,
  ToolSpec,
  ToolChoice,
  FinishReason,
  EmbeddingModel,
} from './llm/model.js';
export { LLMProviderFactory, ModelRegistry, type LLMConfig, type ModelInfo, type FactoryOptions } from './llm/factory.js';
export { PRESETS, findPreset, type Preset, type PresetQuirks, type UsageDialect } from './llm/presets.js';
export { CATALOG, findModel, type CatalogEntry, type ModelPrice } from './llm/catalog.js';
export { normaliseOpenAiUsage, normaliseAnthropicUsage, addUsage, costUsd } from './llm/usage.js';
export { placeCacheBreakpoints, ANTHROPIC_MAX_BREAKPOINTS } from './llm/cache-hints.js';
export { OpenAiCompatibleProvider } from './llm/openai-compatible/openai-compatible-provider.js';
export { AnthropicProvider } from './llm/anthropic/anthropic-provider.js';
export { ResilientModel } from './llm/resilience/resilient-model.js';
export { FallbackModel } from './llm/resilience/fallback-model.js';
export { CircuitBreaker, type CircuitState } from './llm/resilience/circuit.js';
export { SimulatedProvider } from './llm/simulated/simulated-provider.js';
export { SimEngine, type SimulatorOptions, type FailureKind } from './llm/simulated/engine.js';
export { createSimulator, type SimulatorHandle } from './llm/simulated/server.js';
export { reactPolicy, type Policy, type SimTurn } from './llm/simulated/policy.js';
export type { Scenario, ScriptedTurn } from './llm/simulated/scenario.js';
export { PrefixCache, BreakpointCache } from './llm/simulated/prefix-cache.js';

// ── kernel ──
export { Kernel, createKernel, type KernelOptions, type SpawnOptions, type ProcessInfo, type KernelStatus } from './kernel/kernel.js';
export { type AgentProgram, type StepResult, type StepRecord, continueWith, done, fail } from './kernel/program.js';
export type { Sys, SyscallName, SyscallArgs, SyscallResults } from './kernel/syscalls.js';
export type { ContextHandle } from './kernel/context-binding.js';
export { reactProgram, REACT_SYSTEM_PROMPT } from './kernel/react.js';
export { type ModelResolver, resolverFromProvider, createModelResolver } from './kernel/model-resolver.js';
export { HookBus, Hooks, type HookName, type HookEvents } from './hooks/bus.js';
export type { KernelPlugin } from './hooks/plugins.js';
export type { ProcessState, WaitReason } from './kernel/pcb.js';

// ── scheduler ──
export {
  Scheduler,
  createPolicy,
  type CallUsage,
  type DispatchSample,
  type Grant,
  type QuotaDenial,
  type SchedEntity,
  type SchedulerHooks,
  type SchedulerOptions,
  type SchedulerStats,
} from './scheduler/scheduler.js';
export type { Clock, Pid, Rank, RunQueue, SchedPolicy, SchedRecord } from './scheduler/policy.js';
export { FairPolicy } from './scheduler/policies/fair-policy.js';
export { FifoPolicy } from './scheduler/policies/fifo-policy.js';
export { RoundRobinPolicy } from './scheduler/policies/round-robin-policy.js';
export { RateLimiter, RateLimits, type RateLimit } from './scheduler/ratelimit.js';
export {
  budgetHeadroom,
  checkBudget,
  emptyUsage,
  parseBudget,
  type Budget,
  type BudgetAction,
  type BudgetExceeded,
  type BudgetKind,
  type BudgetUsage,
} from './scheduler/budget.js';
export { schedulerOptionsFromConfig } from './scheduler/config.js';
export { Dispatcher, type SetTimer } from './scheduler/dispatcher.js';

// ── context ──
export {
  ContextManager,
  type ContextManagerOptions,
  type OpenOptions as ContextOpenOptions,
  type AppendInput,
  type RenderResult,
  type RenderStats,
  type RecallInput,
} from './context/manager.js';
export type { Page, PageKind, AppendKind } from './context/page.js';
export { MemoryPageStore, type PageStore, type StoredPage } from './context/store.js';
export { SqlPageStore } from './context/sql-page-store.js';
export {
  ScoredReplacer,
  SeedsReplacer,
  AppendOnlyReplacer,
  replacerByName,
  type Replacer,
  type ReplacementInput,
  type ReplacementPlan,
  type UnitView,
} from './context/replacer.js';
export { ExtractiveSummarizer, type Summarizer, type SpanPage } from './context/summarizer.js';
export { PromptCacheModel, openaiCachedTokens, vllmCachedTokens, type CacheObservation, type Segment } from './context/cache-model.js';
export { registerContextMetrics, type ContextMetrics, type GlobalContextMetrics } from './context/metrics.js';
export { RECALL_TOOL, runRecallTool } from './context/recall-tool.js';
export { contextManagerFromConfig } from './context/from-config.js';
export { runWorkload, type WorkloadOptions, type WorkloadResult } from './context/workload.js';

// ── io / security ──
export {
  defineTool,
  fullToolName,
  idempotencyKey,
  PERMISSIONS,
  type AnyTool,
  type Permission,
  type SyscallPort,
  type Tool,
  type ToolContext,
  type ToolResult,
} from './io/tool.js';
export { ToolRegistry, toWireName, toolMatches, type ToolFilter } from './io/registry.js';
export {
  ToolExecutor,
  type AuditSink,
  type OutputPager,
  type ToolCallRequest,
  type ToolExecutorOptions,
  type ToolHooks,
} from './io/executor.js';
export { createToolContext, syscallPort, type SyscallTable, type ToolContextOptions } from './io/context.js';
export { MemoryIdempotencyStore, SqlIdempotencyStore, type IdempotencyStore } from './io/idempotency.js';
export { builtinTools } from './io/builtin/index.js';
export { evaluate as evaluateExpression } from './io/builtin/calculator.js';
export { COMMON_CLI_TOOLS, buildArgv, defineCliTool, type CliToolDeclaration } from './io/cli-tool.js';
export { McpServerConnection, type McpServerSpec, type McpState } from './io/mcp/client.js';
export { McpManager, type McpServerStatus } from './io/mcp/manager.js';
export {
  SecurityPolicy,
  PERMISSION_LEVELS,
  type PermissionLevel,
  type ResourceLimits,
  type SecurityPolicyOptions,
  type ToolDecision,
} from './security/policy.js';
export type { Sandbox, SandboxCapabilities, SandboxRequest, SandboxResult, WrappedCommand } from './security/sandbox.js';
export { BubblewrapSandbox } from './security/sandbox/bubblewrap.js';
export { NoSandbox } from './security/sandbox/none.js';
export { DockerSandbox } from './security/sandbox/docker.js';
export { createSandbox, type SandboxKind } from './security/sandbox/select.js';
export {
  ApprovalManager,
  type ApprovalDecision,
  type ApprovalGate,
  type ApprovalRequest,
  type PendingApproval,
} from './security/approvals.js';
export { ToolLimiter, type ToolLimitOptions } from './security/limits.js';
export { AuditAnchors, verifyWithAnchors, assertIntact, type Anchor, type AnchoredVerifyResult } from './security/anchors.js';
export { processTimeline, replayToolCalls, type ReplayReport, type TimelineEntry } from './security/replay.js';

// ── api ──
export { createServer, isLoopback, type ApiServer, type ServerOptions } from './api/server.js';
export { TokenStore, ROLES, roleAllows, type Principal, type Role, type TokenInfo } from './api/auth.js';
export { EventHub, EVENT_TYPES, type EventType } from './api/events.js';
export { buildOpenApi, openApiMarkdown } from './api/openapi.js';
export { httpStatus, toHttpError, type ErrorBody } from './api/errors.js';
export { summarize as metricsSummary, type Summary as MetricsSummary } from './api/summary.js';
export { describeContextState, type ContextView, type PageView } from './api/context-view.js';
export { DEMO_AGENTS, spawnDemoAgents, type DemoAgent } from './api/demo.js';

// ── learning (the seeds' names; the rest under agent-os-kernel/learning) ──
export { TrajectoryRecorder, AgentOptimizer } from './learning/recorder.js';
export { Learning } from './learning/learning.js';
export { loadSuite, runEval, type EvalReport, type EvalSuite } from './learning/eval.js';
export type { Analysis, Suggestion } from './learning/analyze.js';
export type { Trajectory, TrajectoryStep } from './learning/trajectory.js';
