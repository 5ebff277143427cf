/**
 * A Model wrapped in the resilience policy: each attempt passes the provider's circuit breaker, failures
 * are retried per ./retry.ts, and every error that leaves is a KernelError (details.attempts says how many
 * were made). A stream is retried only until its first event: after output has reached the caller, a
 * silent restart would duplicate it, so the error goes up instead.
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
      try {
        this.breaker?.before();
        for await (const ev of this.inner.stream(req)) {
          yielded = true;
          yield ev;
        }
        this.breaker?.success();
        return;
      } catch (e) {
        err = asKernel(e, this.inner);
        if (err.code !== 'ECIRCUIT') this.breaker?.failure(err);
        if (yielded) throw this.final(err, attempt + 1);
      }
      if (!(await this.wait(attempt, err, req))) throw this.final(err, attempt + 1);
    }
  }
}
