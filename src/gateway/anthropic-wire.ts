/**
 * The Anthropic Messages dialect of the gateway: request bodies → a GatewayCall, ChatResponses and stream
 * events → the exact JSON and SSE events the official `@anthropic-ai/sdk` parses
 * (https://docs.anthropic.com/en/api/messages, .../messages-streaming). `cache_control` on a system,
 * text or tool_result block becomes a cache breakpoint on the kernel's message, which the Anthropic
 * provider writes back as `cache_control` — the caller's breakpoints reach the vendor where it put them.
 */
import { KernelError } from '../errors.js';
import type {
  ChatMessage,
  ChatResponse,
  ResponseFormat,
  StreamEvent,
  ToolChoice,
  ToolSpec,
} from '../llm/model.js';
import type { GatewayCall } from './call.js';
import {
  defined,
  intField,
  MESSAGES_FIELDS,
  noopOnly,
  numberField,
  onlyKnown,
  responseFormatField,
  stopField,
} from './fields.js';

type Loose = Record<string, unknown>;

const bad = (message: string, param: string | null = null) =>
  new KernelError('EINVAL', message, { details: { param } });

const KNOWN = new Set<string>(Object.values(MESSAGES_FIELDS).flat());

function textBlocks(blocks: Loose[], where: string): { text: string; breakpoint: boolean } {
  let text = '';
  let breakpoint = false;
  blocks.forEach((b, i) => {
    if (b?.type !== 'text' || typeof b.text !== 'string')
      throw new KernelError(
        'EUNSUPPORTED',
        `${where}[${i}] is a "${String(b?.type)}" block; the gateway forwards text, tool_use and tool_result blocks only`,
        { details: { param: `${where}[${i}]` } },
      );
    text += b.text;
    if (b.cache_control) breakpoint = true;
  });
  return { text, breakpoint };
}

function blocksOf(content: unknown, where: string): Loose[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (Array.isArray(content)) return content as Loose[];
  throw bad(`${where}.content: Input should be a valid string or list of content blocks`, `${where}.content`);
}

function toolChoiceOf(v: unknown): ToolChoice | undefined {
  if (v === undefined || v === null) return undefined;
  const o = v as Loose;
  switch (o?.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      if (typeof o.name === 'string') return { name: o.name };
  }
  throw bad("tool_choice must be {type:'auto'|'any'|'none'} or {type:'tool', name}", 'tool_choice');
}

/** Structured outputs (`output_config.format`, a JSON schema) → ChatRequest.responseFormat; effort is not forwarded. */
function outputFormat(v: unknown): ResponseFormat | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v))
    throw bad('output_config: Input should be an object', 'output_config');
  for (const k of Object.keys(v))
    if (k !== 'format')
      throw new KernelError(
        'EUNSUPPORTED',
        `output_config.${k} is not forwarded by the gateway (output_config.format only); omit it`,
        { details: { param: `output_config.${k}` } },
      );
  return responseFormatField((v as Loose).format, 'output_config.format', 'messages');
}

