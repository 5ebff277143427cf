/**
 * Anthropic's Messages API on the official `@anthropic-ai/sdk`. Request shaping is in ./wire.ts; here we
 * read responses and the raw event stream (message_start → content_block_* → message_delta → message_stop),
 * normalising usage so `input` includes cache reads and writes like every other provider's.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type {
  Message,
  MessageCreateParamsNonStreaming,
  MessageCreateParamsStreaming,
  RawMessageStreamEvent,
} from '@anthropic-ai/sdk/resources/messages';
import { KernelError } from '../../errors.js';
import { ANTHROPIC_DEFAULT_MAX_TOKENS, LLM_REQUEST_TIMEOUT_MS } from '../../param.js';
import { findModel, wireModelId } from '../catalog.js';
import { callSignal, toKernelError } from '../errors.js';
import type {
  ChatRequest,
  ChatResponse,
  Model,
  ModelOptions,
  ModelProvider,
  ReasoningBlock,
  StreamEvent,
  ToolCall,
} from '../model.js';
import { assembleResponse, mapFinishReason } from '../response.js';
import { normaliseAnthropicUsage } from '../usage.js';
import { buildMessagesBody, checkMessagesRequest } from './wire.js';

export interface AnthropicOptions {
  apiKey?: string;
  baseUrl?: string;
  name?: string;
  defaultTimeoutMs?: number;
  headers?: Record<string, string>;
}

type Loose = Record<string, unknown>;

export class AnthropicProvider implements ModelProvider {
  readonly name: string;
  private readonly clientOptions: ConstructorParameters<typeof Anthropic>[0];
  private sdk: Promise<Anthropic> | null = null;
  readonly baseUrl: string;
  readonly defaultTimeoutMs: number;

  constructor(opts: AnthropicOptions = {}) {
    this.name = opts.name ?? 'anthropic';
    this.baseUrl = (opts.baseUrl ?? 'https://api.anthropic.com').replace(/\/+$/, '').replace(/\/v1$/, '');
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? LLM_REQUEST_TIMEOUT_MS;
    this.clientOptions = {
      apiKey: opts.apiKey || 'no-key',
      baseURL: this.baseUrl,
      maxRetries: 0,
      timeout: 2 ** 31 - 1,
      ...(opts.headers ? { defaultHeaders: opts.headers } : {}),
    };
  }

  /** The SDK client, created on the first call: importing `@anthropic-ai/sdk` costs ~200 ms. */
  client(): Promise<Anthropic> {
    this.sdk ??= import('@anthropic-ai/sdk').then((m) => new m.default(this.clientOptions));
    return this.sdk;
  }

  model(id: string, opts: ModelOptions = {}): Model {
    return new AnthropicModel(this, id, opts);
  }
}

/**
 * A structured-output schema (output_config.format) shaped by the SDK's own rule, the one its parse helpers
 * apply (transformJSONSchema): `additionalProperties: false` on every object, and the constraints the API
 * does not take (minimum, maxLength, unsupported formats …) moved into the description. A schema written
 * for OpenAI's strict mode (zodResponseFormat) is refused by the API as it is.
 */
async function vendorSchema(body: Loose): Promise<void> {
  const format = (body.output_config as Loose | undefined)?.format as Loose | undefined;
  if (!format) return;
  const { transformJSONSchema } = await import('@anthropic-ai/sdk/lib/transform-json-schema');
  try {
    format.schema = transformJSONSchema(withDefs(format.schema as Loose));
  } catch (err) {
    throw new KernelError(
      'EINVAL',
      `response_format's JSON schema cannot be sent to Anthropic: ${(err as Error).message}; give every sub-schema a type (or anyOf/enum/const)`,
      { details: { param: 'response_format' }, cause: err },
    );
  }
}

/**
 * Draft-7 `definitions` (what zodResponseFormat and other OpenAI-side tools emit for a shared or recursive
 * sub-schema) as `$defs`, the refs to them rewritten: the SDK's transform keeps `$defs` only, and would fold
 * `definitions` into a description and leave its refs dangling.
 */
