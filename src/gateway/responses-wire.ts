/**
 * The OpenAI Responses dialect of the gateway (POST /v1/responses,
 * https://platform.openai.com/docs/api-reference/responses): request bodies → a GatewayCall over the same
 * chat path as /v1/chat/completions, ChatResponses → `response` objects, and stream events → the typed,
 * numbered server-sent events (`response.created` … `response.completed`) the official `openai` client
 * parses, including its `responses.stream()` accumulator. Stateless by design: the kernel's session is the
 * state, so `previous_response_id`, `conversation` and server-side tools are refused with a 400 naming
 * them (send the whole input, as with chat completions); pure hints are accepted and not forwarded.
 */
import { randomBytes } from 'node:crypto';
import { KernelError } from '../errors.js';
import type { ChatMessage, ChatResponse, StreamEvent, ToolChoice, ToolSpec } from '../llm/model.js';
import type { GatewayCall } from './call.js';
import { defined, effortOf, noopOnly, onlyKnown, RESPONSES_FIELDS, responseFormatField } from './fields.js';
import { openAiNoops, openAiSampling } from './openai-wire.js';

type Loose = Record<string, unknown>;

const bad = (message: string, param: string | null = null) =>
  new KernelError('EINVAL', message, { details: { param } });
const unsupported = (message: string, param: string) =>
  new KernelError('EUNSUPPORTED', message, { details: { param } });

const KNOWN = new Set<string>(Object.values(RESPONSES_FIELDS).flat());

/** Keys of calls that were not streamed (a replay): above any stream's tool-call index. */
const UNSTREAMED = Number.MAX_SAFE_INTEGER / 2;

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

function partsText(content: unknown, where: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw bad(`${where}.content must be a string or an array of parts`, where);
  return content
    .map((p: Loose, i) => {
      if ((p?.type === 'input_text' || p?.type === 'output_text') && typeof p.text === 'string')
        return p.text;
      if (p?.type === 'refusal' && typeof p.refusal === 'string') return p.refusal;
      throw unsupported(
        `${where}.content[${i}]: part type '${String(p?.type)}' is not supported by the gateway (text parts only)`,
        `${where}.content`,
      );
    })
    .join('');
}

function toolChoiceOf(v: unknown): ToolChoice | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'auto' || v === 'none' || v === 'required') return v;
  const o = v as Loose;
  if (o?.type === 'function' && typeof o.name === 'string') return { name: o.name };
  throw bad("tool_choice must be 'auto', 'none', 'required' or {type:'function', name}", 'tool_choice');
}

/** `input` (a string, or message / function_call / function_call_output items) → the kernel's messages. */
function messagesOf(input: unknown, instructions: unknown): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (typeof instructions === 'string' && instructions) out.push({ role: 'system', content: instructions });
  if (typeof input === 'string') {
    out.push({ role: 'user', content: input });
    return out;
  }
  if (!Array.isArray(input) || input.length === 0)
    throw bad("'input' must be a string or a non-empty array of items", 'input');
  const names = new Map<string, string>();
  (input as Loose[]).forEach((item, i) => {
    const where = `input[${i}]`;
    const type = item?.type ?? (item?.role ? 'message' : undefined);
    if (type === 'message') {
      const role = item.role;
      const text = partsText(item.content, where);
      if (role === 'system' || role === 'developer') out.push({ role: 'system', content: text });
      else if (role === 'user') out.push({ role: 'user', content: text });
      else if (role === 'assistant') {
        // consecutive assistant output (text, then its calls) is one assistant turn
        const last = out.at(-1);
        if (last?.role === 'assistant' && !last.content) last.content = text;
        else out.push({ role: 'assistant', content: text });
      } else throw bad(`${where}.role '${String(role)}' is invalid`, `${where}.role`);
    } else if (type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string')
        throw bad(`${where} (function_call) needs call_id and name`, where);
      const call = {
        id: item.call_id,
        name: item.name,
        arguments: typeof item.arguments === 'string' ? item.arguments : '{}',
      };
      names.set(call.id, call.name);
      const last = out.at(-1);
      if (last?.role === 'assistant') last.toolCalls = [...(last.toolCalls ?? []), call];
      else out.push({ role: 'assistant', content: '', toolCalls: [call] });
    } else if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string')
        throw bad(`${where} (function_call_output) needs call_id`, `${where}.call_id`);
      const output = typeof item.output === 'string' ? item.output : partsText(item.output, where);
      out.push({
        role: 'tool',
        content: output,
        toolCallId: item.call_id,
        ...(names.has(item.call_id) ? { name: names.get(item.call_id)! } : {}),
      });
    } else if (type === 'reasoning') {
      // a previous turn's reasoning item: the kernel's model seam carries no encrypted reasoning; dropped
    } else {
      throw unsupported(
        `${where}: item type '${String(type)}' is not supported by the gateway (message, function_call, function_call_output)`,
        where,
      );
    }
  });
  return out;
}

