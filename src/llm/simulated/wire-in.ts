/**
 * Request bodies as the simulator receives them → SimRequest, with the validation a real endpoint does
 * (400 on a missing model or messages) and each vendor's documented request rules from ../wire-rules.ts,
 * answered with that vendor's error: DeepSeek and Kimi thinking models refuse a tool-call turn sent back
 * without its `reasoning_content`; Anthropic with thinking on refuses a final assistant turn that does not
 * open with its (correctly signed) thinking block, whitespace-only text blocks and more than 4
 * `cache_control` markers; Groq/Gemini/OpenAI refuse `name` on tool messages; MiniMax rejects temperature
 * outside (0, 1]; every OpenAI-style endpoint refuses `stream_options` without `stream: true`. Stricter than the real thing in two places, so a leak is caught: the simulated Ollama
 * rejects `tool_choice` (real Ollama ignores it) and MiniMax-M2 refuses a tool-call turn that lost its
 * `<think>` (the real one only reasons worse).
 */
import { createHash } from 'node:crypto';
import { ANTHROPIC_MIN_THINKING_TOKENS } from '../../param.js';
import type { ChatMessage, ToolSpec } from '../model.js';
import type { Preset } from '../presets.js';
import { rulesFor, thinks } from '../wire-rules.js';
import { SimHttpError } from './engine.js';
import type { SimRequest } from './scenario.js';

type Loose = Record<string, unknown>;

const bad = (msg: string, code?: string) =>
  new SimHttpError(400, msg, 'invalid_request_error', undefined, code);

/** The simulator's thinking-block signature: a keyed hash of the text, so any edit is detected. */
export function thinkingSignature(thinking: string): string {
  return createHash('sha256').update(`aos-simulator-thinking\n${thinking}`).digest('base64');
}

/** The vendor's own refusal of a thinking-model turn sent back without its reasoning. */
function missingReasoning(preset: Preset, i: number): SimHttpError {
  if (preset.dialect === 'deepseek')
    return bad(
      'The `reasoning_content` in the thinking mode must be passed back to the API.',
      'invalid_request_error',
    );
  if (preset.dialect === 'kimi')
    return bad(
      `thinking is enabled but reasoning_content is missing in assistant tool call message at index ${i}`,
    );
  return bad(
    `invalid params, messages[${i}]: the assistant message lost its <think>…</think> reasoning; send the complete assistant message back (simulator: stricter than ${preset.label})`,
  );
}

function countCacheControl(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + countCacheControl(x), 0);
  if (v && typeof v === 'object') {
    const o = v as Loose;
    let n = o.cache_control ? 1 : 0;
    for (const [k, x] of Object.entries(o)) if (k !== 'cache_control') n += countCacheControl(x);
    return n;
  }
  return 0;
}

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((b: Loose) =>
        typeof b.text === 'string'
          ? b.text
          : typeof b.content === 'string'
            ? b.content
            : Array.isArray(b.content)
              ? text(b.content)
              : '',
      )
      .join('');
  }
  return '';
}

/** OpenAI `stop` (a string or up to 4) / Anthropic `stop_sequences` (a list), validated as the vendors do. */
function stopList(v: unknown, field: 'stop' | 'stop_sequences'): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = field === 'stop' && typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string'))
    throw bad(`${field}: Input should be a valid ${field === 'stop' ? 'string or ' : ''}list of strings`);
  if (field === 'stop' && list.length > 4) throw bad(`Invalid 'stop': expected an array of at most 4 items`);
  return list.length ? (list as string[]) : undefined;
}

