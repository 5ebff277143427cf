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
} from './llm/model.js';

// ── kernel ──

// ── context ──

// ── io / security ──