export function parseResponsesRequest(body: Loose): GatewayCall {
  if (typeof body.model !== 'string' || !body.model) throw bad('you must provide a model parameter', 'model');
  onlyKnown(body, KNOWN, (k) => `Unrecognized request argument supplied: ${k}`);
  openAiNoops(body);
  noopOnly(
    body,
    'truncation',
    ['disabled'],
    "the gateway forwards the whole input and truncates nothing: send 'disabled' or omit it",
  );
  noopOnly(
    body,
    'include',
    [[]],
    'the gateway returns no extra output data (no encrypted reasoning, logprobs or tool sources); omit include',
  );
  noopOnly(body, 'top_logprobs', [0], 'logprobs are not forwarded by the gateway');
  noopOnly(
    body,
    'background',
    [false],
    'background responses need stored responses, which the gateway does not keep',
  );
  noopOnly(
    body,
    'max_tool_calls',
    [],
    'max_tool_calls limits built-in tools, which the gateway does not offer; omit it',
  );
  const reasoning = body.reasoning as Loose | undefined | null;
  if (reasoning !== undefined && reasoning !== null) {
    if (typeof reasoning !== 'object' || Array.isArray(reasoning))
      throw bad('reasoning must be an object', 'reasoning');
    for (const k of Object.keys(reasoning))
      if (k !== 'effort' && !((k === 'summary' || k === 'generate_summary') && reasoning[k] === null))
        throw unsupported(
          `reasoning.${k} is not supported by the gateway (reasoning.effort only: no reasoning items come back)`,
          `reasoning.${k}`,
        );
  }
  const text = body.text as Loose | undefined | null;
  if (text !== undefined && text !== null && (typeof text !== 'object' || Array.isArray(text)))
    throw bad('text must be an object', 'text');
  if (text)
    for (const k of Object.keys(text))
      if (k !== 'format')
        throw unsupported(
          `text.${k} is not forwarded by the gateway; say what you want in the prompt`,
          `text.${k}`,
        );
  const so = body.stream_options as Loose | undefined | null;
  if (so && typeof so === 'object')
    for (const k of Object.keys(so))
      if (!(k === 'include_obfuscation' && so[k] === false))
        throw unsupported(`stream_options.${k} is not supported by the gateway`, `stream_options.${k}`);
  for (const k of ['previous_response_id', 'conversation', 'prompt'] as const)
    if (body[k] !== undefined && body[k] !== null)
      throw unsupported(
        `${k} is not supported by the gateway: it stores no responses (the kernel's session is the state) — send the whole input each call`,
        k,
      );
  const responseFormat = responseFormatField(text?.format, 'text.format', 'responses');
  const messages = messagesOf(body.input, body.instructions);
  const tools: ToolSpec[] = ((body.tools as Loose[] | undefined) ?? []).map((t, i) => {
    if (t?.type !== 'function' || typeof t.name !== 'string')
      throw unsupported(
        `tools[${i}]: only function tools are supported by the gateway ({type:'function', name, parameters}); got '${String(t?.type)}'`,
        `tools[${i}]`,
      );
    return {
      name: t.name,
      description: typeof t.description === 'string' ? t.description : '',
      parameters: (t.parameters as Loose | undefined) ?? { type: 'object', properties: {} },
    };
  });
  const maxOut = body.max_output_tokens;
  if (maxOut !== undefined && maxOut !== null && (!Number.isInteger(maxOut) || (maxOut as number) < 1))
    throw bad('max_output_tokens must be a positive integer', 'max_output_tokens');
  const temperature = body.temperature;
  if (
    temperature !== undefined &&
    temperature !== null &&
    (typeof temperature !== 'number' || temperature < 0 || temperature > 2)
  )
    throw bad('temperature must be a number between 0 and 2', 'temperature');
  const toolChoice = toolChoiceOf(body.tool_choice);
  return {
    dialect: 'openai',
    model: body.model,
    chat: {
      messages,
      ...(tools.length ? { tools } : {}),
      ...(toolChoice ? { toolChoice } : {}),
      ...(typeof temperature === 'number' ? { temperature } : {}),
      ...(typeof maxOut === 'number' ? { maxOutputTokens: maxOut } : {}),
      ...openAiSampling(body),
      ...defined('reasoningEffort', effortOf(reasoning?.effort, 'reasoning.effort')),
      ...defined('responseFormat', responseFormat),
    },
    stream: body.stream === true,
    includeUsage: true,
    hints: {
      ...(typeof body.user === 'string' ? { user: body.user } : {}),
      ...(typeof body.prompt_cache_key === 'string' ? { promptCacheKey: body.prompt_cache_key } : {}),
    },
  };
}

