/**
 * The model seam (the kernel's CPU): two small interfaces, `ModelProvider` and `Model`. Vendors implement
 * them in ./openai-compatible, ./anthropic and ./simulated. Everything here is plain data so requests and
 * responses can be logged, audited, replayed and checkpointed.
 */

import type { ProcessUsage } from '../abi.js';
export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  id: string;
  name: string;
  /** Raw JSON text of the arguments exactly as the model produced it (may be malformed). */
  arguments: string;
}

export interface ChatMessage {
  role: Role;
  content: string;
  /** Assistant turns: tool calls the model made. */
  toolCalls?: ToolCall[];
  /** Tool turns: which call this result answers. */
  toolCallId?: string;
  /** Tool turns: the tool's name (some dialects want it). */
  name?: string;
  /**
   * Assistant turns: the model's reasoning (DeepSeek/Kimi `reasoning_content`, MiniMax `<think>`, the text
   * of Anthropic thinking blocks). Sent back where the vendor's rules say (./wire-rules.ts).
   */
  reasoning?: string;
  /** Assistant turns: Anthropic thinking blocks exactly as received (signatures must round-trip unmodified). */
  reasoningBlocks?: ReasoningBlock[];
  /** Tool turns: the tool failed (Anthropic `is_error: true`). */
  isError?: boolean;
  /** Place a prompt-cache breakpoint after this message (Anthropic-style `cache_control`). */
  cacheBreakpoint?: boolean;
}

/** A vendor's opaque reasoning block, kept verbatim so it can be sent back (Anthropic thinking). */
export type ReasoningBlock =
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string };

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments (generated from zod). */
  parameters: Record<string, unknown>;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/**
 * Structured output: the answer's content is JSON — any object (`json_object`, OpenAI's JSON mode) or one
 * that validates against `schema` (`json_schema`, OpenAI's Structured Outputs). `name` identifies the schema
 * to the vendor (OpenAI: ^[A-Za-z0-9_-]{1,64}$); `strict` asks for schema-constrained decoding where the
 * vendor makes it optional; `description` tells the model what the format is for.
 */
export type ResponseFormat =
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      name: string;
      schema: Record<string, unknown>;
      strict?: boolean;
      description?: string;
    };

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ToolSpec[];
  toolChoice?: ToolChoice;
  temperature?: number;
  maxOutputTokens?: number;
  /**
   * Sampling and output controls a caller may set (the gateway forwards its callers' values). Each provider
   * adapter maps them to its vendor's wire field, or refuses one its vendor has no field for (EUNSUPPORTED,
   * naming it) — never drops it: stop → OpenAI `stop` / Anthropic `stop_sequences`; topP → `top_p`; topK →
   * Anthropic `top_k`; seed, frequencyPenalty, presencePenalty, reasoningEffort → OpenAI's fields of those
   * names; parallelToolCalls → OpenAI `parallel_tool_calls` / Anthropic `disable_parallel_tool_use`;
   * endUser → OpenAI `user` / Anthropic `metadata.user_id`.
   */
  stop?: string[];
  topP?: number;
  topK?: number;
  seed?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  reasoningEffort?: 'minimal' | 'low' | 'medium' | 'high';
  parallelToolCalls?: boolean;
  endUser?: string;
  /**
   * The answer's format (absent: text). Mapped like the fields above, per the vendor's rule in
   * ./wire-rules.ts (`structured`): OpenAI-compatible → `response_format`; Anthropic → `output_config.format`
   * (json_schema only). A type the vendor has no mode for is refused (EUNSUPPORTED naming response_format and
   * what to send instead) — never dropped, never degraded to the other type.
   */
  responseFormat?: ResponseFormat;
  /** Routes requests with the same prefix to the same cache (OpenAI, Kimi). The kernel uses the pid. */
  promptCacheKey?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Opaque tags for logs and audit (pid, step). Never sent to the provider. */
  tags?: Record<string, string | number>;
  /**
   * Streams only: a stream cut after its first delta is retried as a whole call (a `restart` event tells
   * the consumer to drop what it received) instead of failing. Only for consumers that can take a delta
   * back — the kernel's event stream can, a gateway client already holding the text cannot.
   */
  restartable?: boolean;
}

