/**
 * Request bodies as the simulator receives them → SimRequest, with the validation a real endpoint does
 * (400 on a missing model or messages) and each vendor's documented request rules from ../wire-rules.ts,
 * answered with that vendor's error: DeepSeek and Kimi thinking models refuse a tool-call turn sent back
 * without its `reasoning_content`; Anthropic with thinking on refuses a final assistant turn that does not
 * open with its (correctly signed) thinking block, whitespace-only text blocks and more than 4
 * `cache_control` markers; Groq/Gemini/OpenAI refuse `name` on tool messages; MiniMax rejects temperature
 * outside (0, 1]; every OpenAI-style endpoint refuses `stream_options` without `stream: true`. Structured
 * outputs by the vendor's `structured` rule: a response_format type it lacks is refused (DeepSeek and Kimi:
 * json_schema; LM Studio: json_object), JSON mode without the word "json" in the messages where the vendor
 * says so (OpenAI, DeepSeek, Qwen), an OpenAI strict schema that leaves an object open or a property
 * optional; Anthropic's output_config.format refuses an open object or a constraint it does not take
 * (minimum, maxLength …). Stricter than the real thing in three places, so a leak is caught: the simulated
 * Ollama rejects `tool_choice` (real Ollama ignores it), MiniMax-M2 refuses a tool-call turn that lost its
 * `<think>` (the real one only reasons worse), and MiniMax refuses response_format (undocumented there).
 */
import { createHash } from 'node:crypto';
import { ANTHROPIC_MIN_THINKING_TOKENS } from '../../param.js';
import type { ChatMessage, ToolSpec } from '../model.js';
import type { Preset } from '../presets.js';
import { mentionsJson, type ResponseFormatType, rulesFor, thinks } from '../wire-rules.js';
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

/** A response_format type the vendor has no mode for, refused as that vendor does. */
function unsupportedFormat(preset: Preset, type: ResponseFormatType): SimHttpError {
  if (preset.dialect === 'deepseek')
    return bad('This response_format type is unavailable now', 'invalid_request_error');
  const formats = rulesFor(preset).structured.formats;
  if (formats.length === 0)
    return bad(
      `invalid params, response_format is not supported (simulator: stricter than ${preset.label}, which documents none)`,
    );
  return bad(
    `Invalid value: '${type}'. Supported values are: ${['text', ...formats].map((t) => `'${t}'`).join(', ')}.`,
    'invalid_value',
  );
}

/**
 * OpenAI's strict-mode rule for a json_schema: every object closed (`additionalProperties: false`) and every
 * property required. The first breach, in OpenAI's words, or undefined.
 */
function strictBreach(schema: unknown, name: string, path: string[] = []): string | undefined {
  if (!schema || typeof schema !== 'object') return undefined;
  const s = schema as Loose;
  const at = `Invalid schema for response_format '${name}': In context=(${path.map((p) => `'${p}'`).join(', ')}), `;
  const isObject = s.type === 'object' || (Array.isArray(s.type) && s.type.includes('object'));
  if (isObject) {
    if (s.additionalProperties !== false)
      return `${at}'additionalProperties' is required to be supplied and to be false.`;
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    for (const k of Object.keys((s.properties ?? {}) as Loose))
      if (!required.has(k))
        return `${at}'required' is required to be supplied and to be an array including every key in properties. Missing '${k}'.`;
  }
  const subs: Array<[string[], unknown]> = [];
  for (const [k, v] of Object.entries((s.properties ?? {}) as Loose))
    subs.push([[...path, 'properties', k], v]);
  if (s.items) subs.push([[...path, 'items'], s.items]);
  for (const key of ['anyOf', 'allOf'] as const)
    if (Array.isArray(s[key]))
      for (const [i, v] of (s[key] as unknown[]).entries()) subs.push([[...path, key, String(i)], v]);
  for (const key of ['$defs', 'definitions'] as const)
    for (const [k, v] of Object.entries((s[key] ?? {}) as Loose)) subs.push([[...path, key, k], v]);
  for (const [p, v] of subs) {
    const breach = strictBreach(v, name, p);
    if (breach) return breach;
  }
  return undefined;
}

