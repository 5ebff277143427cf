/**
 * The OpenAI Chat Completions dialect of the gateway: request bodies → a GatewayCall (the kernel's own
 * ChatRequest vocabulary), ChatResponses and stream events → the exact JSON and SSE chunks the official
 * `openai` client parses (https://platform.openai.com/docs/api-reference/chat). Parameters the kernel's
 * model seam cannot carry are refused with a 400 naming them, never silently dropped, except the few that
 * are pure hints (listed in IGNORED).
 */
import { KernelError } from '../errors.js';
import type { ChatMessage, ChatResponse, StreamEvent, ToolChoice, ToolSpec } from '../llm/model.js';
import type { GatewayCall } from './call.js';
import {
  boolField,
  CHAT_FIELDS,
  defined,
  EMBEDDING_FIELDS,
  effortOf,
  intField,
  noopOnly,
  numberField,
  onlyKnown,
  responseFormatField,
  stopField,
  stringField,
} from './fields.js';

type Loose = Record<string, unknown>;

const bad = (message: string, param: string | null = null) =>
  new KernelError('EINVAL', message, { details: { param } });

const KNOWN = new Set<string>(Object.values(CHAT_FIELDS).flat());

/** The fields that only take their no-op value, with why another is refused (shared with /v1/responses). */
export function openAiNoops(body: Loose): void {
  noopOnly(
    body,
    'store',
    [false],
    'the gateway stores no completions (the kernel journals every call); omit store or send false',
  );
  noopOnly(
    body,
    'metadata',
    [{}],
    'metadata is kept only with stored completions, which the gateway does not offer; omit it',
  );
  noopOnly(
    body,
    'service_tier',
    ['auto', 'default'],
    "the kernel's scheduler sets a call's priority, not the vendor's tier: send x-aos-priority instead",
  );
}

function textOf(content: unknown, where: string): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw bad(`${where}.content must be a string or an array of parts`, where);
  return content
    .map((p: Loose, i) => {
      if (p?.type === 'text' && typeof p.text === 'string') return p.text;
      if (p?.type === 'refusal' && typeof p.refusal === 'string') return p.refusal;
      throw new KernelError(
        'EUNSUPPORTED',
        `${where}.content[${i}] is a "${String(p?.type)}" part; the gateway forwards text parts only (images, audio and files are not supported yet)`,
        { details: { param: `${where}.content[${i}]` } },
      );
    })
    .join('');
}

function toolChoiceOf(v: unknown): ToolChoice | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'auto' || v === 'none' || v === 'required') return v;
  const o = v as Loose;
  const fn = o?.function as Loose | undefined;
  if (o?.type === 'function' && typeof fn?.name === 'string') return { name: fn.name };
  throw bad(
    "tool_choice must be 'auto', 'none', 'required' or {type:'function', function:{name}}",
    'tool_choice',
  );
}

