import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { chatCompletionJson, listenLoopback } from '../kernel/testing/fake-server.js';
import { bootTestKernel, openAiModel } from '../kernel/testing/test-kernel.js';
import { AUTO_SLOTS_MAX, AUTO_SLOTS_MIN } from '../param.js';
import { Scheduler } from './scheduler.js';
import { autoSlots } from './slots.js';

describe('slots_per_model: auto', () => {
  it('is rate × latency × headroom, bound by the tighter limit, clamped', () => {
    expect(autoSlots({ limits: [], latencyMs: 200, tokensPerCall: 1000 })).toEqual({
      slots: AUTO_SLOTS_MAX,
      basis: 'none',
    });
    // 600 rpm = 10 calls/s × 2 s × 1.25 = 25 in flight
    expect(
      autoSlots({ limits: [{ kind: 'rpm', limit: 600 }], latencyMs: 2000, tokensPerCall: 1000 }),
    ).toEqual({ slots: 25, basis: 'rpm' });
    // 120k tpm at 2000 tokens/call = 1 call/s: tpm binds
    expect(
      autoSlots({
        limits: [
          { kind: 'rpm', limit: 600 },
          { kind: 'tpm', limit: 120_000 },
        ],
        latencyMs: 8000,
        tokensPerCall: 2000,
      }),
    ).toEqual({ slots: 10, basis: 'tpm' });
    expect(autoSlots({ limits: [{ kind: 'rpm', limit: 6 }], latencyMs: 100, tokensPerCall: 1 }).slots).toBe(
      AUTO_SLOTS_MIN,
    );
  });

  it('learns the latency from finished calls and resizes the lane; a fixed count stays fixed', () => {
    const clock = { t: 0 };
    const s = new Scheduler({
      clock: () => clock.t,
      slotsPerModel: 'auto',
      slots: { fixed: 3 },
      rateLimits: { p: { rpm: 600 } },
    });
    s.enqueue({ pid: 1, priority: 50, model: 'm', provider: 'p', estTokens: 100 });
    s.enqueue({ pid: 2, priority: 50, model: 'fixed', provider: 'p', estTokens: 100 });
    expect(s.stats().slots.m).toMatchObject({ total: 13, auto: { basis: 'rpm', latencyMs: null } }); // 1 s prior
    const g = s.dispatch()!;
    clock.t += 4000;
    s.release(g.slot, { tokensIn: 90, tokensOut: 10 });
    expect(s.stats().slots.m).toMatchObject({ total: 50, auto: { basis: 'rpm', latencyMs: 4000 } });
    expect(s.stats().slots.fixed).toEqual({ busy: 0, total: 3 });
  });

  it('a default config runs many agents at once: every agent is in flight together at the provider', async () => {
    const agents = 12;
    let inFlight = 0;
    let maxInFlight = 0;
    const parked: Array<() => void> = [];
    // Holds each request until `agents` are in flight (or 10 s pass), then answers them all: with the old
    // fixed default of 4 slots only 4 ever arrive together.
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const answer = () => {
          inFlight--;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(chatCompletionJson('done', { prompt: 10, completion: 1 }));
        };
        parked.push(answer);
        if (parked.length >= agents) for (const a of parked.splice(0)) a();
      });
    });
    const timer = setInterval(() => {
      for (const a of parked.splice(0)) a();
    }, 10_000);
    const url = await listenLoopback(server);
    const { kernel: k, close } = await bootTestKernel({
      config: { default_model: 'm', llms: { models: [openAiModel('m', url)] } },
    });
    try {
      const pids: number[] = [];
      for (let i = 0; i < agents; i++) pids.push(await k.spawn({ name: `a${i}`, task: 'say done' }));
      for (const pid of pids) expect((await k.wait(pid)).result).toBe('done');
      expect(maxInFlight).toBe(agents);
      expect(k.cpu.snapshot().slots.m).toMatchObject({ total: AUTO_SLOTS_MAX, auto: { basis: 'none' } });
    } finally {
      clearInterval(timer);
      await close();
      server.close();
    }
  });
});
