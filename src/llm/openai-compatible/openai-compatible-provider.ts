/**
 * One provider for every OpenAI-compatible vendor (OpenAI, DeepSeek, Kimi, Qwen, MiniMax, GLM, Gemini, Groq,
 * OpenRouter, SiliconFlow, Together, vLLM, Ollama, LM Studio, the simulator), on the official `openai` SDK.
 * What differs between vendors is data in ../presets.ts; request quirks are applied in ./wire.ts, response
 * quirks (usage dialects, reasoning fields, `<think>` tags, Kimi's in-choice usage) are read here.
 * SDK retries are off: retry, backoff and circuit breaking live in ../resilience so they are the same for all.
 */
import type OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import { KernelError } from '../../errors.js';
import { LLM_REQUEST_TIMEOUT_MS } from '../../param.js';
import { logger } from '../../util/log.js';
import { wireModelId } from '../catalog.js';
import { callSignal, toKernelError } from '../errors.js';
import type {
  ChatRequest,
  ChatResponse,
  EmbeddingModel,
  Model,
  ModelOptions,
  ModelProvider,
  StreamEvent,
  ToolCall,
} from '../model.js';
import type { Preset } from '../presets.js';
import { assembleResponse, mapFinishReason } from '../response.js';
import { sseEvents } from '../sse.js';
import { splitThink, ThinkSplitter } from '../think.js';
import { normaliseOpenAiUsage } from '../usage.js';
import { buildChatBody, checkChatRequest } from './wire.js';

const log = logger('llm');

export interface OpenAiCompatibleOptions {
  preset: Preset;
  apiKey?: string;
  baseUrl?: string;
  /** Name reported in responses and errors (defaults to the preset's). */
  name?: string;
  defaultTimeoutMs?: number;
  /** Extra headers (OpenRouter's HTTP-Referer / X-Title, proxies). */
  headers?: Record<string, string>;
  /** Custom fetch (proxies with their own agent, instrumented transports, the bench's canned transport). */
  fetch?: typeof fetch;
}

type Loose = Record<string, unknown>;

export class OpenAiCompatibleProvider implements ModelProvider {
  readonly name: string;
  readonly preset: Preset;
  readonly baseUrl: string;
  readonly defaultTimeoutMs: number;
  private readonly clientOptions: ConstructorParameters<typeof OpenAI>[0];
  private sdk: Promise<OpenAI> | null = null;

  constructor(opts: OpenAiCompatibleOptions) {
    this.preset = opts.preset;
    this.name = opts.name ?? opts.preset.name;
    this.baseUrl = (opts.baseUrl ?? opts.preset.baseUrl).replace(/\/+$/, '');
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? LLM_REQUEST_TIMEOUT_MS;
    this.clientOptions = {
      // Local servers accept any key; the SDK insists on a non-empty one.
      apiKey: opts.apiKey || 'no-key',
      baseURL: this.baseUrl,
      maxRetries: 0,
      timeout: 2 ** 31 - 1,
      ...(opts.headers ? { defaultHeaders: opts.headers } : {}),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    };
  }

  /** The SDK client, created on the first call: importing `openai` costs ~100 ms a process need not pay. */
  client(): Promise<OpenAI> {
    this.sdk ??= import('openai').then((m) => new m.default(this.clientOptions));
    return this.sdk;
  }

  model(id: string, opts: ModelOptions = {}): Model {
    return new OpenAiCompatibleModel(this, id, opts);
  }

  embeddings(id: string, dimensions?: number): EmbeddingModel {
    const provider = this;
    return {
      id,
      dimensions: dimensions ?? 0,
      async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
        const call = callSignal(signal, provider.defaultTimeoutMs);
        try {
          const res = await (await provider.client()).embeddings.create(
            { model: id, input: texts, ...(dimensions ? { dimensions } : {}) },
            { signal: call.signal },
          );
          return [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
        } catch (err) {
          throw toKernelError(err, {
            provider: provider.name,
            model: id,
            call,
            timeoutMs: provider.defaultTimeoutMs,
            envKey: provider.preset.envKeys[0],
          });
        } finally {
          call.dispose();
        }
      },
    };
  }
}

class OpenAiCompatibleModel implements Model {
  readonly provider: string;
  private readonly wireId: string;

  constructor(
    private readonly p: OpenAiCompatibleProvider,
    readonly id: string,
    private readonly opts: ModelOptions = {},
  ) {
    this.provider = p.name;
    this.wireId = wireModelId(id, p.name);
  }

