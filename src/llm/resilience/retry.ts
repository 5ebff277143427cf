/**
 * Retry policy: exponential backoff with full jitter (AWS's "full jitter": wait a uniform random time in
 * [0, min(cap, base·2^attempt)]), except that a rate limit's Retry-After is honoured exactly — waiting less
 * only earns another 429, waiting more wastes the slot. A Retry-After beyond the cap is not slept through
 * here: the error goes up so the scheduler can park the process instead of holding an LLM slot.
 */
import { KernelError } from '../../errors.js';
import { LLM_MAX_RETRIES, LLM_RETRY_BASE_MS, LLM_RETRY_MAX_MS } from '../../param.js';

export interface RetryOptions {
  maxRetries?: number;
  baseMs?: number;
  maxMs?: number;
  /** Injected in tests (a fake clock records the waits instead of sleeping). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  onRetry?: (info: { attempt: number; waitMs: number; error: KernelError }) => void;
}

export interface ResolvedRetry {
  maxRetries: number;
  baseMs: number;
  maxMs: number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  onRetry?: RetryOptions['onRetry'];
}

/** A real sleep that ends early (rejecting with EABORTED) when the caller aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted)
      return reject(new KernelError('EABORTED', 'aborted by the caller while waiting to retry'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(t);
      reject(new KernelError('EABORTED', 'aborted by the caller while waiting to retry'));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function resolveRetry(o: RetryOptions = {}): ResolvedRetry {
  return {
    maxRetries: o.maxRetries ?? LLM_MAX_RETRIES,
    baseMs: o.baseMs ?? LLM_RETRY_BASE_MS,
    maxMs: o.maxMs ?? LLM_RETRY_MAX_MS,
    sleep: o.sleep ?? abortableSleep,
    random: o.random ?? Math.random,
    ...(o.onRetry ? { onRetry: o.onRetry } : {}),
  };
}

/** How long to wait before retry number `attempt` (0-based), or null when the error must not be retried. */
export function backoffMs(attempt: number, err: KernelError, r: ResolvedRetry): number | null {
  if (!err.retryable || attempt >= r.maxRetries) return null;
  if (err.code === 'ECIRCUIT' || err.code === 'EABORTED') return null;
  const ra = err.details.retryAfterMs;
  if (err.code === 'ERATELIMIT' && typeof ra === 'number') return ra > r.maxMs ? null : ra;
  return Math.floor(r.random() * Math.min(r.maxMs, r.baseMs * 2 ** attempt));
}