/**
 * Normalised token usage. `input` counts every prompt token, cached or not (OpenAI's semantics; for
 * Anthropic the normaliser adds cache reads and writes back in). `cachedInput` and `cacheWrite` are
 * subsets of `input`; `reasoning` is a subset of `output`.
 */
export interface LlmUsage {
  input: number;
  cachedInput: number;
  cacheWrite: number;
  output: number;
  reasoning: number;
}

/**
 * A provider-reported usage in the kernel's one usage shape (src/abi.ts): the only place the two meet.
 * One model call; its cost and LLM time come from the caller.
 */
export function callUsage(u: LlmUsage, o: { cost: number; llmMs: number }): ProcessUsage {
  return {
    tokensIn: u.input,
    tokensCached: u.cachedInput,
    tokensOut: u.output,
    apiCalls: 1,
    toolCalls: 0,
    cost: o.cost,
    llmMs: o.llmMs,
  };
}

export type FinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter' | 'error';

export interface ChatResponse {
  model: string;
  provider: string;
  content: string;
  reasoning?: string;
  reasoningBlocks?: ReasoningBlock[];
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  /** finishReason `stop` because of one of the request's stop sequences, when the vendor says which (Anthropic). */
  stopSequence?: string;
  usage: LlmUsage;
  /** Cost in USD from the model catalogue (0 when the model has no price). */
  costUsd: number;
  latencyMs: number;
  /**
   * The part of `usage` and `costUsd` the kernel estimated, no provider reported: the attempts of a
   * restarted stream that were cut after their first delta (billed, never reported; src/kernel/llm-stream.ts).
   */
  estimated?: { usage: LlmUsage; costUsd: number; attempts: number };
}

export type StreamEvent =
  | { type: 'text'; delta: string }
  | { type: 'reasoning'; delta: string }
  | { type: 'tool_call'; index: number; id?: string; name?: string; argumentsDelta: string }
  /**
   * A restartable stream was cut after it had yielded deltas: everything received since the call began is
   * void, and the whole call is being made again (attempt n, 1-based, of the retry policy).
   */
  | { type: 'restart'; attempt: number; error: { code: string; message: string } }
  | { type: 'done'; response: ChatResponse };

export interface Model {
  readonly id: string;
  readonly provider: string;
  chat(req: ChatRequest): Promise<ChatResponse>;
  /** Streams deltas; the last event is always `done` with the assembled response. */
  stream(req: ChatRequest): AsyncIterable<StreamEvent>;
  /**
   * Throws what chat() and stream() would refuse `req` with before sending anything (EUNSUPPORTED: a field
   * this vendor has no parameter for; EINVAL: a request its wire cannot express), else returns. Pure — no
   * I/O, no state — so the kernel runs it before a call reserves budget, an LLM slot and rate tokens and
   * waits its turn for them (src/kernel/services.ts, src/gateway/gateway.ts). The adapter's body builder
   * runs the same check, so the two cannot disagree; a wrapper asks the model it calls first.
   */
  validate(req: ChatRequest): void;
}

export interface EmbeddingModel {
  readonly id: string;
  readonly dimensions: number;
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>;
}

/** Per-model settings from config (llms.models[]): what every request to this model defaults to. */
export interface ModelOptions {
  /** max_tokens sent when a request names none (already capped by the catalogue). */
  maxOutputTokens?: number;
  /** Anthropic extended thinking: budget_tokens (absent = thinking off). */
  thinkingBudget?: number;
}

export interface ModelProvider {
  readonly name: string;
  model(id: string, opts?: ModelOptions): Model;
  embeddings?(id: string): EmbeddingModel;
}

export const ZERO_USAGE: Readonly<LlmUsage> = Object.freeze({
  input: 0,
  cachedInput: 0,
  cacheWrite: 0,
  output: 0,
  reasoning: 0,
});