function withDefs(schema: Loose): Loose {
  const defs = schema.definitions;
  if (!defs || typeof defs !== 'object' || schema.$defs !== undefined) return schema;
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (!v || typeof v !== 'object') return v;
    const out: Loose = {};
    for (const [k, x] of Object.entries(v as Loose))
      out[k] =
        k === '$ref' && typeof x === 'string' && x.startsWith('#/definitions/')
          ? `#/$defs/${x.slice('#/definitions/'.length)}`
          : rewrite(x);
    return out;
  };
  const { definitions, ...rest } = rewrite(schema) as Loose;
  return { ...rest, $defs: definitions };
}

class AnthropicModel implements Model {
  readonly provider: string;
  private readonly wireId: string;
  private readonly maxTokens: number;

  constructor(
    private readonly p: AnthropicProvider,
    readonly id: string,
    private readonly opts: ModelOptions = {},
  ) {
    this.provider = p.name;
    this.wireId = wireModelId(id, p.name);
    const cap = findModel(id, 'anthropic')?.maxOutput;
    // Configured max_output_tokens wins (capped by the catalogue); else the smaller of the two defaults.
    this.maxTokens = opts.maxOutputTokens
      ? Math.min(opts.maxOutputTokens, cap ?? opts.maxOutputTokens)
      : Math.min(cap ?? ANTHROPIC_DEFAULT_MAX_TOKENS, ANTHROPIC_DEFAULT_MAX_TOKENS);
  }

  private ctx(call: ReturnType<typeof callSignal>, timeoutMs: number) {
    return {
      provider: this.provider,
      model: this.id,
      call,
      timeoutMs,
      envKey: 'ANTHROPIC_API_KEY',
      baseUrl: this.p.baseUrl,
    };
  }

  validate(req: ChatRequest): void {
    checkMessagesRequest(req);
  }

  async chat(req: ChatRequest): Promise<ChatResponse> {
    const startedAt = performance.now();
    const body = buildMessagesBody(
      this.wireId,
      req,
      this.maxTokens,
      false,
      this.opts,
    ) as unknown as MessageCreateParamsNonStreaming;
    await vendorSchema(body as unknown as Loose);
    const timeoutMs = req.timeoutMs ?? this.p.defaultTimeoutMs;
    const call = callSignal(req.signal, timeoutMs);
    let res: Message;
    try {
      res = await (await this.p.client()).messages.create(body, { signal: call.signal });
    } catch (err) {
      throw toKernelError(err, this.ctx(call, timeoutMs));
    } finally {
      call.dispose();
    }
    let content = '';
    let reasoning = '';
    const toolCalls: ToolCall[] = [];
    const reasoningBlocks: ReasoningBlock[] = [];
    for (const b of res.content as unknown as Loose[]) {
      if (b.type === 'text') content += String(b.text ?? '');
      else if (b.type === 'thinking') {
        reasoning += String(b.thinking ?? '');
        reasoningBlocks.push({
          type: 'thinking',
          thinking: String(b.thinking ?? ''),
          signature: String(b.signature ?? ''),
        });
      } else if (b.type === 'redacted_thinking')
        reasoningBlocks.push({ type: 'redacted_thinking', data: String(b.data ?? '') });
      else if (b.type === 'tool_use')
        toolCalls.push({ id: String(b.id), name: String(b.name), arguments: JSON.stringify(b.input ?? {}) });
    }
    return assembleResponse({
      model: res.model || this.id,
      provider: this.provider,
      catalogId: this.id,
      content,
      ...(reasoning ? { reasoning } : {}),
      ...(reasoningBlocks.length ? { reasoningBlocks } : {}),
      toolCalls,
      finishReason: mapFinishReason(res.stop_reason, toolCalls.length > 0),
      stopSequence: res.stop_reason === 'stop_sequence' ? res.stop_sequence : null,
      usage: normaliseAnthropicUsage(res.usage as unknown as Loose),
      startedAt,
    });
  }

