/**
 * A request its provider adapter refuses (EUNSUPPORTED: `seed` to an Anthropic model, `top_k` to an
 * OpenAI-compatible one) is refused before it queues: no budget reservation, no LLM slot, no provider rate
 * token, no wait behind other sessions. Before, it went through the gateway's queue and the scheduler first
 * and failed in the adapter — under load the caller waited seconds (a whole queue timeout, then a 429 that
 * hid the real error) for an answer it could have had at once, and a rate token was spent on a request
 * never sent. Through the official SDK against the gateway, and through a native process's llm.chat.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import { type AgentProgram, done } from '../../src/kernel/program.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';
import { type GatewayFixture, gatewayFixture, openaiClient } from './gateway-fixture.js';

const ask = (content: string) => [{ role: 'user' as const, content }];

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

describe('gateway: a request the adapter refuses is answered before it queues', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    // Anthropic: one request per minute; a queued call may wait 5 s before its 429.
    f = await gatewayFixture({
      gateway: { queue_timeout_ms: 5000 },
      scheduler: { rate_limits: { anthropic: { rpm: 1 } } },
    });
  }, 60_000);
  afterAll(async () => {
    await f?.close();
  });

  it('with the provider rate limit spent: an immediate OpenAI-shaped 400 naming the field, no rate token taken', async () => {
    const key = await f.token();
    await openaiClient(f, key, 'spends-the-minute').chat.completions.create({
      model: 'claude-sim',
      messages: ask('the only call this minute'),
    });
    const sched = f.kernel.cpu.scheduler;
    const before = sched.stats();
    expect(before.rateLimits['anthropic.rpm']).toMatchObject({ used: 1, limit: 1 });
    const requests = f.sim.stats.requests;

    const t0 = performance.now();
    const err = await openaiClient(f, key, 'refused')
      .chat.completions.create({ model: 'claude-sim', messages: ask('seeded'), seed: 42 })
      .catch((e: unknown) => e);
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.status).toBe(400);
    expect(e.param).toBe('seed');
    expect(e.message).toMatch(/seed has no Anthropic Messages equivalent/);
    // At once: not after the 5 s queue bound (before the fix: a 429 after 5 s, the refusal never shown).
    expect(ms).toBeLessThan(1000);
    const after = sched.stats();
    expect(after.rateLimits).toEqual(before.rateLimits);
    expect(after.dispatches).toBe(before.dispatches);
    expect(after.runQueue).toBe(0);
    expect(f.sim.stats.requests).toBe(requests);
  }, 30_000);
});

describe('gateway: a refused request does not wait for a slot another session holds', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    // One slot per model and a slow model: one session holds the slot for seconds.
    f = await gatewayFixture({
      sim: { latency: { ttftMs: 3000, perTokenMs: 0 } },
      scheduler: { slots_per_model: 1, rate_limits: { openai: { rpm: 100 } } },
    });
  }, 60_000);
  afterAll(async () => {
    await f?.close();
  });

  it('top_k to an OpenAI-compatible model: 400 at once, the slot and rate bucket untouched', async () => {
    const key = await f.token();
    const slow = openaiClient(f, key, 'holds-slot').chat.completions.create({
      model: 'gpt-sim',
      messages: ask('slow one'),
    });
    await until(() => f.sim.stats.requests === 1, 'the slow call reached the provider');
    const sched = f.kernel.cpu.scheduler;
    const before = sched.stats();
    expect(before.slots['gpt-sim']).toMatchObject({ busy: 1, total: 1 });

    // top_k arrives through the Anthropic dialect (which has the field) for a model whose adapter has none.
    const t0 = performance.now();
    const res = await fetch(`${f.server.url}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': key,
        'anthropic-version': '2023-06-01',
        'content-type': 'application/json',
        'x-aos-session': 'refused-top-k',
      },
      body: JSON.stringify({ model: 'gpt-sim', max_tokens: 50, top_k: 5, messages: ask('hi') }),
    });
    const ms = performance.now() - t0;
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/top_k is not a Chat Completions parameter/);
    // Before the fix: it waited for the slow call's slot (~3 s), then took the slot and a rate token.
    expect(ms).toBeLessThan(1000);
    const after = sched.stats();
    expect(after.dispatches).toBe(before.dispatches);
    expect(after.rateLimits).toEqual(before.rateLimits);
    expect(after.slots['gpt-sim']).toMatchObject({ busy: 1 });
    expect(after.runQueue).toBe(0);
    expect((await slow).choices[0]!.finish_reason).toBe('stop');
    expect(f.sim.stats.requests).toBe(1);
  }, 30_000);
});

describe('native llm.chat: a refused request fails its step before reserving', () => {
  const kernels: Kernel[] = [];
  afterEach(async () => {
    await Promise.all(kernels.splice(0).map((k) => k.shutdown()));
  });

  /** One step, one model call with the given extra fields. */
  const caller: AgentProgram<{ extra: Record<string, unknown> }> = {
    name: 'caller',
    init: ({ args }) => ({ extra: (args as { extra?: Record<string, unknown> })?.extra ?? {} }),
    async step(s, sys) {
      const r = await sys.call('llm.chat', { messages: ask('count'), ...s.extra } as never);
      return done(s, r.content);
    },
  };

  it('top_k on the simulator (OpenAI-compatible): the process fails with EUNSUPPORTED while another holds the slot', async () => {
    const k = await createKernel({
      storage: 'memory://',
      config: {
        security: { sandbox: 'none', workspace: mkdtempSync(join(tmpdir(), 'aos-ws-')) },
        scheduler: { slots_per_model: 1, rate_limits: { simulated: { rpm: 100 } } },
      },
      models: resolverFromProvider(new SimulatedProvider({ latency: { ttftMs: 3000 } })),
      programs: [caller],
      plugins: false,
    });
    kernels.push(k);
    const holder = await k.spawn({ name: 'holder', task: 't', program: 'caller' });
    await until(() => k.cpu.scheduler.stats().slots['sim-react']?.busy === 1, 'the holder got the slot');
    const before = k.cpu.scheduler.stats();
    const t0 = performance.now();
    const refused = await k.spawn({
      name: 'refused',
      task: 't',
      program: 'caller',
      args: { extra: { topK: 5 } },
    });
    const st = await k.wait(refused);
    const ms = performance.now() - t0;
    expect(st.state).toBe('terminated');
    expect(st.exitReason).toMatch(/top_k is not a Chat Completions parameter/);
    expect(ms).toBeLessThan(1000);
    const after = k.cpu.scheduler.stats();
    expect(after.dispatches).toBe(before.dispatches);
    expect(after.rateLimits).toEqual(before.rateLimits);
    expect((await k.wait(holder)).exitReason).toBeNull();
  }, 30_000);
});