export function openAiToSim(body: Loose, preset: Preset): SimRequest {
  if (typeof body.model !== 'string' || !body.model) throw bad('you must provide a model parameter');
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw bad("'messages' must be a non-empty array");
  if (body.stream_options !== undefined && body.stream !== true)
    throw bad("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'invalid_value');
  const rules = rulesFor(preset);
  const thinking = thinks(rules, body.model);
  const max = rules.maxCacheBreakpoints;
  if (max !== undefined) {
    const n = countCacheControl(body.messages);
    if (n > max) throw bad(`A maximum of ${max} blocks with cache_control may be provided. Found ${n}.`);
  }
  if (preset.name.startsWith('minimax') && body.temperature !== undefined) {
    const t = Number(body.temperature);
    if (!(t > 0 && t <= 1))
      throw bad(`invalid params, temperature must be in (0, 1], got ${body.temperature}`);
  }
  if (preset.quirks.noToolChoice && body.tool_choice !== undefined)
    throw bad('tool_choice is not supported by this server (simulated Ollama)');
  const messages: ChatMessage[] = (body.messages as Loose[]).map((m, i) => {
    const role = m.role as ChatMessage['role'];
    if (!['system', 'user', 'assistant', 'tool', 'developer'].includes(String(role)))
      throw bad(`messages[${i}].role '${String(role)}' is invalid`);
    const out: ChatMessage = {
      role: role === ('developer' as string) ? 'system' : role,
      content: text(m.content),
    };
    if (role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0 && thinking) {
      const r = rules.reasoning;
      if (
        r.carrier === 'reasoning_content' &&
        r.echo === 'tool_turns' &&
        typeof m.reasoning_content !== 'string'
      )
        throw missingReasoning(preset, i);
      if (r.carrier === 'think_tags' && !text(m.content).includes('<think>'))
        throw missingReasoning(preset, i);
    }
    if (role === 'tool' && m.name !== undefined && rules.toolMessageName === 'reject')
      throw bad(
        `'messages.${i}' : for 'role:tool' the following must be satisfied[('messages.${i}.name' : property 'name' is unsupported)]`,
      );
    if (role === 'assistant' && Array.isArray(m.tool_calls)) {
      out.toolCalls = (m.tool_calls as Loose[]).map((tc) => {
        const fn = (tc.function ?? {}) as Loose;
        return { id: String(tc.id), name: String(fn.name), arguments: String(fn.arguments ?? '') };
      });
    }
    if (typeof m.reasoning_content === 'string') out.reasoning = m.reasoning_content;
    if (role === 'tool') {
      if (typeof m.tool_call_id !== 'string')
        throw bad(`messages[${i}]: 'tool_call_id' is required for role 'tool'`);
      out.toolCallId = m.tool_call_id;
      if (typeof m.name === 'string') out.name = m.name;
    }
    return out;
  });
  // Tool results carry the name of the call they answer (the policy reads it).
  const names = new Map<string, string>();
  for (const m of messages) for (const tc of m.toolCalls ?? []) names.set(tc.id, tc.name);
  for (const m of messages)
    if (m.role === 'tool' && !m.name && m.toolCallId) m.name = names.get(m.toolCallId) ?? 'tool';
  const tools: ToolSpec[] = ((body.tools as Loose[] | undefined) ?? []).map((t, i) => {
    const fn = (t.function ?? {}) as Loose;
    if (typeof fn.name !== 'string') throw bad(`tools[${i}].function.name is required`);
    return {
      name: fn.name,
      description: String(fn.description ?? ''),
      parameters: (fn.parameters ?? {}) as Loose,
    };
  });
  const stop = stopList(body.stop, 'stop');
  return {
    model: body.model,
    messages,
    tools,
    preset: preset.name,
    stream: body.stream === true,
    ...(stop ? { stop } : {}),
  };
}

const EXPECTED_THINKING =
  'When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking';

function blocksOf(m: Loose): Loose[] {
  return typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : ((m.content as Loose[]) ?? []);
}

/** Anthropic's documented request rules (../wire-rules.ts `anthropic`). */
function checkAnthropicRules(body: Loose): boolean {
  const rules = rulesFor('anthropic');
  const messages = body.messages as Loose[];
  const system = typeof body.system === 'string' ? [{ type: 'text', text: body.system }] : body.system;
  if (rules.noBlankText) {
    for (const [j, b] of ((system as Loose[] | undefined) ?? []).entries())
      if (b.type === 'text' && String(b.text ?? '').trim() === '')
        throw bad(`system.${j}.text: text content blocks must contain non-whitespace text`);
    for (const [i, m] of messages.entries()) {
      const blocks = blocksOf(m);
      if (blocks.length === 0) throw bad(`messages.${i}: all messages must have non-empty content`);
      for (const [j, b] of blocks.entries())
        if (b.type === 'text' && String(b.text ?? '').trim() === '')
          throw bad(`messages.${i}.content.${j}.text: text content blocks must contain non-whitespace text`);
    }
  }
  const n = countCacheControl(system) + countCacheControl(messages) + countCacheControl(body.tools);
  if (rules.maxCacheBreakpoints !== undefined && n > rules.maxCacheBreakpoints)
    throw bad(
      `A maximum of ${rules.maxCacheBreakpoints} blocks with cache_control may be provided. Found ${n}.`,
    );
  const th = body.thinking as Loose | undefined;
  const thinking = th?.type === 'enabled';
  if (!thinking) return false;
  const budget = Number(th.budget_tokens);
  if (!(budget >= ANTHROPIC_MIN_THINKING_TOKENS))
    throw bad(
      `thinking.enabled.budget_tokens: Input should be greater than or equal to ${ANTHROPIC_MIN_THINKING_TOKENS}`,
    );
  if (!(Number(body.max_tokens) > budget))
    throw bad(
      '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size',
    );
  if (body.temperature !== undefined && body.temperature !== 1)
    throw bad(
      '`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility',
    );
  const tc = (body.tool_choice as Loose | undefined)?.type;
  if (tc === 'any' || tc === 'tool')
    throw bad('Thinking may not be enabled when tool_choice forces tool use.');
  for (const [i, m] of messages.entries()) {
    for (const [j, b] of blocksOf(m).entries()) {
      if (b.type === 'thinking' && b.signature !== thinkingSignature(String(b.thinking ?? '')))
        throw bad(`messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`);
    }
  }
  // Inside a tool loop (the request ends with tool results), the last assistant turn opens with thinking.
  const last = messages[messages.length - 1]!;
  const inLoop = last.role === 'user' && blocksOf(last).some((b) => b.type === 'tool_result');
  if (inLoop) {
    for (let i = messages.length - 1; i >= 0; i--) {
      if (messages[i]!.role !== 'assistant') continue;
      const first = blocksOf(messages[i]!)[0];
      if (first?.type !== 'thinking' && first?.type !== 'redacted_thinking')
        throw bad(
          `messages.${i}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${String(first?.type)}\`. ${EXPECTED_THINKING}`,
        );
      break;
    }
  }
  return true;
}

export function anthropicToSim(body: Loose): SimRequest {
  if (typeof body.model !== 'string' || !body.model) throw bad('model: Field required');
  if (typeof body.max_tokens !== 'number') throw bad('max_tokens: Field required');
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw bad('messages: at least one message is required');
  const thinking = checkAnthropicRules(body);
  const messages: ChatMessage[] = [];
  const sys = typeof body.system === 'string' ? body.system : text(body.system);
  if (sys) messages.push({ role: 'system', content: sys });
  const names = new Map<string, string>();
  for (const [i, m] of (body.messages as Loose[]).entries()) {
    if (m.role !== 'user' && m.role !== 'assistant')
      throw bad(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    const blocks: Loose[] =
      typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : ((m.content as Loose[]) ?? []);
    if (m.role === 'assistant') {
      const calls = blocks.filter((b) => b.type === 'tool_use');
      for (const c of calls) names.set(String(c.id), String(c.name));
      messages.push({
        role: 'assistant',
        content: text(blocks.filter((b) => b.type === 'text')),
        ...(calls.length
          ? {
              toolCalls: calls.map((c) => ({
                id: String(c.id),
                name: String(c.name),
                arguments: JSON.stringify(c.input ?? {}),
              })),
            }
          : {}),
      });
      continue;
    }
    const userText = text(blocks.filter((b) => b.type === 'text'));
    for (const r of blocks.filter((b) => b.type === 'tool_result')) {
      const id = String(r.tool_use_id);
      messages.push({
        role: 'tool',
        toolCallId: id,
        name: names.get(id) ?? 'tool',
        content: text(r.content),
      });
    }
    if (userText) messages.push({ role: 'user', content: userText });
  }
  const tools: ToolSpec[] = ((body.tools as Loose[] | undefined) ?? []).map((t, i) => {
    if (typeof t.name !== 'string') throw bad(`tools.${i}.name: Field required`);
    return {
      name: t.name,
      description: String(t.description ?? ''),
      parameters: (t.input_schema ?? {}) as Loose,
    };
  });
  const stop = stopList(body.stop_sequences, 'stop_sequences');
  return {
    model: body.model,
    messages,
    tools,
    preset: 'anthropic',
    stream: body.stream === true,
    ...(thinking ? { thinking } : {}),
    ...(stop ? { stop } : {}),
  };
}
