/**
 * The gateway's one internal vocabulary: what a caller asked for (GatewayCall), whichever dialect it spoke.
 * Both wire modules (./openai-wire.ts, ./anthropic-wire.ts) parse into it and render out of the kernel's
 * ChatResponse / StreamEvent (src/llm/model.ts), so the pipeline in ./gateway.ts never sees a vendor's JSON.
 */
import type { ChatRequest, ChatResponse } from '../llm/model.js';
import type { StoredResponse } from './response-store.js';

export type Dialect = 'openai' | 'anthropic';

/** The llm.chat syscall's arguments, exactly as the gateway's program passes them through the gate. */
export type GatewayChat = Pick<
  ChatRequest,
  | 'messages'
  | 'tools'
  | 'toolChoice'
  | 'temperature'
  | 'maxOutputTokens'
  | 'stop'
  | 'topP'
  | 'topK'
  | 'seed'
  | 'frequencyPenalty'
  | 'presencePenalty'
  | 'reasoningEffort'
  | 'parallelToolCalls'
  | 'endUser'
  | 'responseFormat'
>;

export interface GatewayCall {
  dialect: Dialect;
  /** The model name the caller asked for (a configured name or alias). */
  model: string;
  chat: GatewayChat;
  stream: boolean;
  /** OpenAI `stream_options.include_usage`. */
  includeUsage: boolean;
  /** Body fields that may name the session when config.gateway.session_from allows them. */
  hints: { user?: string; promptCacheKey?: string; metadataUserId?: string };
  /**
   * A Responses API call to store (`store` omitted or true): its id, and the stored row its answer makes
   * (rendered by the wire layer, so the gateway never sees the dialect's JSON).
   */
  store?: { id: string; record(r: ChatResponse): StoredResponse };
}

/** An embeddings call (POST /v1/embeddings): made through the gate as `llm.embed` by the session's process. */
export interface EmbedCall {
  model: string;
  input: string[];
  dimensions?: number;
}
