/**
 * A Model wrapped in the resilience policy: each attempt passes the provider's circuit breaker, failures
 * are retried per ./retry.ts, and every error that leaves is a KernelError (details.attempts says how many
 * were made). A stream is retried silently until its first event. After output has reached the caller, a
 * silent restart would duplicate it: the error goes up — unless the request is `restartable`, when the
 * whole call is made again under the same policy (breaker, backoff, attempt budget) after a `restart`
 * event that tells the caller to drop what it has, so a cut stream is never half committed.
 */
import { KernelError } from '../../errors.js';
import type { ChatRequest, ChatResponse, Model, StreamEvent } from '../model.js';
import type { CircuitBreaker } from './circuit.js';
import { backoffMs, type ResolvedRetry, type RetryOptions, resolveRetry } from './retry.js';

function asKernel(err: unknown, m: Model): KernelError {
  return KernelError.wrap(err, 'EPROVIDER', `${m.provider}/${m.id}`);
}

export class ResilientModel implements Model {
  readonly id: string;
  readonly provider: string;
  private readonly retry: ResolvedRetry;

  constructor(
    readonly inner: Model,
    readonly breaker: CircuitBreaker | null,
    retry: RetryOptions = {},
  ) {
    this.id = inner.id;
    this.provider = inner.provider;
    this.retry = resolveRetry(retry);
  }

  validate(req: ChatRequest): void {
    this.inner.validate(req);
  }

  private async wait(attempt: number, err: KernelError, req: ChatRequest): Promise<boolean> {
    const ms = backoffMs(attempt, err, this.retry);
    if (ms === null) return false;
    this.retry.onRetry?.({ attempt: attempt + 1, waitMs: ms, error: err });
    await this.retry.sleep(ms, req.signal);
    return true;
  }

  private final(err: KernelError, attempts: number): KernelError {
    err.details.attempts = attempts;
    return err;
  }

  async chat(req: ChatRequest): Promise<ChatResponse> {
    for (let attempt = 0; ; attempt++) {
      let err: KernelError;
      try {
        this.breaker?.before();
        const res = await this.inner.chat(req);
        this.breaker?.success();
        return res;
      } catch (e) {
        err = asKernel(e, this.inner);
        if (err.code !== 'ECIRCUIT') this.breaker?.failure(err);
      }
      if (!(await this.wait(attempt, err, req))) throw this.final(err, attempt + 1);
    }
  }

  async *stream(req: ChatRequest): AsyncGenerator<StreamEvent> {
    for (let attempt = 0; ; attempt++) {
      let yielded = false;
      let err: KernelError;
      let settled = false;
      let probe = false;
      try {
        probe = this.breaker?.before() ?? false;
        for await (const ev of this.inner.stream(req)) {
          // Settled before the final event goes out: a consumer stops iterating once it has the answer,
          // and code after this loop would then never run (a half-open probe would stay in flight forever).
          if (ev.type === 'done') {
            settled = true;
            this.breaker?.success();
          }
          yielded = true;
          yield ev;
        }
        if (!settled) this.breaker?.success();
        settled = true;
        return;
      } catch (e) {
        settled = true;
        err = asKernel(e, this.inner);
        if (err.code !== 'ECIRCUIT') this.breaker?.failure(err);
        if (yielded && !req.restartable) throw this.final(err, attempt + 1);
      } finally {
        // The consumer walked away mid-stream: that says nothing about the provider.
        if (!settled && probe) this.breaker?.abandon();
      }
      if (yielded && backoffMs(attempt, err, this.retry) !== null)
        yield { type: 'restart', attempt: attempt + 1, error: { code: err.code, message: err.message } };
      if (!(await this.wait(attempt, err, req))) throw this.final(err, attempt + 1);
    }
  }
}
