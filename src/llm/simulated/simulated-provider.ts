/**
 * Provider `simulated`: the simulator's engine called in-process — no sockets, no SDK — for demos, tests and
 * benchmarks that want the kernel's own overhead without HTTP. Same engine as the HTTP server (policy,
 * scenarios, latency, rate limits, failures, prefix-cache accounting), same errors as a real provider.
 * To exercise the real SDK wire path instead, point an OpenAI-compatible provider at `createSimulator()`.
 */
import { KernelError } from '../../errors.js';
import { LLM_REQUEST_TIMEOUT_MS, SIM_EMBEDDING_DIM } from '../../param.js';
import { callSignal, toKernelError } from '../errors.js';
import type {
  ChatRequest,
  ChatResponse,
  EmbeddingModel,
  Model,
  ModelProvider,
  StreamEvent,
} from '../model.js';
import { buildChatBody, checkChatRequest } from '../openai-compatible/wire.js';
import { findPreset } from '../presets.js';
import { assembleResponse } from '../response.js';
import { conceptEmbedding } from './concepts.js';
import { pause, SimEngine, SimHttpError, type SimOutcome, type SimulatorOptions } from './engine.js';
import { openAiPromptTokens } from './prompt.js';
import { pieces, simModelName } from './render.js';
import { openAiToSim } from './wire-in.js';

const PRESET = findPreset('simulated')!;

function asSdkError(e: SimHttpError): Record<string, unknown> {
  const headers = new Map<string, string>();
  if (e.retryAfterMs !== undefined) headers.set('retry-after-ms', String(e.retryAfterMs));
  return {
    status: e.status,
    message: e.message,
    error: { error: { message: e.message } },
    headers: { get: (k: string) => headers.get(k) ?? null },
  };
}

export class SimulatedProvider implements ModelProvider {
  readonly name: string;
  readonly engine: SimEngine;

  constructor(opts: SimulatorOptions & { name?: string; engine?: SimEngine } = {}) {
    this.name = opts.name ?? 'simulated';
    this.engine = opts.engine ?? new SimEngine(opts);
  }

  model(id: string): Model {
    return new SimulatedModel(this, id);
  }

  embeddings(id: string, dimensions = SIM_EMBEDDING_DIM): EmbeddingModel {
    return { id, dimensions, embed: async (texts) => texts.map((t) => conceptEmbedding(t, dimensions)) };
  }
}

class SimulatedModel implements Model {
  readonly provider: string;
  constructor(
    private readonly p: SimulatedProvider,
    readonly id: string,
  ) {
    this.provider = p.name;
  }

  validate(req: ChatRequest): void {
    checkChatRequest(req, PRESET);
  }

  /** Runs one request through the engine up to the point where output would start flowing. */
  private async begin(
    req: ChatRequest,
    stream: boolean,
    call: ReturnType<typeof callSignal>,
    timeoutMs: number,
  ): Promise<SimOutcome> {
    const engine = this.p.engine;
    const body = buildChatBody(this.id, req, PRESET, stream);
    engine.record('inproc', PRESET.name, body);
    const ctx = { provider: this.provider, model: this.id, call, timeoutMs };
    let o: SimOutcome;
    try {
      o = engine.decide(
        openAiToSim(body, PRESET),
        { tokens: openAiPromptTokens(body) },
        req.promptCacheKey ?? '',
      );
    } catch (err) {
      if (err instanceof SimHttpError) {
        engine.count(err);
        throw toKernelError(asSdkError(err), ctx);
      }
      throw err;
    }
    if (o.hang && !(stream && o.turn.content)) {
      await new Promise<void>((resolve) =>
        call.signal.aborted
          ? resolve()
          : call.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      throw toKernelError(new Error('request hung (simulated)'), ctx);
    }
    return o;
  }

  private finish(o: SimOutcome, startedAt: number): ChatResponse {
    return assembleResponse({
      model: simModelName(this.id),
      provider: this.provider,
      catalogId: this.id,
      content: o.turn.content,
      ...(o.turn.reasoning ? { reasoning: o.turn.reasoning } : {}),
      toolCalls: o.turn.toolCalls,
      finishReason: o.turn.toolCalls.length ? 'tool_calls' : 'stop',
      usage: {
        input: o.promptTokens,
        cachedInput: o.cachedTokens,
        cacheWrite: 0,
        output: o.outputTokens,
        reasoning: o.reasoningTokens,
      },
      startedAt,
    });
  }

  private truncated(o: SimOutcome): KernelError {
    return new KernelError(
      'EPROVIDER',
      `${this.provider}/${this.id}: stream ended before the model finished (simulated truncation) — retry`,
      {
        retryable: true,
        details: {
          provider: this.provider,
          model: this.id,
          reason: 'truncated_stream',
          partialContent: o.turn.content.slice(0, o.turn.content.length >> 1),
        },
      },
    );
  }

  async chat(req: ChatRequest): Promise<ChatResponse> {
    const startedAt = performance.now();
    const timeoutMs = req.timeoutMs ?? LLM_REQUEST_TIMEOUT_MS;
    const call = callSignal(req.signal, timeoutMs);
    const engine = this.p.engine;
    try {
      const o = await this.begin(req, false, call, timeoutMs);
      await engine.acquire();
      try {
        await pause(engine.ttftMs + engine.perTokenMs * o.outputTokens, call.signal);
        if (call.signal.aborted)
          throw toKernelError(new Error('aborted'), {
            provider: this.provider,
            model: this.id,
            call,
            timeoutMs,
          });
        if (o.truncate) throw this.truncated(o);
        engine.stats.completed++;
        return this.finish(o, startedAt);
      } finally {
        engine.release();
      }
    } finally {
      call.dispose();
    }
  }

  async *stream(req: ChatRequest): AsyncGenerator<StreamEvent> {
    const startedAt = performance.now();
    const timeoutMs = req.timeoutMs ?? LLM_REQUEST_TIMEOUT_MS;
    const call = callSignal(req.signal, timeoutMs);
    const engine = this.p.engine;
    const ctx = { provider: this.provider, model: this.id, call, timeoutMs };
    try {
      const o = await this.begin(req, true, call, timeoutMs);
      await engine.acquire();
      try {
        await pause(engine.ttftMs, call.signal);
        const events: StreamEvent[] = [];
        for (const p of pieces(o.turn.reasoning ?? '')) events.push({ type: 'reasoning', delta: p });
        for (const p of pieces(o.turn.content)) events.push({ type: 'text', delta: p });
        for (const [index, tc] of o.turn.toolCalls.entries()) {
          events.push({ type: 'tool_call', index, id: tc.id, name: tc.name, argumentsDelta: tc.arguments });
        }
        const shown = o.truncate ? events.slice(0, events.length >> 1) : events;
        for (const ev of shown) {
          if (call.signal.aborted) throw toKernelError(new Error('aborted'), ctx);
          yield ev;
          const d = ev.type === 'tool_call' ? ev.argumentsDelta : 'delta' in ev ? ev.delta : '';
          await pause(engine.perTokenMs * Math.max(1, Math.ceil(d.length / 4)), call.signal);
        }
        if (o.hang) {
          await new Promise<void>((resolve) =>
            call.signal.aborted
              ? resolve()
              : call.signal.addEventListener('abort', () => resolve(), { once: true }),
          );
        }
        if (call.signal.aborted) throw toKernelError(new Error('aborted'), ctx);
        if (o.truncate) throw this.truncated(o);
        engine.stats.completed++;
        yield { type: 'done', response: this.finish(o, startedAt) };
      } finally {
        engine.release();
      }
    } finally {
      call.dispose();
    }
  }
}
