/**
 * The model seam (the kernel's CPU): two small interfaces, `ModelProvider` and `Model`. Vendors implement
 * them in ./openai-compatible, ./anthropic and ./simulated. Everything here is plain data so requests and
 * responses can be logged, audited, replayed and checkpointed.
 */

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
  /** Assistant turns: reasoning text (DeepSeek `reasoning_content`); sent back when a dialect needs it. */
  reasoning?: string;
  /** Place a prompt-cache breakpoint after this message (Anthropic-style `cache_control`). */
  cacheBreakpoint?: boolean;
}

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments (generated from zod). */
  parameters: Record<string, unknown>;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ToolSpec[];
  toolChoice?: ToolChoice;
  temperature?: number;
  maxOutputTokens?: number;
  /** Routes requests with the same prefix to the same cache (OpenAI, Kimi). The kernel uses the pid. */
  promptCacheKey?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Opaque tags for logs and audit (pid, step). Never sent to the provider. */
  tags?: Record<string, string | number>;
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

export type FinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter' | 'error';

export interface ChatResponse {
  model: string;
  provider: string;
  content: string;
  reasoning?: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: LlmUsage;
  /** Cost in USD from the model catalogue (0 when the model has no price). */
  costUsd: number;
  latencyMs: number;
}

export type StreamEvent =
  | { type: 'text'; delta: string }
  | { type: 'reasoning'; delta: string }
  | { type: 'tool_call'; index: number; id?: string; name?: string; argumentsDelta: string }
  | { type: 'done'; response: ChatResponse };

export interface Model {
  readonly id: string;
  readonly provider: string;
  chat(req: ChatRequest): Promise<ChatResponse>;
  /** Streams deltas; the last event is always `done` with the assembled response. */
  stream(req: ChatRequest): AsyncIterable<StreamEvent>;
}

export interface EmbeddingModel {
  readonly id: string;
  readonly dimensions: number;
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>;
}

export interface ModelProvider {
  readonly name: string;
  model(id: string): Model;
  embeddings?(id: string): EmbeddingModel;
}

export const ZERO_USAGE: Readonly<LlmUsage> = Object.freeze({
  input: 0,
  cachedInput: 0,
  cacheWrite: 0,
  output: 0,
  reasoning: 0,
});