export function parseAnthropicMessages(body: Loose): GatewayCall {
  if (typeof body.model !== 'string' || !body.model) throw bad('model: Field required', 'model');
  if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens) || body.max_tokens < 1)
    throw bad('max_tokens: Field required (a positive integer)', 'max_tokens');
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw bad('messages: at least one message is required', 'messages');
  onlyKnown(body, KNOWN, (k) => `${k}: Extra inputs are not permitted`);
  noopOnly(
    body,
    'service_tier',
    ['auto'],
    "the kernel's scheduler sets a call's priority, not the vendor's tier: send x-aos-priority instead",
  );
  const meta = body.metadata as Loose | undefined | null;
  if (meta !== undefined && meta !== null) {
    if (typeof meta !== 'object' || Array.isArray(meta))
      throw bad('metadata: Input should be an object', 'metadata');
    for (const k of Object.keys(meta))
      if (k !== 'user_id') throw bad(`metadata.${k}: Extra inputs are not permitted`, `metadata.${k}`);
    if (meta.user_id !== undefined && meta.user_id !== null && typeof meta.user_id !== 'string')
      throw bad('metadata.user_id: Input should be a valid string', 'metadata.user_id');
  }
  const thinking = body.thinking as Loose | undefined;
  if (thinking && thinking.type !== 'disabled')
    throw new KernelError(
      'EUNSUPPORTED',
      'extended thinking is not forwarded by the gateway yet; omit `thinking`',
      {
        details: { param: 'thinking' },
      },
    );
  const messages: ChatMessage[] = [];
  if (body.system !== undefined) {
    const s =
      typeof body.system === 'string'
        ? { text: body.system, breakpoint: false }
        : textBlocks(blocksOf(body.system, 'system'), 'system');
    if (s.text)
      messages.push({ role: 'system', content: s.text, ...(s.breakpoint ? { cacheBreakpoint: true } : {}) });
  }
  const names = new Map<string, string>();
  (body.messages as Loose[]).forEach((m, i) => {
    const where = `messages.${i}`;
    if (m?.role !== 'user' && m?.role !== 'assistant')
      throw bad(`${where}.role: Input should be 'user' or 'assistant'`, `${where}.role`);
    const blocks = blocksOf(m.content, where);
    if (m.role === 'assistant') {
      let text = '';
      let breakpoint = false;
      const calls: NonNullable<ChatMessage['toolCalls']> = [];
      blocks.forEach((b, j) => {
        if (b?.cache_control) breakpoint = true;
        if (b?.type === 'text') text += String(b.text ?? '');
        else if (b?.type === 'tool_use') {
          if (typeof b.id !== 'string' || typeof b.name !== 'string')
            throw bad(`${where}.content.${j}: tool_use needs an id and a name`, `${where}.content.${j}`);
          names.set(b.id, b.name);
          calls.push({ id: b.id, name: b.name, arguments: JSON.stringify(b.input ?? {}) });
        } else if (b?.type === 'thinking' || b?.type === 'redacted_thinking') {
          // Earlier turns' thinking is dropped by the API itself outside a tool loop; nothing to forward.
        } else
          throw new KernelError(
            'EUNSUPPORTED',
            `${where}.content.${j}: "${String(b?.type)}" blocks are not forwarded by the gateway`,
            {
              details: { param: `${where}.content.${j}` },
            },
          );
      });
      messages.push({
        role: 'assistant',
        content: text,
        ...(calls.length ? { toolCalls: calls } : {}),
        ...(breakpoint ? { cacheBreakpoint: true } : {}),
      });
      return;
    }
    let text = '';
    let textBreakpoint = false;
    blocks.forEach((b, j) => {
      if (b?.type === 'tool_result') {
        const id = String(b.tool_use_id ?? '');
        if (!id) throw bad(`${where}.content.${j}.tool_use_id: Field required`, `${where}.content.${j}`);
        const content =
          b.content === undefined
            ? ''
            : typeof b.content === 'string'
              ? b.content
              : textBlocks(b.content as Loose[], `${where}.content.${j}.content`).text;
        messages.push({
          role: 'tool',
          toolCallId: id,
          name: names.get(id) ?? 'tool',
          content: b.is_error === true ? `[tool error] ${content}` : content,
          ...(b.cache_control ? { cacheBreakpoint: true } : {}),
        });
      } else {
        const t = textBlocks([b], `${where}.content.${j}`);
        text += t.text;
        if (t.breakpoint) textBreakpoint = true;
      }
    });
    if (text || !blocks.some((b) => b?.type === 'tool_result'))
      messages.push({ role: 'user', content: text, ...(textBreakpoint ? { cacheBreakpoint: true } : {}) });
  });
  const tools: ToolSpec[] = ((body.tools as Loose[] | undefined) ?? []).map((t, i) => {
    if (typeof t?.name !== 'string') throw bad(`tools.${i}.name: Field required`, `tools.${i}.name`);
    if (t.type !== undefined && t.type !== 'custom')
      throw new KernelError(
        'EUNSUPPORTED',
        `tools.${i}: server tools ("${String(t.type)}") are not supported by the gateway`,
        {
          details: { param: `tools.${i}` },
        },
      );
    return {
      name: t.name,
      description: typeof t.description === 'string' ? t.description : '',
      parameters: (t.input_schema as Loose | undefined) ?? { type: 'object', properties: {} },
    };
  });
  const temperature = body.temperature;
  if (temperature !== undefined && (typeof temperature !== 'number' || temperature < 0 || temperature > 1))
    throw bad('temperature: Input should be between 0 and 1', 'temperature');
  const toolChoice = toolChoiceOf(body.tool_choice);
  const tc = body.tool_choice as Loose | undefined | null;
  const dpu = tc?.disable_parallel_tool_use;
  if (dpu !== undefined && typeof dpu !== 'boolean')
    throw bad('tool_choice.disable_parallel_tool_use: Input should be a valid boolean', 'tool_choice');
  const userId = typeof meta?.user_id === 'string' && meta.user_id ? meta.user_id : undefined;
  return {
    dialect: 'anthropic',
    model: body.model,
    chat: {
      messages,
      ...(tools.length ? { tools } : {}),
      ...(toolChoice ? { toolChoice } : {}),
      ...(typeof temperature === 'number' ? { temperature } : {}),
      maxOutputTokens: body.max_tokens,
      ...defined('stop', stopField(body, 'stop_sequences', { string: false })),
      ...defined('topP', numberField(body, 'top_p', 0, 1)),
      ...defined('topK', intField(body, 'top_k', 1)),
      ...(dpu === true ? { parallelToolCalls: false } : {}),
      ...defined('endUser', userId),
      ...defined('responseFormat', outputFormat(body.output_config)),
    },
    stream: body.stream === true,
    includeUsage: true,
    hints: userId ? { metadataUserId: userId } : {},
  };
}

const STOP: Record<ChatResponse['finishReason'], string> = {
  stop: 'end_turn',
  tool_calls: 'tool_use',
  length: 'max_tokens',
  content_filter: 'refusal',
  error: 'end_turn',
};

const stopReason = (r: ChatResponse) => (r.stopSequence ? 'stop_sequence' : STOP[r.finishReason]);

