/**
 * The OpenAI Responses dialect of the gateway (POST /v1/responses,
 * https://platform.openai.com/docs/api-reference/responses): request bodies → a GatewayCall over the same
 * chat path as /v1/chat/completions, ChatResponses → `response` objects, and stream events → the typed,
 * numbered server-sent events (`response.created` … `response.completed`) the official `openai` client
 * parses, including its `responses.stream()` accumulator. Responses are stored unless `store: false`
 * (./response-store.ts): `previous_response_id` continues a stored one — its input and output items come
 * before the new input, so the provider (any of them) gets the whole conversation, and the call goes to
 * the previous response's session. `conversation`, `prompt`, `background` and server-side tools are
 * refused with a 400 naming them; pure hints are accepted and not forwarded.
 *
 * Size: Over 500 lines because the dialect's request (with its stored chain), response object and numbered stream events share one set of item and envelope builders; the store itself is ./response-store.ts.
 */
import { randomBytes } from 'node:crypto';
import { KernelError, panic } from '../errors.js';
import type { ChatMessage, ChatResponse, StreamEvent, ToolChoice, ToolSpec } from '../llm/model.js';
import type { GatewayCall } from './call.js';
import { defined, effortOf, noopOnly, onlyKnown, RESPONSES_FIELDS, responseFormatField } from './fields.js';
import { openAiNoops, openAiSampling } from './openai-wire.js';
import type { StoredResponse } from './response-store.js';

type Loose = Record<string, unknown>;

const bad = (message: string, param: string | null = null) =>
  new KernelError('EINVAL', message, { details: { param } });
const unsupported = (message: string, param: string) =>
  new KernelError('EUNSUPPORTED', message, { details: { param } });

const KNOWN = new Set<string>(Object.values(RESPONSES_FIELDS).flat());

/** Keys of calls that were not streamed (a replay): above any stream's tool-call index. */
const UNSTREAMED = Number.MAX_SAFE_INTEGER / 2;

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

/** An output item's id, from its response's: the same in the answer, its stream and a later GET. */
const itemId = (kind: 'msg' | 'fc', respId: string, index: number) =>
  `${kind}_${respId.slice(respId.indexOf('_') + 1)}_${index}`;

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

/**
 * Input items (message / function_call / function_call_output items) → the kernel's messages. The first
 * `inherited` items are a previous response's (its input and output): errors name the caller's own items.
 */