  async *stream(req: ChatRequest): AsyncGenerator<StreamEvent> {
    const startedAt = performance.now();
    const body = buildMessagesBody(
      this.wireId,
      req,
      this.maxTokens,
      true,
      this.opts,
    ) as unknown as MessageCreateParamsStreaming;
    await vendorSchema(body as unknown as Loose);
    const timeoutMs = req.timeoutMs ?? this.p.defaultTimeoutMs;
    const call = callSignal(req.signal, timeoutMs);
    let content = '';
    let reasoning = '';
    let wireModel = '';
    let stop: string | null | undefined;
    let stopSequence: string | null = null;
    let stopped = false;
    const usage: Loose = {};
    const calls: ToolCall[] = [];
    const toolIndexOfBlock = new Map<number, number>();
    const thinkingOfBlock = new Map<number, ReasoningBlock>();
    try {
      const stream = await (await this.p.client()).messages.create(body, { signal: call.signal });
      for await (const ev of stream as AsyncIterable<RawMessageStreamEvent>) {
        const e = ev as unknown as Loose;
        switch (e.type) {
          case 'message_start': {
            const m = (e.message ?? {}) as Loose;
            wireModel = String(m.model ?? '');
            Object.assign(usage, m.usage ?? {});
            break;
          }
          case 'content_block_start': {
            const b = (e.content_block ?? {}) as Loose;
            if (b.type === 'thinking' || b.type === 'redacted_thinking') {
              thinkingOfBlock.set(
                Number(e.index),
                b.type === 'thinking'
                  ? { type: 'thinking', thinking: '', signature: '' }
                  : { type: 'redacted_thinking', data: String(b.data ?? '') },
              );
            }
            if (b.type === 'tool_use') {
              const index = calls.length;
              toolIndexOfBlock.set(Number(e.index), index);
              calls.push({ id: String(b.id), name: String(b.name), arguments: '' });
              yield { type: 'tool_call', index, id: String(b.id), name: String(b.name), argumentsDelta: '' };
            }
            break;
          }
          case 'content_block_delta': {
            const d = (e.delta ?? {}) as Loose;
            if (d.type === 'text_delta') {
              content += String(d.text);
              yield { type: 'text', delta: String(d.text) };
            } else if (d.type === 'thinking_delta') {
              reasoning += String(d.thinking);
              const tb = thinkingOfBlock.get(Number(e.index));
              if (tb?.type === 'thinking') tb.thinking += String(d.thinking);
              yield { type: 'reasoning', delta: String(d.thinking) };
            } else if (d.type === 'signature_delta') {
              const tb = thinkingOfBlock.get(Number(e.index));
              if (tb?.type === 'thinking') tb.signature += String(d.signature);
            } else if (d.type === 'input_json_delta') {
              const index = toolIndexOfBlock.get(Number(e.index));
              const slot = index === undefined ? undefined : calls[index];
              if (index !== undefined && slot) {
                slot.arguments += String(d.partial_json);
                yield { type: 'tool_call', index, argumentsDelta: String(d.partial_json) };
              }
            }
            break;
          }
          case 'message_delta': {
            const d = (e.delta ?? {}) as Loose;
            if (d.stop_reason) stop = String(d.stop_reason);
            if (typeof d.stop_sequence === 'string') stopSequence = d.stop_sequence;
            // message_delta usage is cumulative; its non-null fields supersede message_start's.
            for (const [k, v] of Object.entries((e.usage ?? {}) as Loose))
              if (v !== null && v !== undefined) usage[k] = v;
            break;
          }
          case 'message_stop':
            stopped = true;
            break;
        }
      }
      // The SDK ends a stream quietly when its signal fires: an abort or timeout must not pass for an ending.
      if (call.signal.aborted) throw new Error('stream aborted');
    } catch (err) {
      throw toKernelError(err, this.ctx(call, timeoutMs));
    } finally {
      call.dispose();
    }
    if (!stopped || !stop) {
      throw new KernelError(
        'EPROVIDER',
        `${this.provider}/${this.id}: stream ended before message_stop; the connection was cut or the server is broken — retry`,
        {
          retryable: true,
          details: {
            provider: this.provider,
            model: this.id,
            reason: 'truncated_stream',
            partialContent: content,
          },
        },
      );
    }
    const response = assembleResponse({
      model: wireModel || this.id,
      provider: this.provider,
      catalogId: this.id,
      content,
      ...(reasoning ? { reasoning } : {}),
      ...(thinkingOfBlock.size
        ? { reasoningBlocks: [...thinkingOfBlock.entries()].sort((a, b) => a[0] - b[0]).map((x) => x[1]) }
        : {}),
      toolCalls: calls,
      finishReason: mapFinishReason(stop, calls.length > 0),
      stopSequence: stop === 'stop_sequence' ? stopSequence : null,
      usage: normaliseAnthropicUsage(usage),
      startedAt,
    });
    yield { type: 'done', response };
  }
}
