import { describe, expect, it } from 'vitest';
import { KernelError } from '../../errors.js';
import { CircuitBreaker } from './circuit.js';
import { backoffMs, resolveRetry } from './retry.js';

describe('retry backoff', () => {
  const r = resolveRetry({ baseMs: 100, maxMs: 1_000, maxRetries: 3, random: () => 0.5 });
  const e5xx = new KernelError('EPROVIDER', 'x', { retryable: true, details: { status: 503 } });
  it('full jitter over an exponential ceiling, capped', () => {
    expect([0, 1, 2].map((a) => backoffMs(a, e5xx, r))).toEqual([50, 100, 200]);
    expect(backoffMs(2, e5xx, resolveRetry({ baseMs: 1_000, maxMs: 1_500, random: () => 0.999 }))).toBe(1498);
    expect(backoffMs(3, e5xx, r)).toBeNull();
  });
  it('honours Retry-After exactly; beyond the cap it gives up', () => {
    const rl = (ms: number) =>
      new KernelError('ERATELIMIT', 'x', { retryable: true, details: { retryAfterMs: ms } });
    expect(backoffMs(0, rl(750), r)).toBe(750);
    expect(backoffMs(0, rl(5_000), r)).toBeNull();
  });
  it('never retries non-retryable errors, aborts or an open circuit', () => {
    expect(
      backoffMs(0, new KernelError('EPROVIDER', 'bad request', { details: { status: 400 } }), r),
    ).toBeNull();
    expect(backoffMs(0, new KernelError('EABORTED', 'x', { retryable: true }), r)).toBeNull();
    expect(backoffMs(0, new KernelError('ECIRCUIT', 'x', { retryable: true }), r)).toBeNull();
  });
});

describe('CircuitBreaker', () => {
  const fail = new KernelError('EPROVIDER', 'x', { retryable: true, details: { status: 500 } });
  it('opens after the threshold, half-opens after the period, re-opens on a failed probe', () => {
    let now = 0;
    const b = new CircuitBreaker('p', { threshold: 2, openMs: 100, now: () => now });
    b.before();
    b.failure(fail);
    expect(b.state).toBe('closed');
    b.failure(fail);
    expect(b.state).toBe('open');
    expect(() => b.before()).toThrow(/circuit for p is open/);
    now = 100;
    b.before(); // the probe
    expect(() => b.before()).toThrow(KernelError); // only one probe at a time
    b.failure(fail);
    expect(b.state).toBe('open');
    now = 200;
    b.before();
    b.success();
    expect(b.state).toBe('closed');
  });
  it('429s and client errors do not count against the provider', () => {
    const b = new CircuitBreaker('p', { threshold: 1 });
    b.failure(new KernelError('ERATELIMIT', 'x', { retryable: true }));
    b.failure(new KernelError('EPROVIDER', 'x', { details: { status: 400 } }));
    b.failure(new KernelError('EINVAL', 'malformed'));
    expect(b.state).toBe('closed');
  });
});
