/**
 * Outages park, not kill: agents whose provider answers 500 (or 429 with a long Retry-After) wait in
 * `waiting(provider)` with the reason and the retry time, and all finish once the provider recovers —
 * also across a kernel restart in the middle of the outage. Non-retryable errors still fail, naming the
 * URL, the model and the fix. Driven through the agent loop against the simulator's fault modes over HTTP.
 * No timing assumptions: the test waits for states, never for durations.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';

const TASKS = ['What is 17 * 23?', 'What is 41 + 59?', 'What is 1000 - 1?'];

function config(dir: string, sim: SimulatorHandle, model = 'gpt-4o') {
  return {
    data_dir: dir,
    default_model: model,
    llms: {
      models: [{ name: model, provider: 'openai', base_url: sim.urlFor('openai'), api_key: 'sk-outage' }],
      retry: { max_retries: 1, base_ms: 5, max_ms: 20 },
      circuit: { threshold: 5, open_ms: 300 },
    },
    scheduler: { provider_retry_base_ms: 20, provider_retry_max_ms: 200 },
    security: { sandbox: 'none' as const, workspace: join(dir, 'workspace') },
    server: { demo_agents: false },
  };
}

/** Resolves once `n` processes have each been parked on the provider at least `times` times. */
function parkedTimes(k: Kernel, n: number, times: number): Promise<number[]> {
  const seen = new Map<number, number>();
  return new Promise((resolve) => {
    const off = k.hooks.on('proc.state', (e) => {
      if (e.to !== 'waiting' || !e.waitOn?.startsWith('provider:')) return;
      seen.set(e.pid, (seen.get(e.pid) ?? 0) + 1);
      const done = [...seen].filter(([, c]) => c >= times).map(([p]) => p);
      if (done.length >= n) {
        off();
        resolve(done.sort((a, b) => a - b));
      }
    });
  });
}

describe('provider outages park processes instead of killing them', () => {
  let sim: SimulatorHandle;
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'aos-outage-'));
    dirs.push(d);
    return d;
  };
  beforeAll(async () => {
    sim = await createSimulator({ latency: { ttftMs: 0, perTokenMs: 0 } });
  });
  afterAll(async () => {
    await sim?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a 500 outage parks every agent with reason and retry time; all finish after recovery', async () => {
    const k = await createKernel({ storage: 'memory://', plugins: false, config: config(tmp(), sim) });
    try {
      sim.engine.outage({ status: 500 });
      const pids: number[] = [];
      const parked = parkedTimes(k, TASKS.length, 2);
      for (const [i, task] of TASKS.entries()) pids.push(await k.spawn({ name: `calc-${i}`, task }));
      expect(await parked).toEqual(pids);
      const during = (await k.status()).processes.filter((p) => pids.includes(p.pid));
      for (const p of during) {
        expect(p.state === 'waiting' || p.state === 'ready' || p.state === 'running').toBe(true);
        if (p.state === 'waiting')
          expect(p.waitOn).toMatch(
            /^provider:openai gpt-4o until \S+Z — .*(HTTP 500|circuit for openai .* is open)/,
          );
      }
      sim.engine.outage(null);
      const done = await Promise.all(pids.map((p) => k.wait(p)));
      for (const st of done) {
        expect(st.exitReason).toBeNull();
        expect(st.state).toBe('terminated');
      }
      expect(String(done[0]!.result)).toContain('391');
    } finally {
      sim.engine.outage(null);
      await k.shutdown();
    }
  }, 60_000);

  it('429 with Retry-After: 120 parks until then, survives a kernel restart, and resumes when woken', async () => {
    const dir = tmp();
    const storage = `pglite://${join(dir, 'db')}`;
    sim.engine.outage({ status: 429, retryAfterMs: 120_000 });
    let k = await createKernel({ storage, plugins: false, config: config(dir, sim) });
    const pids: number[] = [];
    let before: string[] = [];
    try {
      const parked = parkedTimes(k, 2, 1);
      const t0 = Date.now();
      for (const [i, task] of TASKS.slice(0, 2).entries())
        pids.push(await k.spawn({ name: `rl-${i}`, task }));
      expect(await parked).toEqual(pids);
      for (const pid of pids) {
        const p = await k.get(pid);
        expect(p.state).toBe('waiting');
        expect(p.waitOn).toMatch(/^provider:openai gpt-4o until (\S+) — .*429/);
        const until = Date.parse(/until (\S+)/.exec(p.waitOn)![1]!);
        // Retry-After is honoured exactly: not a 30 s cap, not a failure.
        expect(until - t0).toBeGreaterThanOrEqual(119_000);
      }
      before = await Promise.all(pids.map(async (pid) => (await k.get(pid)).waitOn));
    } finally {
      await k.shutdown();
    }

    // A new kernel on the same storage: still parked on the provider, until the same time.
    const requests = sim.stats.requests;
    k = await createKernel({ storage, plugins: false, config: config(dir, sim) });
    try {
      for (const [i, pid] of pids.entries()) {
        const p = await k.get(pid);
        expect(p.state).toBe('waiting');
        expect(p.waitOn).toBe(before[i]);
      }
      expect(sim.stats.requests).toBe(requests); // parked: no call went out at boot
      sim.engine.outage(null);
      // The operator knows the provider is back: resume wakes a parked process before its retry time.
      for (const pid of pids) await k.resume(pid);
      const done = await Promise.all(pids.map((p) => k.wait(p)));
      for (const st of done)
        expect({ state: st.state, exitReason: st.exitReason }).toEqual({
          state: 'terminated',
          exitReason: null,
        });
    } finally {
      sim.engine.outage(null);
      await k.shutdown();
    }
  }, 90_000);

  it('a non-retryable error (404 model) fails at once, naming URL, model and fix', async () => {
    const k = await createKernel({ storage: 'memory://', plugins: false, config: config(tmp(), sim) });
    try {
      sim.engine.script([{ error: { status: 404, message: 'The model `gpt-4o` does not exist' } }]);
      const pid = await k.spawn({ name: 'missing-model', task: 'What is 2 + 2?' });
      const st = await k.wait(pid);
      expect(st.state).toBe('terminated');
      expect(st.exitReason).toContain(`HTTP 404 at ${sim.urlFor('openai')}`);
      expect(st.exitReason).toContain('llms.models[].name');
      expect(st.exitReason).toContain('gpt-4o');
    } finally {
      sim.engine.script(null);
      await k.shutdown();
    }
  }, 30_000);
});
