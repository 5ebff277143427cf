/**
 * Streamed model calls of process steps (the `llm.chat` syscall's streaming half, ./services.ts).
 */
import { KernelError } from '../errors.js';
import { findModel } from '../llm/catalog.js';
import { type ChatRequest, type ChatResponse, type LlmUsage, type Model, ZERO_USAGE } from '../llm/model.js';
import { countTokens, promptTokens } from '../llm/tokenizer.js';
import { addUsage, costFor } from '../llm/usage.js';
import { logger } from '../util/log.js';
import type { KernelCore } from './core.js';

const log = logger('kernel');

/**
 * A streamed call: every delta goes out on the hook bus (`llm.delta`) as it arrives, time to first token
 * is measured, and the assembled response is the result — the step commits only what a finished stream
 * said. A cut stream that is retried as a whole (ResilientModel, `restartable`) is announced with
 * `llm.restart` so watchers drop what they showed; one whose error goes up (the step is then parked or
 * failed, never committed) is announced the same way, with `final: true`. Each cut attempt was billed by
 * the provider and reported by no one: its estimate (below) is added to the call's usage and cost — the
 * answer's, or the error's — so budgets, quotas and cost count every attempt (ChatResponse.estimated).
 */
export async function streamedCall(
  k: Pick<KernelCore, 'hooks' | 'metrics'>,
  model: Model,
  req: ChatRequest,
  at: { pid: number; stepNo: number; model: string; t0: number },
): Promise<ChatResponse> {
  const { pid, stepNo, model: modelName, t0 } = at;
  let first = true;
  let attempt = 1;
  let shown = false;
  // What this attempt streamed, for the usage of a stream that fails after its first delta (below).
  let streamed: string[] = [];
  // The estimated usage of the attempts cut after their first delta and made again.
  let cut: Estimate | null = null;
  try {
    for await (const ev of model.stream(req)) {
      if (ev.type === 'done') return withCutAttempts(ev.response, cut);
      if (ev.type === 'restart') {
        if (shown) cut = plus(cut, streamedUsage(model, req, streamed), 1);
        attempt = ev.attempt + 1;
        shown = false;
        streamed = [];
        k.metrics.streamRestarts.inc({ model: modelName });
        log.warn(`pid ${pid} step ${stepNo}: stream cut, making the call again (${ev.error.message})`);
        k.hooks.emit('llm.restart', { pid, stepNo, attempt, reason: ev.error.message, final: false });
        continue;
      }
      if (first) {
        first = false;
        k.metrics.ttft.observe({ model: modelName }, (performance.now() - t0) / 1000);
      }
      shown = true;
      streamed.push(ev.type === 'tool_call' ? `${ev.name ?? ''}${ev.argumentsDelta}` : ev.delta);
      if (k.hooks.has('llm.delta')) k.hooks.emit('llm.delta', { pid, stepNo, attempt, delta: ev });
    }
  } catch (err) {
    if (!shown) throw withCutUsage(err, model, cut);
    const reason = err instanceof Error ? err.message : String(err);
    k.hooks.emit('llm.restart', { pid, stepNo, attempt, reason, final: true });
    throw withCutUsage(withStreamedUsage(err, model, req, streamed), model, cut);
  }
  throw new KernelError('EPROVIDER', `model ${model.id}: the stream ended without a final response`);
}

/**
 * A stream that failed after its first delta (cut, aborted because the caller went away, timed out) was
 * billed by the provider — the whole prompt, and the output generated so far — but reports no usage. Without
 * an estimate, a caller that drops every stream just before its end would spend tokens no budget sees. The
 * estimate (the kernel's tokenizer over the prompt and what streamed; no cache discount) rides on the error
 * as details.partialUsage, which the llm.chat syscall charges like a reported one.
 */
function withStreamedUsage(err: unknown, model: Model, req: ChatRequest, streamed: string[]): unknown {
  if (!(err instanceof KernelError) || err.details.response || err.details.partialUsage) return err;
  err.details.partialUsage = { ...streamedUsage(model, req, streamed), estimated: true };
  return err;
}

type Estimate = NonNullable<ChatResponse['estimated']>;

/** The estimate of one attempt that streamed `streamed` and then failed. */
function streamedUsage(model: Model, req: ChatRequest, streamed: string[]): Omit<Estimate, 'attempts'> {
  const usage: LlmUsage = {
    input: promptTokens(req),
    cachedInput: 0,
    cacheWrite: 0,
    output: countTokens(streamed.join('')),
    reasoning: 0,
  };
  return { usage, costUsd: costFor(usage, findModel(model.id, model.provider)) };
}

function plus(a: Estimate | null, b: Omit<Estimate, 'attempts'>, attempts: number): Estimate {
  return a
    ? { usage: addUsage(a.usage, b.usage), costUsd: a.costUsd + b.costUsd, attempts: a.attempts + attempts }
    : { ...b, attempts };
}

/** The answer with its cut attempts' estimate added in, and named. */
function withCutAttempts<R extends Pick<ChatResponse, 'usage' | 'costUsd' | 'estimated'>>(
  res: R,
  cut: Estimate | null,
): R {
  if (!cut) return res;
  const estimated = res.estimated ? plus(res.estimated, cut, cut.attempts) : cut;
  return { ...res, usage: addUsage(res.usage, cut.usage), costUsd: res.costUsd + cut.costUsd, estimated };
}

/**
 * The error of a call with cut attempts before it: their estimate is added to what the error already
 * carries (a malformed answer's response, the last attempt's partialUsage), or becomes its partialUsage.
 */
function withCutUsage(err: unknown, model: Model, cut: Estimate | null): unknown {
  if (!cut) return err;
  const kerr = KernelError.wrap(err, 'EPROVIDER', `model ${model.id}`);
  const d = kerr.details as { response?: ChatResponse; partialUsage?: Omit<Estimate, 'attempts'> };
  if (d.response) d.response = withCutAttempts(d.response, cut);
  else {
    const p = d.partialUsage ?? { usage: ZERO_USAGE, costUsd: 0 };
    kerr.details.partialUsage = {
      usage: addUsage(p.usage, cut.usage),
      costUsd: p.costUsd + cut.costUsd,
      estimated: true,
    };
  }
  return kerr;
}
