import { describe, expect, it } from 'vitest';
import { KernelError } from '../../errors.js';
import { CircuitBreaker } from './circuit.js';
import { ResilientModel } from './resilient-model.js';
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

describe('ResilientModel streams', () => {
  const fail = new KernelError('EPROVIDER', 'x', { retryable: true, details: { status: 500 } });
  const response = {
    model: 'm',
    provider: 'p',
    content: 'ok',
    toolCalls: [],
    finishReason: 'stop' as const,
    usage: { input: 1, cachedInput: 0, cacheWrite: 0, output: 1, reasoning: 0 },
    costUsd: 0,
    latencyMs: 0,
  };
  const model = (script: Array<'cut' | 'ok'>) => {
    let n = 0;
    return {
      id: 'm',
      provider: 'p',
      validate: () => undefined,
      chat: async () => response,
      async *stream() {
        const mode = script[n++] ?? 'ok';
        yield { type: 'text' as const, delta: 'partial ' };
        if (mode === 'cut') throw fail;
        yield { type: 'done' as const, response };
      },
    };
  };
  const consume = async (m: ResilientModel, restartable: boolean) => {
    const seen: string[] = [];
    for await (const ev of m.stream({ messages: [{ role: 'user', content: 'q' }], restartable })) {
      seen.push(ev.type);
      if (ev.type === 'done') return seen; // a consumer that stops at the answer, as the kernel does
    }
    return seen;
  };
  it('a half-open probe that streams to the end closes the circuit even when the consumer stops at done', async () => {
    let now = 0;
    const b = new CircuitBreaker('p', { threshold: 1, openMs: 100, now: () => now });
    b.failure(fail);
    now = 100;
    const m = new ResilientModel(model(['ok']), b, { maxRetries: 0 });
    expect(await consume(m, false)).toEqual(['text', 'done']);
    expect(b.state).toBe('closed');
  });
  it('a cut after output fails a plain stream, and restarts a restartable one under the same retry budget', async () => {
    const sleep = async () => undefined;
    await expect(
      consume(new ResilientModel(model(['cut']), new CircuitBreaker('p'), { maxRetries: 2, sleep }), false),
    ).rejects.toThrow(KernelError);
    const m = new ResilientModel(model(['cut', 'ok']), new CircuitBreaker('p'), { maxRetries: 2, sleep });
    expect(await consume(m, true)).toEqual(['text', 'restart', 'text', 'done']);
    const spent = new ResilientModel(model(['cut', 'cut']), new CircuitBreaker('p'), {
      maxRetries: 1,
      sleep,
    });
    await expect(consume(spent, true)).rejects.toMatchObject({ details: { attempts: 2 } });
  });
});