/** `response_format` as the vendor validates it (../wire-rules.ts `structured`); undefined for text. */
function responseFormatOf(
  body: Loose,
  preset: Preset,
  messages: ChatMessage[],
): SimRequest['responseFormat'] {
  const rf = body.response_format as Loose | undefined | null;
  if (rf === undefined || rf === null) return undefined;
  if (typeof rf !== 'object' || Array.isArray(rf))
    throw bad("Invalid type for 'response_format': expected an object.", 'invalid_type');
  if (rf.type === 'text') return undefined;
  if (rf.type !== 'json_object' && rf.type !== 'json_schema')
    throw bad(
      `Invalid value: '${String(rf.type)}'. Supported values are: 'text', 'json_object' and 'json_schema'.`,
      'invalid_value',
    );
  const rules = rulesFor(preset);
  if (!rules.structured.formats.includes(rf.type)) throw unsupportedFormat(preset, rf.type);
  if (rf.type === 'json_object') {
    if (rules.structured.jsonWord && !mentionsJson(messages))
      throw bad(
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
      );
    return { type: 'json_object' };
  }
  const js = rf.json_schema as Loose | undefined;
  if (!js || typeof js !== 'object')
    throw bad("Missing required parameter: 'response_format.json_schema'.", 'missing_required_parameter');
  if (typeof js.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(js.name))
    throw bad(
      "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
      'invalid_value',
    );
  const schema = (js.schema ?? {}) as Loose;
  if (js.strict === true && (preset.name === 'openai' || preset.name === 'simulated')) {
    const breach = strictBreach(schema, js.name);
    if (breach) throw bad(breach, 'invalid_json_schema');
  }
  return { type: 'json_schema', schema };
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
  const responseFormat = responseFormatOf(body, preset, messages);
  return {
    model: body.model,
    messages,
    tools,
    preset: preset.name,
    stream: body.stream === true,
    ...(stop ? { stop } : {}),
    ...(responseFormat ? { responseFormat } : {}),
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

/** String formats a structured-output schema may name (the rest are refused). */
const ANTHROPIC_FORMATS = new Set([
  'date-time',
  'time',
  'date',
  'duration',
  'email',
  'hostname',
  'uri',
  'ipv4',
  'ipv6',
  'uuid',
]);
/** Constraints structured outputs do not take (https://platform.claude.com/docs/en/build-with-claude/structured-outputs). */
const ANTHROPIC_UNSUPPORTED = [
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'maxItems',
];

/** The first part of an output_config.format schema Anthropic refuses, or undefined. */
function anthropicSchemaBreach(schema: unknown, path: string): string | undefined {
  if (!schema || typeof schema !== 'object') return undefined;
  const s = schema as Loose;
  const isObject = s.type === 'object' || (Array.isArray(s.type) && s.type.includes('object'));
  if (isObject && s.additionalProperties !== false)
    return `${path}: For 'object' type, 'additionalProperties' must be explicitly set to false`;
  for (const k of ANTHROPIC_UNSUPPORTED)
    if (k in s) return `${path}: '${k}' is not supported in structured outputs schemas`;
  if (typeof s.minItems === 'number' && s.minItems > 1)
    return `${path}: 'minItems' values other than 0 or 1 are not supported`;
  if (typeof s.format === 'string' && !ANTHROPIC_FORMATS.has(s.format))
    return `${path}: string format '${s.format}' is not supported`;
  const subs: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries((s.properties ?? {}) as Loose))
    subs.push([`${path}.properties.${k}`, v]);
  if (s.items) subs.push([`${path}.items`, s.items]);
  for (const key of ['anyOf', 'allOf'] as const)
    if (Array.isArray(s[key]))
      for (const [i, v] of (s[key] as unknown[]).entries()) subs.push([`${path}.${key}.${i}`, v]);
  for (const [k, v] of Object.entries((s.$defs ?? {}) as Loose)) subs.push([`${path}.$defs.${k}`, v]);
  for (const [p, v] of subs) {
    const breach = anthropicSchemaBreach(v, p);
    if (breach) return breach;
  }
  return undefined;
}

/** Anthropic `output_config.format` (structured outputs: a JSON schema); undefined when absent. */
function outputFormatOf(body: Loose): SimRequest['responseFormat'] {
  const oc = body.output_config as Loose | undefined | null;
  if (oc === undefined || oc === null) return undefined;
  if (typeof oc !== 'object' || Array.isArray(oc))
    throw bad('output_config: Input should be a valid dictionary');
  for (const k of Object.keys(oc))
    if (k !== 'format' && k !== 'effort') throw bad(`output_config.${k}: Extra inputs are not permitted`);
  const f = oc.format as Loose | undefined | null;
  if (f === undefined || f === null) return undefined;
  if (f.type !== 'json_schema') throw bad("output_config.format.type: Input should be 'json_schema'");
  if (!f.schema || typeof f.schema !== 'object' || Array.isArray(f.schema))
    throw bad('output_config.format.schema: Field required');
  const breach = anthropicSchemaBreach(f.schema, 'output_config.format.schema');
  if (breach) throw bad(breach);
  return { type: 'json_schema', schema: f.schema as Loose };
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
  const responseFormat = outputFormatOf(body);
  return {
    model: body.model,
    messages,
    tools,
    preset: 'anthropic',
    stream: body.stream === true,
    ...(thinking ? { thinking } : {}),
    ...(stop ? { stop } : {}),
    ...(responseFormat ? { responseFormat } : {}),
  };
}
