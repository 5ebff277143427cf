/**
 * Kernel bench: throughput of many agents against a slow, rate-limited model (as a fraction of the
 * physical limit, beside the seeds' one-agent-at-a-time loop) and the kernel's own overhead per step
 * with a zero-latency model (beside raw model calls). Issue 4 / DESIGN §5.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createKernel } from '../../kernel/kernel.js';
import { resolverFromProvider } from '../../kernel/model-resolver.js';
import { type AgentProgram, continueWith, done } from '../../kernel/program.js';
import { SimulatedProvider } from '../../llm/simulated/simulated-provider.js';
import { type BenchCase, defineBench } from '../harness.js';

const counter: AgentProgram<{ n: number; steps: number }> = {
  name: 'bench-counter',
  init: ({ args }) => ({ n: 0, steps: (args as { steps: number }).steps }),
  async step(s, sys) {
    await sys.call('llm.chat', { messages: [{ role: 'user', content: `step ${s.n}` }], maxOutputTokens: 64 });
    const next = { ...s, n: s.n + 1 };
    return next.n >= s.steps ? done(next, next.n) : continueWith(next);
  },
};

function workspace(): string {
  return mkdtempSync(join(tmpdir(), 'aos-bench-'));
}

/** Milliseconds per completed call, per 1-second window of the steady state (first and last windows dropped). */
function msPerCall(completions: number[]): number[] {
  if (completions.length < 2) return [];
  const t0 = completions[0]!;
  const windows = new Map<number, number>();
  for (const t of completions)
    windows.set(Math.floor((t - t0) / 1000), (windows.get(Math.floor((t - t0) / 1000)) ?? 0) + 1);
  const keys = [...windows.keys()].sort((a, b) => a - b).slice(1, -1);
  return keys.map((k) => 1000 / (windows.get(k) ?? 1));
}

async function throughput(agents: number, steps: number, slots: number, latencyMs: number, rpm: number) {
  const sim = new SimulatedProvider({
    latency: { ttftMs: latencyMs, perTokenMs: 0 },
    concurrency: slots,
    rateLimit: { rpm },
  });
  const k = await createKernel({
    storage: 'memory://',
    config: {
      security: { sandbox: 'none', workspace: workspace() },
      scheduler: { slots_per_model: slots, rate_limits: { simulated: { rpm } } },
    },
    models: resolverFromProvider(sim),
    programs: [counter],
    plugins: false,
  });
  const completions: number[] = [];
  let errors = 0;
  k.hooks.on('llm.after', (e) => {
    if (e.error) errors++;
    else completions.push(performance.now());
  });
  const t0 = performance.now();
  for (let i = 0; i < agents; i++)
    await k.spawn({ name: `a${i}`, task: 'count', program: 'bench-counter', args: { steps } });
  await k.run();
  const wall = performance.now() - t0;
  const stats = sim.engine.stats;
  await k.shutdown();
  return { wall, completions, errors, rateLimited: stats.rateLimited };
}

/** The seeds' prototype: one agent at a time, one call after another. */
async function naive(calls: number, latencyMs: number): Promise<number[]> {
  const model = new SimulatedProvider({ latency: { ttftMs: latencyMs, perTokenMs: 0 } }).model('sim-react');
  const out: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await model.chat({ messages: [{ role: 'user', content: `step ${i}` }], maxOutputTokens: 64 });
    out.push(performance.now() - t0);
  }
  return out;
}