export function parseOpenAiChat(body: Loose): GatewayCall {
  if (typeof body.model !== 'string' || !body.model) throw bad('you must provide a model parameter', 'model');
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw bad("'messages' must be a non-empty array", 'messages');
  onlyKnown(body, KNOWN, (k) => `Unrecognized request argument supplied: ${k}`);
  noopOnly(body, 'n', [1], 'the gateway returns one choice: n must be 1');
  noopOnly(body, 'logprobs', [false], 'logprobs are not forwarded by the gateway');
  noopOnly(body, 'top_logprobs', [0], 'logprobs are not forwarded by the gateway');
  noopOnly(
    body,
    'logit_bias',
    [{}],
    "logit_bias is not forwarded by the gateway (its token ids are one vendor tokenizer's)",
  );
  noopOnly(
    body,
    'verbosity',
    [],
    'verbosity is not forwarded by the gateway; ask for the length you want in the prompt',
  );
  openAiNoops(body);
  const so = body.stream_options as Loose | undefined;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object' || Array.isArray(so))
      throw bad('stream_options must be an object', 'stream_options');
    for (const k of Object.keys(so))
      if (k !== 'include_usage' && !(k === 'include_obfuscation' && so[k] === false))
        throw new KernelError(
          'EUNSUPPORTED',
          `stream_options.${k} is not supported by the gateway (include_usage only)`,
          {
            details: { param: `stream_options.${k}` },
          },
        );
  }
  const messages: ChatMessage[] = (body.messages as Loose[]).map((m, i) => {
    const where = `messages[${i}]`;
    const role = m?.role;
    if (role === 'system' || role === 'developer')
      return { role: 'system', content: textOf(m.content, where) };
    if (role === 'user') return { role: 'user', content: textOf(m.content, where) };
    if (role === 'assistant') {
      const out: ChatMessage = { role: 'assistant', content: textOf(m.content, where) };
      if (Array.isArray(m.tool_calls) && m.tool_calls.length) {
        out.toolCalls = (m.tool_calls as Loose[]).map((tc, j) => {
          const fn = (tc?.function ?? {}) as Loose;
          if (typeof tc?.id !== 'string' || typeof fn.name !== 'string')
            throw bad(`${where}.tool_calls[${j}] needs an id and function.name`, `${where}.tool_calls`);
          return {
            id: tc.id,
            name: fn.name,
            arguments: typeof fn.arguments === 'string' ? fn.arguments : '{}',
          };
        });
      }
      if (typeof m.reasoning_content === 'string') out.reasoning = m.reasoning_content;
      return out;
    }
    if (role === 'tool') {
      if (typeof m.tool_call_id !== 'string')
        throw bad(`${where}: 'tool_call_id' is required for role 'tool'`, `${where}.tool_call_id`);
      return { role: 'tool', content: textOf(m.content, where), toolCallId: m.tool_call_id };
    }
    throw bad(`${where}.role '${String(role)}' is invalid`, `${where}.role`);
  });
  // Tool turns carry the name of the call they answer: the Anthropic side of the seam needs it.
  const names = new Map<string, string>();
  for (const m of messages) for (const tc of m.toolCalls ?? []) names.set(tc.id, tc.name);
  for (const m of messages)
    if (m.role === 'tool' && m.toolCallId && names.has(m.toolCallId)) m.name = names.get(m.toolCallId)!;
  const tools: ToolSpec[] = ((body.tools as Loose[] | undefined) ?? []).map((t, i) => {
    const fn = (t?.function ?? {}) as Loose;
    if (t?.type !== 'function' || typeof fn.name !== 'string')
      throw bad(`tools[${i}] must be {type:'function', function:{name, parameters}}`, `tools[${i}]`);
    return {
      name: fn.name,
      description: typeof fn.description === 'string' ? fn.description : '',
      parameters: (fn.parameters as Loose | undefined) ?? { type: 'object', properties: {} },
    };
  });
  const maxOut = body.max_completion_tokens ?? body.max_tokens;
  if (maxOut !== undefined && maxOut !== null && (!Number.isInteger(maxOut) || (maxOut as number) < 1))
    throw bad('max_tokens must be a positive integer', 'max_tokens');
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
      ...defined('stop', stopField(body, 'stop', { max: 4, string: true })),
      ...defined('frequencyPenalty', numberField(body, 'frequency_penalty', -2, 2)),
      ...defined('presencePenalty', numberField(body, 'presence_penalty', -2, 2)),
      ...defined('seed', intField(body, 'seed')),
      ...defined('reasoningEffort', effortOf(body.reasoning_effort, 'reasoning_effort')),
      ...defined('responseFormat', responseFormatField(body.response_format, 'response_format', 'chat')),
    },
    stream: body.stream === true,
    includeUsage: so?.include_usage === true,
    hints: {
      ...(typeof body.user === 'string' ? { user: body.user } : {}),
      ...(typeof body.prompt_cache_key === 'string' ? { promptCacheKey: body.prompt_cache_key } : {}),
    },
  };
}

/** Fields both OpenAI dialects forward the same way: top_p, parallel_tool_calls, the end user's id. */
export function openAiSampling(body: Loose): Partial<GatewayCall['chat']> {
  return {
    ...defined('topP', numberField(body, 'top_p', 0, 1)),
    ...defined('parallelToolCalls', boolField(body, 'parallel_tool_calls')),
    // safety_identifier is OpenAI's successor to user: either reaches the provider as its end-user id.
    ...defined('endUser', stringField(body, 'safety_identifier') ?? stringField(body, 'user')),
  };
}

const FINISH: Record<ChatResponse['finishReason'], string> = {
  stop: 'stop',
  tool_calls: 'tool_calls',
  length: 'length',
  content_filter: 'content_filter',
  error: 'stop',
};

export function openAiUsage(r: ChatResponse): Loose {
  return {
    prompt_tokens: r.usage.input,
    completion_tokens: r.usage.output,
    total_tokens: r.usage.input + r.usage.output,
    prompt_tokens_details: { cached_tokens: r.usage.cachedInput, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: r.usage.reasoning,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export function openAiCompletion(r: ChatResponse, id: string, model: string, created: number): Loose {
  const message: Loose = {
    role: 'assistant',
    content: r.content || (r.toolCalls.length ? null : ''),
    refusal: null,
    annotations: [],
  };
  if (r.toolCalls.length)
    message.tool_calls = r.toolCalls.map((tc) => ({
      id: tc.id,
      type: 'function',
      function: { name: tc.name, arguments: tc.arguments },
    }));
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, message, logprobs: null, finish_reason: FINISH[r.finishReason] }],
    usage: openAiUsage(r),
    service_tier: 'default',
  };
}

/**
 * Turns the kernel's stream events into chat.completion.chunk objects. With include_usage every chunk
 * carries `usage: null` and a last chunk with empty `choices` carries the usage, as OpenAI documents.
 */