function messagesOf(input: Loose[], instructions: unknown, inherited = 0): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (typeof instructions === 'string' && instructions) out.push({ role: 'system', content: instructions });
  const names = new Map<string, string>();
  input.forEach((item, i) => {
    const where = i < inherited ? `previous_response_id's input[${i}]` : `input[${i - inherited}]`;
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

/** The caller's `input` as stored input items: typed, content as parts, each with an id. */
function inputItems(input: unknown, respId: string): Loose[] {
  const sfx = respId.slice(respId.indexOf('_') + 1);
  if (typeof input === 'string')
    return [
      {
        id: `msg_${sfx}_in0`,
        type: 'message',
        role: 'user',
        content: [{ type: 'input_text', text: input }],
      },
    ];
  if (!Array.isArray(input) || input.length === 0)
    throw bad("'input' must be a string or a non-empty array of items", 'input');
  return (input as Loose[]).map((item, i) => {
    if (!item || typeof item !== 'object' || Array.isArray(item))
      throw bad(`input[${i}] must be an object`, `input[${i}]`);
    const type = item.type ?? (item.role ? 'message' : undefined);
    const out: Loose = { ...item, type };
    if (type === 'message' && typeof item.content === 'string')
      out.content = [{ type: item.role === 'assistant' ? 'output_text' : 'input_text', text: item.content }];
    if (typeof out.id !== 'string') {
      const kind = type === 'function_call' ? 'fc' : type === 'function_call_output' ? 'fco' : 'msg';
      out.id = `${kind}_${sfx}_in${i}`;
    }
    return out;
  });
}

/** The request parameters a response echoes (kept with a stored one for GET): everything but the input. */
const ECHOED = [
  'model',
  'instructions',
  'max_output_tokens',
  'parallel_tool_calls',
  'previous_response_id',
  'prompt_cache_key',
  'store',
  'temperature',
  'text',
  'tool_choice',
  'tools',
  'top_p',
  'user',
  'metadata',
] as const;

/** A stored response a call chains on (previous_response_id): its input and output items. */
export interface PreviousResponse {
  input: Loose[];
  output: Loose[];
}

/**
 * A POST /v1/responses body → a GatewayCall. `respId` and `created` are the new response's; `previous` the
 * stored response named by previous_response_id (the route looks it up in the caller's tenant).
 */
export function parseResponsesRequest(
  body: Loose,
  respId: string,
  created: number,
  previous: PreviousResponse | null = null,
): GatewayCall {
  if (typeof body.model !== 'string' || !body.model) throw bad('you must provide a model parameter', 'model');
  onlyKnown(body, KNOWN, (k) => `Unrecognized request argument supplied: ${k}`);
  const { store, ...rest } = body;
  if (store !== undefined && store !== null && typeof store !== 'boolean')
    throw bad('store must be a boolean', 'store');
  const prevId = body.previous_response_id;
  if (prevId !== undefined && prevId !== null && (typeof prevId !== 'string' || !prevId))
    throw bad('previous_response_id must be a response id (a string)', 'previous_response_id');
  if (typeof prevId === 'string' && !previous)
    panic('gateway: a previous_response_id reached the parser without its stored response');
  openAiNoops(rest);
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
    'background responses are not offered by the gateway: make the call and wait (or stream) for its answer',
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
  for (const k of ['conversation', 'prompt'] as const)
    if (body[k] !== undefined && body[k] !== null)
      throw unsupported(
        k === 'conversation'
          ? 'conversation is not supported by the gateway: chain responses with previous_response_id, or send the whole input each call'
          : 'prompt (stored prompt templates) is not supported by the gateway: send instructions and input',
        k,
      );
  const responseFormat = responseFormatField(text?.format, 'text.format', 'responses');
  const own = inputItems(body.input, respId);
  // Chained: the previous response's input and output, then the new input (its instructions are not
  // inherited — OpenAI's rule: a chained call says its own).
  const items = previous ? [...previous.input, ...previous.output, ...own] : own;
  const inherited = previous ? previous.input.length + previous.output.length : 0;
  const messages = messagesOf(items, body.instructions, inherited);
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
    ...(store === false
      ? {}
      : { store: { id: respId, record: (r) => stored(r, respId, body, created, items) } }),
  };
}

/** The stored row of an answered call: what GET returns and what a chained call continues from. */
function stored(
  r: ChatResponse,
  respId: string,
  body: Loose,
  created: number,
  input: Loose[],
): StoredResponse {
  const request: Loose = { created_at: created };
  for (const k of ECHOED) if (body[k] !== undefined) request[k] = body[k];
  return {
    id: respId,
    status: statusOf(r),
    input,
    output: outputItems(r, respId),
    request,
    usage: usageOf(r),
  };
}

/** A stored response as GET /v1/responses/{id} returns it. */
export function storedObject(row: StoredResponse): Loose {
  const created = typeof row.request.created_at === 'number' ? row.request.created_at : 0;
  const status = row.status === 'incomplete' ? 'incomplete' : 'completed';
  return envelope(row.id, row.request, created, status, row.output, row.usage);
}

const statusOf = (r: ChatResponse) => (r.finishReason === 'length' ? 'incomplete' : 'completed');

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
    previous_response_id: typeof body.previous_response_id === 'string' ? body.previous_response_id : null,
    prompt_cache_key: typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: body.store !== false,
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

/** A response's output items: its text, then its function calls (the order its stream announces them). */
function outputItems(r: ChatResponse, respId: string): Loose[] {
  const output: Loose[] = [];
  if (r.content) output.push(messageItem(itemId('msg', respId, output.length), r.content, 'completed'));
  for (const tc of r.toolCalls) output.push(callItem(itemId('fc', respId, output.length), tc, 'completed'));
  return output;
}

/** A complete (non-streamed) response. */
export function responsesObject(r: ChatResponse, respId: string, body: Loose, created: number): Loose {
  return envelope(respId, body, created, statusOf(r), outputItems(r, respId), usageOf(r));
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
    const index = this.outputs++;
    const msgId = itemId('msg', this.respId, index);
    this.text = { itemId: msgId, index, text: '' };
    return [
      this.ev('response.output_item.added', {
        output_index: index,
        item: messageItem(msgId, '', 'in_progress'),
      }),
      this.ev('response.content_part.added', {
        item_id: msgId,
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
      const index = this.outputs++;
      s = {
        itemId: itemId('fc', this.respId, index),
        index,
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