  private ctx(call: ReturnType<typeof callSignal>, timeoutMs: number) {
    return {
      provider: this.provider,
      model: this.id,
      call,
      timeoutMs,
      envKey: this.p.preset.envKeys[0],
      baseUrl: this.p.baseUrl,
    };
  }

  validate(req: ChatRequest): void {
    checkChatRequest(req, this.p.preset);
  }

  async chat(req: ChatRequest): Promise<ChatResponse> {
    const startedAt = performance.now();
    const body = buildChatBody(
      this.wireId,
      req,
      this.p.preset,
      false,
      this.opts,
    ) as unknown as ChatCompletionCreateParamsNonStreaming;
    const timeoutMs = req.timeoutMs ?? this.p.defaultTimeoutMs;
    const call = callSignal(req.signal, timeoutMs);
    let res: ChatCompletion;
    try {
      res = await (await this.p.client()).chat.completions.create(body, { signal: call.signal });
    } catch (err) {
      throw toKernelError(err, this.ctx(call, timeoutMs));
    } finally {
      call.dispose();
    }
    return this.fromCompletion(res, startedAt);
  }

  /** A whole (non-streamed) completion as the kernel's response. */
  private fromCompletion(res: ChatCompletion, startedAt: number): ChatResponse {
    const choice = res.choices?.[0];
    if (!choice) {
      throw new KernelError('EPROVIDER', `${this.provider}/${this.id} returned no choices`, {
        retryable: true,
        details: { provider: this.provider, model: this.id },
      });
    }
    const msg = choice.message as unknown as Loose;
    let content = typeof msg.content === 'string' ? msg.content : '';
    let reasoning = (msg.reasoning_content ?? msg.reasoning) as string | undefined;
    if (this.p.preset.quirks.thinkTags || content.startsWith('<think>')) {
      const s = splitThink(content);
      content = s.text;
      if (s.reasoning) reasoning = reasoning ? `${reasoning}\n${s.reasoning}` : s.reasoning;
    }
    const toolCalls: ToolCall[] = ((msg.tool_calls as Loose[] | undefined) ?? []).map((tc, i) => {
      const fn = (tc.function ?? {}) as Loose;
      return {
        id: String(tc.id ?? `call_${i}`),
        name: String(fn.name ?? ''),
        arguments: String(fn.arguments ?? ''),
      };
    });
    return assembleResponse({
      model: res.model || this.id,
      provider: this.provider,
      catalogId: this.id,
      content,
      ...(reasoning ? { reasoning } : {}),
      toolCalls,
      finishReason: mapFinishReason(choice.finish_reason, toolCalls.length > 0),
      usage: normaliseOpenAiUsage((res.usage ?? (choice as unknown as Loose).usage) as Loose | undefined),
      startedAt,
    });
  }

