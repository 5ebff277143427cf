/**
 * A circuit breaker per provider endpoint: after `threshold` consecutive failures (5xx, connection errors,
 * timeouts — not 429s, which Retry-After handles, and not the caller's own mistakes) calls fail fast with
 * ECIRCUIT for `openMs`; then one probe is let through (half-open): success closes the circuit, failure
 * re-opens it. Fail-fast matters here because a dead provider would otherwise hold every LLM slot for a
 * whole timeout each, and the fallback chain can engage at once instead.
 */
import { KernelError } from '../../errors.js';
import { CIRCUIT_FAILURE_THRESHOLD, CIRCUIT_OPEN_MS } from '../../param.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitOptions {
  threshold?: number;
  openMs?: number;
  now?: () => number;
  onChange?: (state: CircuitState, name: string) => void;
}

/** Failures that say something about the provider's health. */
export function countsAgainstProvider(err: unknown): boolean {
  if (!(err instanceof KernelError)) return true;
  if (err.code === 'ETIMEDOUT') return true;
  if (err.code !== 'EPROVIDER') return false;
  const status = err.details.status;
  return typeof status !== 'number' || status >= 500 || status === 408;
}

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private _state: CircuitState = 'closed';
  readonly threshold: number;
  readonly openMs: number;
  private readonly now: () => number;

  constructor(
    readonly name: string,
    private readonly opts: CircuitOptions = {},
  ) {
    this.threshold = opts.threshold ?? CIRCUIT_FAILURE_THRESHOLD;
    this.openMs = opts.openMs ?? CIRCUIT_OPEN_MS;
    this.now = opts.now ?? Date.now;
  }

  get state(): CircuitState {
    if (this._state === 'open' && this.now() - this.openedAt >= this.openMs) this.set('half_open');
    return this._state;
  }

  private set(s: CircuitState): void {
    if (s === this._state) return;
    this._state = s;
    this.opts.onChange?.(s, this.name);
  }

  /**
   * Call before each attempt: throws ECIRCUIT while open (or while a half-open probe is in flight). True
   * when this attempt is the half-open probe.
   */
  before(): boolean {
    const s = this.state;
    if (s === 'closed') return false;
    if (s === 'half_open' && !this.probing) {
      this.probing = true;
      return true;
    }
    const retryAfterMs = s === 'open' ? Math.max(0, this.openMs - (this.now() - this.openedAt)) : this.openMs;
    throw new KernelError(
      'ECIRCUIT',
      `circuit for ${this.name} is open after ${this.failures} consecutive failures; failing fast for ${retryAfterMs} ms (a fallback model, if configured, takes over)`,
      {
        retryable: true,
        details: { provider: this.name, state: s, failures: this.failures, retryAfterMs },
      },
    );
  }

  /** The probe ended without an outcome (its caller stopped listening): the next call may probe. */
  abandon(): void {
    this.probing = false;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    this.set('closed');
  }

  failure(err: unknown): void {
    if (!countsAgainstProvider(err)) {
      // The provider answered; a half-open probe that got a 4xx still proves it is up.
      if (this.probing) this.success();
      return;
    }
    this.failures++;
    if (this.probing || this.failures >= this.threshold) {
      this.probing = false;
      this.openedAt = this.now();
      this.set('open');
    }
  }
}