async function overhead(storage: string, steps: number) {
  const sim = new SimulatedProvider({ latency: { ttftMs: 0, perTokenMs: 0 } });
  const k = await createKernel({
    storage,
    config: { security: { sandbox: 'none', workspace: workspace() } },
    models: resolverFromProvider(sim),
    programs: [counter],
    plugins: false,
  });
  const stepTimes: number[] = [];
  let last = 0;
  k.hooks.on('proc.step', () => {
    const now = performance.now();
    if (last) stepTimes.push(now - last);
    last = now;
  });
  const pid = await k.spawn({ name: 'o', task: 'count', program: 'bench-counter', args: { steps } });
  await k.wait(pid);
  await k.shutdown();
  // Raw calls to the same zero-latency simulator: what a step would cost with no kernel at all.
  const raw: number[] = [];
  const model = sim.model('sim-react');
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await model.chat({ messages: [{ role: 'user', content: `step ${i}` }], maxOutputTokens: 64 });
    raw.push(performance.now() - t0);
  }
  return { stepTimes: stepTimes.slice(5), raw: raw.slice(5) };
}

export const kernelBench = defineBench({
  name: 'kernel',
  subsystem: 'kernel',
  async run(ctx) {
    const cases: BenchCase[] = [];
    const latency = 500;
    const slots = 64;
    const rpm = 6_000; // 100 calls/s: below slots ÷ latency (128/s), so the rate limit is the binding limit
    const physical = Math.min(slots / (latency / 1000), rpm / 60);
    const agents = ctx.quick ? 200 : 1000;
    const steps = ctx.quick ? 5 : 10;
    ctx.log(`throughput: ${agents} agents × ${steps} steps, ${latency} ms model, ${slots} slots, ${rpm} rpm`);
    const t = await throughput(agents, steps, slots, latency, rpm);
    const achieved = t.completions.length / (t.wall / 1000);
    const naiveSamples = await naive(ctx.quick ? 6 : 12, latency);
    cases.push({
      name: `throughput ${agents}×${steps} @${latency}ms, ${rpm} rpm`,
      unit: 'ms wall per call',
      baseline: { label: 'one agent at a time (seeds prototype)', samples: naiveSamples },
      ours: { label: `kernel, ${slots} slots + rate limiter`, samples: msPerCall(t.completions) },
      target: { ours: `median <= ${(1000 / (0.95 * physical)).toFixed(2)} ms` },
      notes:
        `physical limit ${physical.toFixed(0)} calls/s (min of slots÷latency and rpm); achieved ${achieved.toFixed(1)} calls/s over the whole run ` +
        `= ${((100 * achieved) / physical).toFixed(1)} % including ramp-up and tail; ${t.completions.length} calls in ${(t.wall / 1000).toFixed(1)} s; ` +
        `429s from the simulator: ${t.rateLimited}; failed calls: ${t.errors}`,
    });

    for (const [label, storage] of [
      ['PGlite', 'memory://'],
      ['PostgreSQL', process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'],
    ] as const) {
      const url =
        label === 'PostgreSQL' ? `${storage}?schema=aos_bench_kernel_${Date.now().toString(36)}` : storage;
      try {
        const o = await overhead(url, ctx.quick ? 60 : 300);
        const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
        const over = med(o.stepTimes) - med(o.raw);
        cases.push({
          name: `kernel overhead per step, zero-latency model (${label})`,
          unit: 'ms per step',
          baseline: { label: 'raw model call, no kernel', samples: o.raw },
          ours: { label: 'kernel step: syscalls + slot + commit + audit', samples: o.stepTimes },
          target: { ours: 'median < 25 ms' },
          notes: `median overhead ${over.toFixed(2)} ms per step = ${((100 * over) / latency).toFixed(2)} % of a ${latency} ms model call (target < 5 %)`,
        });
      } catch (err) {
        ctx.log(`overhead on ${label} skipped: ${(err as Error).message}`);
      } finally {
        if (label === 'PostgreSQL') await dropSchema(storage, url);
      }
    }
    return cases;
  },
});

async function dropSchema(base: string, url: string): Promise<void> {
  const schema = new URL(url).searchParams.get('schema');
  if (!schema) return;
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: base });
  try {
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } catch {
    // the server is unreachable: nothing was created
  } finally {
    await c.end().catch(() => undefined);
  }
}