  async *stream(req: ChatRequest): AsyncGenerator<StreamEvent> {
    const startedAt = performance.now();
    const body = buildChatBody(
      this.wireId,
      req,
      this.p.preset,
      true,
      this.opts,
    ) as unknown as ChatCompletionCreateParamsStreaming;
    const timeoutMs = req.timeoutMs ?? this.p.defaultTimeoutMs;
    const call = callSignal(req.signal, timeoutMs);
    const think = this.p.preset.quirks.thinkTags ? new ThinkSplitter() : null;
    let content = '';
    let reasoning = '';
    let wireModel = '';
    let finish: string | null | undefined;
    let rawUsage: Loose | undefined;
    const calls: Array<{ id: string; name: string; arguments: string }> = [];
    try {
      const client = await this.p.client();
      // The SDK sends the request and turns an HTTP error into its APIError; the 2xx event stream is read
      // by ../sse.ts (the SDK's reader costs ~0.85 ms more CPU per streamed answer: see there).
      const raw = await client.chat.completions.create(body, { signal: call.signal }).asResponse();
      const type = raw.headers.get('content-type') ?? '';
      if (!type.includes('event-stream') && type.includes('json')) {
        // The server ignored `stream: true` (some OpenAI-compatible servers and proxies do) and answered
        // with a whole completion: read it as one, instead of taking an empty event stream for a cut.
        log.warnOnce(
          `no-stream:${this.p.baseUrl}`,
          `${this.provider} (${this.p.baseUrl}) answered a streamed request with a whole JSON completion: reading it whole (set stream: false for this model to skip asking)`,
        );
        const response = this.fromCompletion((await raw.json()) as ChatCompletion, startedAt);
        if (response.reasoning) yield { type: 'reasoning', delta: response.reasoning };
        if (response.content) yield { type: 'text', delta: response.content };
        for (const [index, tc] of response.toolCalls.entries())
          yield { type: 'tool_call', index, id: tc.id, name: tc.name, argumentsDelta: tc.arguments };
        yield { type: 'done', response };
        return;
      }
      for await (const c of chunksOf(raw, client)) {
        if (typeof c.model === 'string' && c.model) wireModel = c.model;
        if (c.usage) rawUsage = c.usage as Loose;
        const choice = (c.choices as Loose[] | undefined)?.[0];
        if (!choice) continue;
        if (choice.usage) rawUsage = choice.usage as Loose; // Kimi puts it here
        if (choice.finish_reason) finish = choice.finish_reason as string;
        const delta = (choice.delta ?? {}) as Loose;
        const rc = (delta.reasoning_content ?? delta.reasoning) as string | undefined;
        if (rc) {
          reasoning += rc;
          yield { type: 'reasoning', delta: rc };
        }
        if (typeof delta.content === 'string' && delta.content) {
          for (const piece of think
            ? think.push(delta.content)
            : [{ kind: 'text' as const, text: delta.content }]) {
            if (piece.kind === 'text') content += piece.text;
            else reasoning += piece.text;
            yield piece.kind === 'text'
              ? { type: 'text', delta: piece.text }
              : { type: 'reasoning', delta: piece.text };
          }
        }
        for (const tc of (delta.tool_calls as Loose[] | undefined) ?? []) {
          const index = typeof tc.index === 'number' ? tc.index : calls.length;
          const fn = (tc.function ?? {}) as Loose;
          const slot = calls[index] ?? { id: '', name: '', arguments: '' };
          calls[index] = slot;
          if (typeof tc.id === 'string' && tc.id) slot.id = tc.id;
          if (typeof fn.name === 'string' && fn.name) slot.name += fn.name;
          const argsDelta = typeof fn.arguments === 'string' ? fn.arguments : '';
          slot.arguments += argsDelta;
          yield {
            type: 'tool_call',
            index,
            ...(typeof tc.id === 'string' && tc.id ? { id: tc.id } : {}),
            ...(typeof fn.name === 'string' && fn.name ? { name: fn.name } : {}),
            argumentsDelta: argsDelta,
          };
        }
      }
      // The SDK ends a stream quietly when its signal fires: an abort or timeout must not pass for an ending.
      if (call.signal.aborted) throw new Error('stream aborted');
    } catch (err) {
      throw toKernelError(err, this.ctx(call, timeoutMs));
    } finally {
      call.dispose();
    }
    for (const piece of think?.flush() ?? []) {
      if (piece.kind === 'text') content += piece.text;
      else reasoning += piece.text;
      yield piece.kind === 'text'
        ? { type: 'text', delta: piece.text }
        : { type: 'reasoning', delta: piece.text };
    }
    if (!finish) {
      throw new KernelError(
        'EPROVIDER',
        `${this.provider}/${this.id}: stream ended before the model finished (no finish_reason); the connection was cut or the server is broken — retry`,
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
    const toolCalls = calls
      .filter(Boolean)
      .map((c, i) => ({ id: c.id || `call_${i}`, name: c.name, arguments: c.arguments }));
    const response = assembleResponse({
      model: wireModel || this.id,
      provider: this.provider,
      catalogId: this.id,
      content: think ? content.replace(/^\s+/, '') : content,
      ...(reasoning ? { reasoning: think ? reasoning.trim() : reasoning } : {}),
      toolCalls,
      finishReason: mapFinishReason(finish, toolCalls.length > 0),
      usage: normaliseOpenAiUsage(rawUsage),
      startedAt,
    });
    yield { type: 'done', response };
  }
}

/**
 * The JSON chunks of a chat-completions event stream, as the SDK's Stream reads them: `[DONE]` ends them
 * (the rest is drained, so the connection is reused), an event whose data carries `error` (how OpenAI and
 * the compatible servers report a failure after the 200) throws the SDK's APIError — the same error, and
 * so the same KernelError, as before — and data that is not JSON throws its SyntaxError.
 */
async function* chunksOf(raw: Response, client: OpenAI): AsyncGenerator<Loose> {
  if (!raw.body) throw new Error('the provider answered a streamed request without a body');
  let done = false;
  for await (const events of sseEvents(raw.body)) {
    if (done) continue;
    for (const ev of events) {
      if (ev.data.startsWith('[DONE]')) {
        done = true;
        break;
      }
      const data = JSON.parse(ev.data) as Loose;
      if (data?.error) {
        const APIError = (client.constructor as typeof OpenAI).APIError;
        throw new APIError(undefined, data.error as object, undefined, raw.headers);
      }
      yield data;
    }
  }
}
