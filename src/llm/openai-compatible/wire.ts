/**
 * ChatRequest → OpenAI chat-completions body, with each preset's quirks and rules (../wire-rules.ts)
 * applied. Pure functions, so they are testable without a server: a thinking model's reasoning goes back
 * where its vendor wants it (DeepSeek/Kimi `reasoning_content` on tool-call turns, MiniMax `<think>` in
 * the content), MiniMax's temperature is clamped into its range, Ollama never sees `tool_choice`, OpenAI
 * and Kimi get `prompt_cache_key`, Qwen gets at most 4 `cache_control` blocks, tool messages never carry
 * the non-standard `name`, and streaming always asks for usage.
 */
import { KernelError, panic } from '../../errors.js';
import type { ChatMessage, ChatRequest, ModelOptions, ToolChoice } from '../model.js';
import type { Preset } from '../presets.js';
import { reasoningEchoed, refuseResponseFormat, rulesFor, thinks } from '../wire-rules.js';

export type WireMessage = Record<string, unknown>;

/** Text content, as a block carrying `cache_control` where the preset honours breakpoints (Qwen). */
function content(m: ChatMessage, preset: Preset, text = m.content, mark = true): unknown {
  if (!mark || !m.cacheBreakpoint || !preset.quirks.cacheControlBlocks || text.trim() === '') return text;
  return [{ type: 'text', text, cache_control: { type: 'ephemeral' } }];
}

/** Indices of the messages whose breakpoint is kept: the first and the newest, within the vendor's cap. */
function keptBreakpoints(messages: ChatMessage[], max: number | undefined): Set<number> {
  const marked = messages.flatMap((m, i) => (m.cacheBreakpoint ? [i] : []));
  if (max === undefined || marked.length <= max) return new Set(marked);
  return new Set([marked[0]!, ...marked.slice(marked.length - (max - 1))]);
}

export function toWireMessages(messages: ChatMessage[], preset: Preset, model = ''): WireMessage[] {
  const rules = rulesFor(preset);
  const thinking = thinks(rules, model);
  // Reasoning goes back only on the turns the vendor's rule names, and only for its thinking models.
  const echo = reasoningEchoed(messages, thinking ? rules.reasoning.echo : 'never');
  const kept = preset.quirks.cacheControlBlocks
    ? keptBreakpoints(messages, rules.maxCacheBreakpoints)
    : new Set<number>();
  return messages.map((m, i) => {
    const mark = kept.has(i);
    switch (m.role) {
      case 'system':
      case 'user':
        return { role: m.role, content: content(m, preset, m.content, mark) };
      case 'assistant': {
        const tags = echo(i) && rules.reasoning.carrier === 'think_tags' && m.reasoning;
        const text = tags ? `<think>\n${m.reasoning}\n</think>\n\n${m.content}` : m.content;
        const out: WireMessage = {
          role: 'assistant',
          content: text.trim() === '' && m.toolCalls?.length ? null : content(m, preset, text, mark),
        };
        if (m.toolCalls?.length) {
          out.tool_calls = m.toolCalls.map((tc) => ({
            id: tc.id,
            type: 'function',
            function: { name: tc.name, arguments: tc.arguments },
          }));
        }
        // DeepSeek answers 400 when a thinking-mode tool-call turn comes back without the field, even an
        // empty one (a turn restored from before reasoning was kept).
        if (echo(i) && rules.reasoning.carrier === 'reasoning_content' && preset.quirks.echoReasoningContent)
          out.reasoning_content = m.reasoning ?? '';
        return out;
      }
      case 'tool': {
        // No `name`: OpenAI's schema has none for tool messages and strict servers (Groq, Gemini) refuse it.
        return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
      }
      default:
        return unreachable(m.role);
    }
  });
}

/** A role checkChatRequest let through that the switch above does not know: a bug here, not the caller's. */
function unreachable(role: never): never {
  return panic(`openai wire: message role "${String(role)}" passed checkChatRequest`);
}

/** Why messages[i] cannot be sent, or null: the checks of checkChatRequest that look at one message. */
function messageRefusal(m: ChatMessage, i: number): KernelError | null {
  if (m.role === 'tool' && !m.toolCallId)
    return new KernelError(
      'EINVAL',
      `messages[${i}] has role "tool" but no toolCallId; set it to the id of the call it answers`,
      { details: { index: i } },
    );
  if (m.role !== 'system' && m.role !== 'user' && m.role !== 'assistant' && m.role !== 'tool')
    return new KernelError(
      'EINVAL',
      `messages[${i}].role "${String(m.role)}" is not one of system, user, assistant, tool`,
      { details: { index: i } },
    );
  return null;
}