/** Anthropic's input_tokens excludes cache reads and writes; the kernel's `input` includes them. */
export function anthropicUsage(r: ChatResponse): Loose {
  return {
    input_tokens: Math.max(0, r.usage.input - r.usage.cachedInput - r.usage.cacheWrite),
    cache_creation_input_tokens: r.usage.cacheWrite,
    cache_read_input_tokens: r.usage.cachedInput,
    output_tokens: r.usage.output,
    service_tier: 'standard',
  };
}

function toolInput(args: string): unknown {
  try {
    return JSON.parse(args || '{}');
  } catch {
    return {};
  }
}

export function anthropicMessage(r: ChatResponse, id: string, model: string): Loose {
  const content: Loose[] = [];
  if (r.content) content.push({ type: 'text', text: r.content });
  for (const tc of r.toolCalls)
    content.push({ type: 'tool_use', id: tc.id, name: tc.name, input: toolInput(tc.arguments) });
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason(r),
    stop_sequence: r.stopSequence ?? null,
    usage: anthropicUsage(r),
  };
}

export interface SseEvent {
  event: string;
  data: Loose;
}

/**
 * Kernel stream events → Anthropic SSE events. message_start goes out when the call is dispatched (its
 * usage is an estimate; the cumulative totals come in message_delta, which the SDK's MessageStream reads).
 */
export class AnthropicEventer {
  private started = false;
  private open: { index: number; kind: 'text' | 'tool'; key: number } | null = null;
  private next = 0;

  constructor(
    private readonly id: string,
    private readonly model: string,
    private readonly estInput: number,
  ) {}

  start(): SseEvent[] {
    if (this.started) return [];
    this.started = true;
    return [
      {
        event: 'message_start',
        data: {
          type: 'message_start',
          message: {
            id: this.id,
            type: 'message',
            role: 'assistant',
            model: this.model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: {
              input_tokens: this.estInput,
              cache_creation_input_tokens: 0,
              cache_read_input_tokens: 0,
              output_tokens: 1,
            },
          },
        },
      },
      { event: 'ping', data: { type: 'ping' } },
    ];
  }

  private close(): SseEvent[] {
    if (!this.open) return [];
    const ev = { event: 'content_block_stop', data: { type: 'content_block_stop', index: this.open.index } };
    this.open = null;
    return [ev];
  }

  private openBlock(kind: 'text' | 'tool', key: number, block: Loose): SseEvent[] {
    const out = this.close();
    const index = this.next++;
    this.open = { index, kind, key };
    out.push({
      event: 'content_block_start',
      data: { type: 'content_block_start', index, content_block: block },
    });
    return out;
  }

  event(ev: StreamEvent): SseEvent[] {
    const out = this.start();
    if (ev.type === 'text' && ev.delta) {
      if (this.open?.kind !== 'text') out.push(...this.openBlock('text', 0, { type: 'text', text: '' }));
      out.push(this.delta({ type: 'text_delta', text: ev.delta }));
    } else if (ev.type === 'tool_call') {
      if (this.open?.kind !== 'tool' || this.open.key !== ev.index)
        out.push(
          ...this.openBlock('tool', ev.index, {
            type: 'tool_use',
            id: ev.id ?? `toolu_${this.id}_${ev.index}`,
            name: ev.name ?? '',
            input: {},
          }),
        );
      if (ev.argumentsDelta)
        out.push(this.delta({ type: 'input_json_delta', partial_json: ev.argumentsDelta }));
    }
    return out;
  }

  private delta(delta: Loose): SseEvent {
    return {
      event: 'content_block_delta',
      data: { type: 'content_block_delta', index: this.open!.index, delta },
    };
  }

  finish(r: ChatResponse, emitted: { text: boolean; tools: boolean }): SseEvent[] {
    const out = this.start();
    if (!emitted.text && r.content) {
      out.push(...this.openBlock('text', 0, { type: 'text', text: '' }));
      out.push(this.delta({ type: 'text_delta', text: r.content }));
    }
    if (!emitted.tools)
      r.toolCalls.forEach((tc, i) => {
        out.push(
          ...this.openBlock('tool', 1000 + i, { type: 'tool_use', id: tc.id, name: tc.name, input: {} }),
        );
        out.push(this.delta({ type: 'input_json_delta', partial_json: tc.arguments || '{}' }));
      });
    out.push(...this.close());
    const u = anthropicUsage(r);
    out.push({
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: stopReason(r), stop_sequence: r.stopSequence ?? null },
        usage: {
          input_tokens: u.input_tokens,
          cache_creation_input_tokens: u.cache_creation_input_tokens,
          cache_read_input_tokens: u.cache_read_input_tokens,
          output_tokens: u.output_tokens,
        },
      },
    });
    out.push({ event: 'message_stop', data: { type: 'message_stop' } });
    return out;
  }
}

const ERROR_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'invalid_request_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  501: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
};

/** Anthropic's error body: `{ type: 'error', error: { type, message } }`. */
export function anthropicError(status: number, message: string): Loose {
  return {
    type: 'error',
    error: { type: ERROR_TYPE[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message },
  };
}
