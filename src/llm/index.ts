/**
 * `agent-os-kernel/llm`: the ModelProvider seam, the OpenAI-compatible and Anthropic providers (their SDKs
 * load on the first request), presets, the catalogue, usage and cache hints, resilience wrappers and the
 * simulator. A third-party provider runs providerConformance from `agent-os-kernel/testing`.
 */

export { type AnthropicOptions, AnthropicProvider } from './anthropic/anthropic-provider.js';
export { ANTHROPIC_MAX_BREAKPOINTS, placeCacheBreakpoints } from './cache-hints.js';
export { CATALOG, type CatalogEntry, findModel, type ModelPrice } from './catalog.js';
export {
  type FactoryOptions,
  type LLMConfig,
  LLMProviderFactory,
  type ModelInfo,
  ModelRegistry,
} from './factory.js';
export type {
  ChatMessage,
  ChatRequest,
  ChatResponse,
  EmbeddingModel,
  FinishReason,
  LlmUsage,
  Model,
  ModelProvider,
  ResponseFormat,
  StreamEvent,
  ToolCall,
  ToolChoice,
  ToolSpec,
} from './model.js';
export {
  type OpenAiCompatibleOptions,
  OpenAiCompatibleProvider,
} from './openai-compatible/openai-compatible-provider.js';
export { findPreset, PRESETS, type Preset, type PresetQuirks, type UsageDialect } from './presets.js';
export { CircuitBreaker, type CircuitState } from './resilience/circuit.js';
export { FallbackModel } from './resilience/fallback-model.js';
export { ResilientModel } from './resilience/resilient-model.js';
export { type FailureKind, SimEngine, type SimulatorOptions } from './simulated/engine.js';
export { type Policy, reactPolicy, type SimTurn } from './simulated/policy.js';
export { BreakpointCache, PrefixCache } from './simulated/prefix-cache.js';
export type { Scenario, ScriptedTurn } from './simulated/scenario.js';
export { createSimulator, type SimulatorHandle, type SimulatorServerOptions } from './simulated/server.js';
export { SimulatedProvider } from './simulated/simulated-provider.js';
export { countTokens } from './tokenizer.js';
export { addUsage, costUsd, normaliseAnthropicUsage, normaliseOpenAiUsage } from './usage.js';