/**
 * Everything this adapter refuses, checked before anything is built or sent (Model.validate; the body
 * builder below runs it first): an empty or malformed conversation, a field Chat Completions has no
 * parameter for — `topK`, refused, never dropped — and a response format the vendor has no mode for.
 */
export function checkChatRequest(req: ChatRequest, preset: Preset): void {
  if (req.messages.length === 0)
    throw new KernelError('EINVAL', 'ChatRequest.messages is empty; send at least one message');
  for (let i = 0; i < req.messages.length; i++) {
    const refusal = messageRefusal(req.messages[i]!, i);
    if (refusal) throw refusal;
  }
  if (req.topK !== undefined)
    throw new KernelError(
      'EUNSUPPORTED',
      `top_k is not a Chat Completions parameter (${preset.label}); use top_p or temperature, or an Anthropic model`,
      { details: { param: 'top_k' } },
    );
  refuseResponseFormat(rulesFor(preset), req.responseFormat, preset.label);
}

function wireToolChoice(c: ToolChoice): unknown {
  return typeof c === 'string' ? c : { type: 'function', function: { name: c.name } };
}

export function clampTemperature(t: number, preset: Preset): number {
  const r = preset.quirks.temperatureRange;
  return r ? Math.min(r[1], Math.max(r[0], t)) : t;
}

/**
 * The request's sampling and output controls → OpenAI's fields of those names (ChatRequest in ../model.ts).
 * `topK` has no Chat Completions field: checkChatRequest refused it.
 */
function sampling(body: Record<string, unknown>, req: ChatRequest): void {
  if (req.stop?.length) body.stop = req.stop;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.seed !== undefined) body.seed = req.seed;
  if (req.frequencyPenalty !== undefined) body.frequency_penalty = req.frequencyPenalty;
  if (req.presencePenalty !== undefined) body.presence_penalty = req.presencePenalty;
  if (req.reasoningEffort !== undefined) body.reasoning_effort = req.reasoningEffort;
  // OpenAI refuses parallel_tool_calls on a request without tools.
  if (req.parallelToolCalls !== undefined && req.tools?.length)
    body.parallel_tool_calls = req.parallelToolCalls;
  if (req.endUser !== undefined) body.user = req.endUser;
  responseFormat(body, req);
}

/**
 * ChatRequest.responseFormat → `response_format` ({type:'json_object'} or {type:'json_schema', json_schema:
 * {name, schema, strict?, description?}}); a format the vendor lacks (../wire-rules.ts) checkChatRequest
 * refused.
 */
function responseFormat(body: Record<string, unknown>, req: ChatRequest): void {
  const rf = req.responseFormat;
  if (!rf) return;
  if (rf.type === 'json_object') body.response_format = { type: 'json_object' };
  else
    body.response_format = {
      type: 'json_schema',
      json_schema: {
        name: rf.name,
        ...(rf.description !== undefined ? { description: rf.description } : {}),
        schema: rf.schema,
        ...(rf.strict !== undefined ? { strict: rf.strict } : {}),
      },
    };
}

export function buildChatBody(
  model: string,
  req: ChatRequest,
  preset: Preset,
  stream: boolean,
  defaults: ModelOptions = {},
): Record<string, unknown> {
  checkChatRequest(req, preset);
  const body: Record<string, unknown> = { model, messages: toWireMessages(req.messages, preset, model) };
  if (req.tools?.length) {
    body.tools = req.tools.map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
    if (req.toolChoice !== undefined && !preset.quirks.noToolChoice)
      body.tool_choice = wireToolChoice(req.toolChoice);
  }
  if (req.temperature !== undefined) body.temperature = clampTemperature(req.temperature, preset);
  const maxOut = req.maxOutputTokens ?? defaults.maxOutputTokens;
  if (maxOut !== undefined) {
    body[preset.quirks.maxCompletionTokens ? 'max_completion_tokens' : 'max_tokens'] = maxOut;
  }
  sampling(body, req);
  if (req.promptCacheKey !== undefined && preset.quirks.promptCacheKey)
    body.prompt_cache_key = req.promptCacheKey;
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return body;
}
