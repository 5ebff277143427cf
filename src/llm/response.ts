/**
 * Assembling a ChatResponse, shared by every provider: usage → cost from the catalogue, and the check that
 * turns malformed model output (tool-call arguments that are not a JSON object) into a clear EINVAL instead
 * of a crash three layers later in the tool executor.
 */
import { KernelError } from '../errors.js';
import { logger } from '../util/log.js';
import { findModel } from './catalog.js';
import type { ChatResponse, FinishReason, LlmUsage, ReasoningBlock, ToolCall } from './model.js';
import { findPreset } from './presets.js';
import { costFor } from './usage.js';

const log = logger('llm');

export function mapFinishReason(r: string | null | undefined, hasToolCalls: boolean): FinishReason {
  switch (r) {
    case 'tool_calls':
    case 'function_call':
    case 'tool_use':
      return 'tool_calls';
    case 'length':
    case 'max_tokens':
      return 'length';
    case 'content_filter':
    case 'refusal':
      return 'content_filter';
    default:
      return hasToolCalls ? 'tool_calls' : 'stop';
  }
}

export interface Assembled {
  model: string;
  provider: string;
  /** Id used for the price lookup (what the caller asked for; the wire may echo a different one). */
  catalogId: string;
  content: string;
  reasoning?: string;
  reasoningBlocks?: ReasoningBlock[];
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  /** The stop sequence that ended the output, when the vendor names it (Anthropic `stop_sequence`). */
  stopSequence?: string | null;
  usage: LlmUsage;
  startedAt: number;
}

function priced(a: Assembled): number {
  const entry = findModel(a.catalogId, a.provider);
  // Local servers (vLLM, Ollama, LM Studio) cost nothing per token: no warning for them.
  if (!entry && findPreset(a.provider)?.keyRequired !== false) {
    log.warnOnce(
      `noprice:${a.provider}/${a.catalogId}`,
      `model ${a.catalogId} (${a.provider}) is not in the catalogue: its cost is reported as 0; add a price to src/llm/catalog.ts`,
    );
  }
  return costFor(a.usage, entry);
}

/** Builds the response; throws EINVAL (with the response in details) when a tool call's JSON is malformed. */
export function assembleResponse(a: Assembled): ChatResponse {
  const toolCalls = a.toolCalls.map((tc) => ({
    ...tc,
    arguments: tc.arguments.trim() === '' ? '{}' : tc.arguments,
  }));
  const response: ChatResponse = {
    model: a.model,
    provider: a.provider,
    content: a.content,
    ...(a.reasoning ? { reasoning: a.reasoning } : {}),
    ...(a.reasoningBlocks?.length ? { reasoningBlocks: a.reasoningBlocks } : {}),
    toolCalls,
    finishReason: a.finishReason,
    ...(a.stopSequence ? { stopSequence: a.stopSequence } : {}),
    usage: a.usage,
    costUsd: priced(a),
    latencyMs: performance.now() - a.startedAt,
  };
  for (const tc of toolCalls) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(tc.arguments);
    } catch (err) {
      throw new KernelError(
        'EINVAL',
        `${a.provider}/${a.model} produced malformed arguments for tool call "${tc.name}" (${(err as Error).message}); the raw text is in details.arguments — ask the model to retry`,
        {
          details: {
            provider: a.provider,
            model: a.model,
            toolCallId: tc.id,
            tool: tc.name,
            arguments: tc.arguments,
            response,
          },
        },
      );
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new KernelError(
        'EINVAL',
        `${a.provider}/${a.model}: arguments of tool call "${tc.name}" must be a JSON object, got ${tc.arguments.slice(0, 80)}`,
        {
          details: {
            provider: a.provider,
            model: a.model,
            toolCallId: tc.id,
            tool: tc.name,
            arguments: tc.arguments,
            response,
          },
        },
      );
    }
    if (!tc.name) {
      throw new KernelError('EINVAL', `${a.provider}/${a.model} produced a tool call without a name`, {
        details: { provider: a.provider, response },
      });
    }
  }
  return response;
}