function usageOf(r: ChatResponse): Loose {
  return {
    input_tokens: r.usage.input,
    input_tokens_details: { cached_tokens: r.usage.cachedInput },
    output_tokens: r.usage.output,
    output_tokens_details: { reasoning_tokens: r.usage.reasoning },
    total_tokens: r.usage.input + r.usage.output,
  };
}

/** The `response` object around `output`, echoing the request's parameters as OpenAI does. */
function envelope(
  respId: string,
  body: Loose,
  created: number,
  status: 'in_progress' | 'completed' | 'incomplete',
  output: Loose[],
  usage: Loose | null,
): Loose {
  return {
    id: respId,
    object: 'response',
    created_at: created,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: typeof body.instructions === 'string' ? body.instructions : null,
    max_output_tokens: typeof body.max_output_tokens === 'number' ? body.max_output_tokens : null,
    model: body.model,
    output,
    parallel_tool_calls: body.parallel_tool_calls !== false,
    previous_response_id: null,
    prompt_cache_key: typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: false,
    temperature: typeof body.temperature === 'number' ? body.temperature : 1,
    text: { format: (body.text as Loose | undefined)?.format ?? { type: 'text' }, verbosity: 'medium' },
    tool_choice: body.tool_choice ?? 'auto',
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_p: typeof body.top_p === 'number' ? body.top_p : 1,
    truncation: 'disabled',
    usage,
    user: typeof body.user === 'string' ? body.user : null,
    metadata: (body.metadata as Loose | undefined) ?? {},
  };
}

const messageItem = (itemId: string, text: string, status: string): Loose => ({
  id: itemId,
  type: 'message',
  status,
  role: 'assistant',
  content: status === 'in_progress' ? [] : [{ type: 'output_text', text, annotations: [], logprobs: [] }],
});

const callItem = (itemId: string, c: { id: string; name: string; arguments: string }, status: string) => ({
  id: itemId,
  type: 'function_call',
  status,
  call_id: c.id,
  name: c.name,
  arguments: status === 'in_progress' ? '' : c.arguments,
});

/** A complete (non-streamed) response. */
export function responsesObject(r: ChatResponse, respId: string, body: Loose, created: number): Loose {
  const output: Loose[] = [];
  if (r.content) output.push(messageItem(id('msg'), r.content, 'completed'));
  for (const tc of r.toolCalls) output.push(callItem(id('fc'), tc, 'completed'));
  const status = r.finishReason === 'length' ? 'incomplete' : 'completed';
  return envelope(respId, body, created, status, output, usageOf(r));
}

/**
 * Turns the kernel's stream events into the Responses API's numbered events: every item is announced
 * (`response.output_item.added`) before its deltas and closed (`…done`) with its full content, as the
 * SDK's stream accumulator requires.
 */
export class ResponsesEventer {
  private seq = 0;
  private started = false;
  private text: { itemId: string; index: number; text: string } | null = null;
  private readonly calls = new Map<
    number,
    { itemId: string; index: number; call: { id: string; name: string; arguments: string } }
  >();
  private outputs = 0;
  private readonly done: Loose[] = [];

  constructor(
    private readonly respId: string,
    private readonly body: Loose,
    private readonly created: number,
  ) {}

  private ev(type: string, data: Loose): { event: string; data: Loose } {
    return { event: type, data: { type, sequence_number: this.seq++, ...data } };
  }

  /** `response.created` and `response.in_progress`: sent as soon as the call is dispatched. */
  start(): Array<{ event: string; data: Loose }> {
    if (this.started) return [];
    this.started = true;
    const r = envelope(this.respId, this.body, this.created, 'in_progress', [], null);
    return [this.ev('response.created', { response: r }), this.ev('response.in_progress', { response: r })];
  }

