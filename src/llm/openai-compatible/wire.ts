/**
 * ChatRequest → OpenAI chat-completions body, with each preset's quirks applied. Pure functions, so the
 * quirks are testable without a server: DeepSeek/Kimi get `reasoning_content` back on assistant turns,
 * MiniMax's temperature is clamped into its range, Ollama never sees `tool_choice`, OpenAI and Kimi get
 * `prompt_cache_key`, Qwen gets `cache_control` blocks at breakpoints, and streaming always asks for usage.
 */
import { KernelError } from '../../errors.js';
import type { ChatMessage, ChatRequest, ToolChoice } from '../model.js';
import type { Preset } from '../presets.js';

export type WireMessage = Record<string, unknown>;

/** Text content, as a block carrying `cache_control` where the preset honours breakpoints (Qwen). */
function content(m: ChatMessage, preset: Preset): unknown {
  if (!m.cacheBreakpoint || !preset.quirks.cacheControlBlocks || m.content === '') return m.content;
  return [{ type: 'text', text: m.content, cache_control: { type: 'ephemeral' } }];
}

export function toWireMessages(messages: ChatMessage[], preset: Preset): WireMessage[] {
  return messages.map((m, i) => {
    switch (m.role) {
      case 'system':
      case 'user':
        return { role: m.role, content: content(m, preset) };
      case 'assistant': {
        const out: WireMessage = {
          role: 'assistant',
          content: m.content === '' && m.toolCalls?.length ? null : content(m, preset),
        };
        if (m.toolCalls?.length) {
          out.tool_calls = m.toolCalls.map((tc) => ({
            id: tc.id,
            type: 'function',
            function: { name: tc.name, arguments: tc.arguments },
          }));
        }
        if (preset.quirks.echoReasoningContent && m.reasoning !== undefined)
          out.reasoning_content = m.reasoning;
        return out;
      }
      case 'tool': {
        if (!m.toolCallId) {
          throw new KernelError(
            'EINVAL',
            `messages[${i}] has role "tool" but no toolCallId; set it to the id of the call it answers`,
            {
              details: { index: i },
            },
          );
        }
        return {
          role: 'tool',
          tool_call_id: m.toolCallId,
          content: m.content,
          ...(m.name ? { name: m.name } : {}),
        };
      }
      default:
        throw new KernelError(
          'EINVAL',
          `messages[${i}].role "${String((m as ChatMessage).role)}" is not one of system, user, assistant, tool`,
        );
    }
  });
}

function wireToolChoice(c: ToolChoice): unknown {
  return typeof c === 'string' ? c : { type: 'function', function: { name: c.name } };
}

export function clampTemperature(t: number, preset: Preset): number {
  const r = preset.quirks.temperatureRange;
  return r ? Math.min(r[1], Math.max(r[0], t)) : t;
}

export function buildChatBody(
  model: string,
  req: ChatRequest,
  preset: Preset,
  stream: boolean,
): Record<string, unknown> {
  if (req.messages.length === 0)
    throw new KernelError('EINVAL', 'ChatRequest.messages is empty; send at least one message');
  const body: Record<string, unknown> = { model, messages: toWireMessages(req.messages, preset) };
  if (req.tools?.length) {
    body.tools = req.tools.map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
    if (req.toolChoice !== undefined && !preset.quirks.noToolChoice)
      body.tool_choice = wireToolChoice(req.toolChoice);
  }
  if (req.temperature !== undefined) body.temperature = clampTemperature(req.temperature, preset);
  if (req.maxOutputTokens !== undefined) {
    body[preset.quirks.maxCompletionTokens ? 'max_completion_tokens' : 'max_tokens'] = req.maxOutputTokens;
  }
  if (req.promptCacheKey !== undefined && preset.quirks.promptCacheKey)
    body.prompt_cache_key = req.promptCacheKey;
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return body;
}