export class OpenAiChunker {
  private started = false;
  private readonly toolIndex = new Map<number, number>();

  constructor(
    private readonly id: string,
    private readonly model: string,
    private readonly created: number,
    private readonly includeUsage: boolean,
  ) {}

  private wrap(delta: Loose, finish: string | null = null): Loose {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      system_fingerprint: null,
      service_tier: 'default',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(this.includeUsage ? { usage: null } : {}),
    };
  }

  /** The role chunk: sent as soon as the call is dispatched (time to first byte). */
  start(): Loose[] {
    if (this.started) return [];
    this.started = true;
    return [this.wrap({ role: 'assistant', content: '', refusal: null })];
  }

  event(ev: StreamEvent): Loose[] {
    const out = this.start();
    if (ev.type === 'text' && ev.delta) out.push(this.wrap({ content: ev.delta }));
    else if (ev.type === 'tool_call') {
      let index = this.toolIndex.get(ev.index);
      if (index === undefined) {
        index = this.toolIndex.size;
        this.toolIndex.set(ev.index, index);
        out.push(
          this.wrap({
            tool_calls: [
              {
                index,
                id: ev.id ?? `call_${this.id}_${index}`,
                type: 'function',
                function: { name: ev.name ?? '', arguments: ev.argumentsDelta },
              },
            ],
          }),
        );
      } else if (ev.argumentsDelta) {
        out.push(this.wrap({ tool_calls: [{ index, function: { arguments: ev.argumentsDelta } }] }));
      }
    }
    return out;
  }

  /** The finish chunk (and the usage chunk); a replayed or non-streaming source gets its whole body here. */
  finish(r: ChatResponse, emitted: { text: boolean; tools: boolean }): Loose[] {
    const out = this.start();
    if (!emitted.text && r.content) out.push(this.wrap({ content: r.content }));
    if (!emitted.tools)
      r.toolCalls.forEach((tc, i) => {
        out.push(
          this.wrap({
            tool_calls: [
              { index: i, id: tc.id, type: 'function', function: { name: tc.name, arguments: tc.arguments } },
            ],
          }),
        );
      });
    out.push(this.wrap({}, FINISH[r.finishReason]));
    if (this.includeUsage)
      out.push({
        id: this.id,
        object: 'chat.completion.chunk',
        created: this.created,
        model: this.model,
        system_fingerprint: null,
        service_tier: 'default',
        choices: [],
        usage: openAiUsage(r),
      });
    return out;
  }
}

/** OpenAI's error body: `{ error: { message, type, param, code } }`. */
export function openAiError(
  status: number,
  code: string,
  message: string,
  param: string | null = null,
): Loose {
  const type =
    status === 401
      ? 'invalid_request_error'
      : status === 403
        ? 'permission_error'
        : status === 404
          ? 'invalid_request_error'
          : status === 429
            ? code === 'EQUOTA'
              ? 'insufficient_quota'
              : 'requests'
            : status === 402
              ? 'insufficient_quota'
              : status >= 500
                ? 'server_error'
                : 'invalid_request_error';
  const wireCode =
    status === 401
      ? 'invalid_api_key'
      : status === 404
        ? 'model_not_found'
        : status === 429
          ? code === 'EQUOTA'
            ? 'insufficient_quota'
            : 'rate_limit_exceeded'
          : status === 402
            ? 'insufficient_quota'
            : code.toLowerCase();
  return { error: { message, type, param, code: wireCode, aos_code: code } };
}

const EMBEDDING_KNOWN = new Set<string>(Object.values(EMBEDDING_FIELDS).flat());

export function openAiEmbeddingsInput(body: Loose): {
  model: string;
  texts: string[];
  dimensions?: number;
  base64: boolean;
} {
  if (typeof body.model !== 'string' || !body.model) throw bad('you must provide a model parameter', 'model');
  onlyKnown(body, EMBEDDING_KNOWN, (k) => `Unrecognized request argument supplied: ${k}`);
  noopOnly(
    body,
    'user',
    [],
    "the end user's id is not forwarded with embeddings (the llm.embed syscall has no field for it); omit it",
  );
  const dimensions = intField(body, 'dimensions', 1);
  const input = body.input;
  const texts =
    typeof input === 'string'
      ? [input]
      : Array.isArray(input) && input.every((x) => typeof x === 'string')
        ? (input as string[])
        : null;
  if (!texts || texts.length === 0)
    throw bad(
      "'input' must be a string or a non-empty array of strings (token arrays are not supported)",
      'input',
    );
  const fmt = body.encoding_format ?? 'float';
  if (fmt !== 'float' && fmt !== 'base64')
    throw bad("encoding_format must be 'float' or 'base64'", 'encoding_format');
  return {
    model: body.model,
    texts,
    ...defined('dimensions', dimensions),
    base64: fmt === 'base64',
  };
}

export function float32Base64(v: number[]): string {
  return Buffer.from(new Float32Array(v).buffer).toString('base64');
}