  private closeText(): Array<{ event: string; data: Loose }> {
    const t = this.text;
    if (!t) return [];
    this.text = null;
    const part = { type: 'output_text', text: t.text, annotations: [], logprobs: [] };
    const item = messageItem(t.itemId, t.text, 'completed');
    this.done[t.index] = item;
    return [
      this.ev('response.output_text.done', {
        item_id: t.itemId,
        output_index: t.index,
        content_index: 0,
        text: t.text,
        logprobs: [],
      }),
      this.ev('response.content_part.done', {
        item_id: t.itemId,
        output_index: t.index,
        content_index: 0,
        part,
      }),
      this.ev('response.output_item.done', { output_index: t.index, item }),
    ];
  }

  private openText(): Array<{ event: string; data: Loose }> {
    if (this.text) return [];
    this.text = { itemId: id('msg'), index: this.outputs++, text: '' };
    const { itemId, index } = this.text;
    return [
      this.ev('response.output_item.added', {
        output_index: index,
        item: messageItem(itemId, '', 'in_progress'),
      }),
      this.ev('response.content_part.added', {
        item_id: itemId,
        output_index: index,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
      }),
    ];
  }

  private textDelta(delta: string): Array<{ event: string; data: Loose }> {
    const out = this.openText();
    const t = this.text!;
    t.text += delta;
    out.push(
      this.ev('response.output_text.delta', {
        item_id: t.itemId,
        output_index: t.index,
        content_index: 0,
        delta,
        logprobs: [],
      }),
    );
    return out;
  }

  private callDelta(key: number, c: { id?: string; name?: string; delta: string }) {
    const out: Array<{ event: string; data: Loose }> = [];
    let s = this.calls.get(key);
    if (!s) {
      out.push(...this.closeText());
      s = {
        itemId: id('fc'),
        index: this.outputs++,
        call: { id: c.id ?? id('call'), name: c.name ?? '', arguments: '' },
      };
      this.calls.set(key, s);
      out.push(
        this.ev('response.output_item.added', {
          output_index: s.index,
          item: callItem(s.itemId, s.call, 'in_progress'),
        }),
      );
    }
    if (c.delta) {
      s.call.arguments += c.delta;
      out.push(
        this.ev('response.function_call_arguments.delta', {
          item_id: s.itemId,
          output_index: s.index,
          delta: c.delta,
        }),
      );
    }
    return out;
  }

  event(e: StreamEvent): Array<{ event: string; data: Loose }> {
    const out = this.start();
    if (e.type === 'text' && e.delta) out.push(...this.textDelta(e.delta));
    else if (e.type === 'tool_call')
      out.push(
        ...this.callDelta(e.index, {
          ...(e.id ? { id: e.id } : {}),
          ...(e.name ? { name: e.name } : {}),
          delta: e.argumentsDelta,
        }),
      );
    return out;
  }

  /** Closes open items and sends `response.completed` with the whole response; fills in what was not streamed. */
  finish(r: ChatResponse, emitted: { text: boolean; tools: boolean }): Array<{ event: string; data: Loose }> {
    const out = this.start();
    if (!emitted.text && r.content) out.push(...this.textDelta(r.content));
    out.push(...this.closeText());
    if (!emitted.tools)
      for (const [i, tc] of r.toolCalls.entries())
        out.push(...this.callDelta(UNSTREAMED + i, { id: tc.id, name: tc.name, delta: tc.arguments }));
    for (const s of [...this.calls.values()].sort((a, b) => a.index - b.index)) {
      const item = callItem(s.itemId, s.call, 'completed');
      this.done[s.index] = item;
      out.push(
        this.ev('response.function_call_arguments.done', {
          item_id: s.itemId,
          output_index: s.index,
          name: s.call.name,
          arguments: s.call.arguments,
        }),
        this.ev('response.output_item.done', { output_index: s.index, item }),
      );
    }
    const status = r.finishReason === 'length' ? 'incomplete' : 'completed';
    const full = envelope(
      this.respId,
      this.body,
      this.created,
      status,
      this.done.filter(Boolean),
      usageOf(r),
    );
    out.push(
      this.ev(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: full }),
    );
    return out;
  }

  /** A failure after the stream opened: `error` then `response.failed`. */
  failed(message: string, code: string): Array<{ event: string; data: Loose }> {
    const r = {
      ...envelope(this.respId, this.body, this.created, 'in_progress', this.done.filter(Boolean), null),
      status: 'failed',
      error: { code, message },
    };
    return [this.ev('error', { code, message, param: null }), this.ev('response.failed', { response: r })];
  }
}
