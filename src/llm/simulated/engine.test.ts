import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelError } from '../../errors.js';
import type { ChatRequest } from '../model.js';
import { OpenAiCompatibleProvider } from '../openai-compatible/openai-compatible-provider.js';
import { findPreset } from '../presets.js';
import { SimEngine, SimHttpError } from './engine.js';
import { createSimulator, type SimulatorHandle } from './server.js';
import { SimulatedProvider } from './simulated-provider.js';

const req = (content = 'hello'): ChatRequest => ({ messages: [{ role: 'user', content }] });
const sreq = {
  model: 'sim-react',
  messages: [{ role: 'user' as const, content: 'x' }],
  tools: [],
  preset: 'simulated',
  stream: false,
};

describe('SimEngine limits', () => {
  it('RPM: the (rpm+1)-th request in a minute gets 429 with the time until the window frees', () => {
    let now = 0;
    const e = new SimEngine({ rateLimit: { rpm: 2 }, now: () => now });
    e.decide(sreq, { tokens: [1, 2, 3] }, '');
    now = 10_000;
    e.decide(sreq, { tokens: [1, 2, 3] }, '');
    now = 15_000;
    let err: unknown;
    try {
      e.decide(sreq, { tokens: [1, 2, 3] }, '');
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(SimHttpError);
    expect((err as SimHttpError).status).toBe(429);
    expect((err as SimHttpError).retryAfterMs).toBe(45_000);
    now = 60_000; // the first request left the window
    expect(() => e.decide(sreq, { tokens: [1, 2, 3] }, '')).not.toThrow();
    expect(e.stats.rateLimited).toBe(1);
  });

  it('TPM: a request whose prompt would exceed the minute budget gets 429', () => {
    let now = 0;
    const e = new SimEngine({ rateLimit: { tpm: 100 }, now: () => now });
    e.decide(sreq, { tokens: new Array(80).fill(7) }, '');
    expect(() => e.decide(sreq, { tokens: new Array(30).fill(7) }, '')).toThrow(/tokens per minute/);
    now = 61_000;
    expect(() => e.decide(sreq, { tokens: new Array(30).fill(7) }, '')).not.toThrow();
  });

  it('injected failures follow the seeded PRNG: same seed, same failures', () => {
    const run = (seed: number) => {
      const e = new SimEngine({ seed, failures: { rate: 0.3, kinds: ['server_error', 'overloaded'] } });
      return Array.from({ length: 50 }, () => {
        try {
          e.decide(sreq, { tokens: [1] }, '');
          return 200;
        } catch (x) {
          return (x as SimHttpError).status;
        }
      });
    };
    const a = run(3);
    expect(a).toEqual(run(3));
    const failed = a.filter((s) => s !== 200).length;
    expect(failed).toBeGreaterThan(5);
    expect(failed).toBeLessThan(30);
    expect(new Set(a.filter((s) => s !== 200))).toEqual(new Set([500, 503]));
  });
});

describe('simulator concurrency and rate limits over HTTP', () => {
  let sim: SimulatorHandle;
  beforeAll(async () => {
    sim = await createSimulator({ concurrency: 2, latency: { ttftMs: 5 } });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('serves at most `concurrency` requests at once; the rest queue and still complete', async () => {
    const m = new OpenAiCompatibleProvider({
      preset: findPreset('openai')!,
      apiKey: 'k',
      baseUrl: `${sim.url}/v1`,
    }).model('gpt-4o');
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => m.chat(req(`task ${i}`))));
    expect(rs).toHaveLength(6);
    expect(sim.stats.maxInFlight).toBe(2);
    expect(sim.stats.inFlight).toBe(0);
  });

  it('answers 429 with Retry-After when the simulated RPM is exhausted', async () => {
    const limited = await createSimulator({ rateLimit: { rpm: 1 } });
    try {
      const m = new OpenAiCompatibleProvider({
        preset: findPreset('openai')!,
        apiKey: 'k',
        baseUrl: `${limited.url}/v1`,
      }).model('gpt-4o');
      await m.chat(req());
      const e = await m.chat(req()).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KernelError);
      expect((e as KernelError).code).toBe('ERATELIMIT');
      const ra = (e as KernelError).details.retryAfterMs as number;
      expect(ra).toBeGreaterThan(0);
      expect(ra).toBeLessThanOrEqual(60_000);
    } finally {
      await limited.close();
    }
  });

  it('serves /v1/models and refuses unknown routes and bad bodies clearly', async () => {
    const models = (await (await fetch(`${sim.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((x) => x.id)).toContain('deepseek-chat');
    expect((await fetch(`${sim.url}/v2/nothing`, { method: 'POST' })).status).toBe(404);
    const bad = await fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
    const noMsgs = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'x', messages: [] }),
    });
    expect(((await noMsgs.json()) as { error: { message: string } }).error.message).toContain('messages');
  });
});

describe('in-process SimulatedProvider', () => {
  it('reports cached tokens across calls with the same promptCacheKey', async () => {
    const p = new SimulatedProvider();
    const long = Array.from({ length: 400 }, (_, i) => `fact ${i}: the sky is blue`).join('\n');
    const r1 = await p.model('sim-react').chat({
      messages: [
        { role: 'system', content: long },
        { role: 'user', content: 'q1' },
      ],
      promptCacheKey: 'pid-1',
    });
    const r2 = await p.model('sim-react').chat({
      messages: [
        { role: 'system', content: long },
        { role: 'user', content: 'q2' },
      ],
      promptCacheKey: 'pid-1',
    });
    expect(r1.usage.cachedInput).toBe(0);
    expect(r2.usage.cachedInput).toBeGreaterThanOrEqual(1024);
    expect(r2.usage.cachedInput % 128).toBe(0);
    expect(r2.usage.cachedInput).toBeLessThanOrEqual(r2.usage.input);
  });
});
