/**
 * Bench suite `gateway` (issue 13, DESIGN §5 "gateway added latency"): the kernel as an OpenAI-compatible
 * gateway, measured the way a user meets it — a real `aos start`-style kernel (PGlite on disk, HTTP server)
 * whose configured model is the LLM simulator over loopback HTTP, called by the official `openai` SDK.
 * The simulator and the callers run in worker threads (./gateway-worker.ts), so the kernel's thread does
 * only the kernel's work and the callers' own CPU does not count as gateway time.
 *
 * 1. Added latency at 100 concurrent sessions: each session alternates the same call direct to the
 *    simulator and through the gateway, so every pair sees the same load; added = gateway − direct per
 *    pair (non-stream: whole call; stream: time to first token). Also the kernel thread's busy time per call.
 *    The same load through a bare pass-through proxy in the kernel's thread (node:http in, fetch out, no
 *    auth, no storage: the least any Node gateway adds) is the machine's floor — on this 2-vCPU VM one
 *    loopback hop that wakes an idle thread costs ~0.3-0.7 ms of writev, so the floor is not zero.
 *    Sessions start spread over one whole cycle (direct call + gateway call + think), as independent agents.
 *    The simulator serves every request at once (a hosted API has no concurrency cap; its default cap of
 *    SIM_MAX_CONCURRENCY = 64 queued calls once 2/3 of 100 paired sessions were in flight, and that queue,
 *    not the gateway, was most of the "added" latency measured before).
 * 1b. Unloaded: one session calling back to back (the published gateway figures are unloaded), ours and floor.
 * 2. 200 sessions against a provider limited to N rpm (the simulator answers 429 past it): caller 429s,
 *    provider 429s, and the share of the limit used in the steady state (after the start-up burst).
 * 3. Two tenants sharing that provider, one flooding with 3× the sessions: each tenant's share of the calls.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { type ApiServer, createServer } from '../../api/server.js';
import type { AosConfigInput } from '../../config/schema.js';
import { createKernel, type Kernel } from '../../kernel/kernel.js';
import type { SimulatorOptions } from '../../llm/simulated/engine.js';
import { type BenchCase, defineBench } from '../harness.js';
import { startCpuProfile } from '../profile.js';
import type { LoadJob, LoadResult, LoadSession } from './gateway-worker.js';

/** The simulated provider's time to first token, and an agent's own work between two model calls. */
const LATENCY_TTFT_MS = 500;
const THINK_MS = 500;
/** The unloaded case's model: fast, so 300 back-to-back pairs take seconds. */
const UNLOADED_TTFT_MS = 20;

const WORKER = new URL('./gateway-worker.js', import.meta.url);

/**
 * CPU time of this (the kernel's) thread in ms, from /proc on Linux; null elsewhere. Unlike event-loop
 * utilisation it does not count the time the OS gave the core to someone else — on a shared machine that
 * is the difference between the gateway's cost and the machine's load.
 */
function threadCpuMs(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    return null;
  }
}

interface Rig {
  kernel: Kernel;
  server: ApiServer;
  admin: string;
  simUrl: string;
  simStats(): Promise<{ requests: number; rateLimited: number; maxInFlight: number }>;
  close(): Promise<void>;
}

/**
 * The floor: a bare pass-through proxy on the kernel's thread — the body read, forwarded with fetch to the
 * simulator with the provider key, and the answer piped back as it arrives (so a stream's first token is
 * not held). No auth, no parsing, no scheduler, no storage: what any Node HTTP gateway pays at least.
 */
async function startFloorProxy(upstream: string, apiKey: string): Promise<{ url: string; server: Server }> {
  const base = upstream.replace(/\/+$/, '');
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const r = await fetch(`${base}${(req.url ?? '').replace(/^\/v1/, '')}`, {
          method: req.method ?? 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
          body: Buffer.concat(chunks),
        });
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
        if (r.body) for await (const c of r.body) res.write(c);
        res.end();
      } catch (err) {
        res.writeHead(502).end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('floor proxy: no port');
  return { url: `http://127.0.0.1:${addr.port}/v1`, server };
}

function startWorker(data: unknown): Promise<{ w: Worker; ready: Record<string, unknown> }> {
  const w = new Worker(WORKER, { workerData: data });
  return new Promise((resolve, reject) => {
    w.once('error', reject);
    w.once('message', (m: Record<string, unknown>) => resolve({ w, ready: m }));
  });
}

function ask<T>(w: Worker, msg: unknown, reply: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string; message?: string } & Record<string, unknown>) => {
      if (m.type === 'error') {
        w.off('message', on);
        reject(new Error(m.message));
      } else if (m.type === reply) {
        w.off('message', on);
        resolve(m as T);
      }
    };
    w.on('message', on);
    w.postMessage(msg);
  });
}

async function rig(sim: SimulatorOptions, config: AosConfigInput): Promise<Rig> {
  const { w: simWorker, ready } = await startWorker({ role: 'sim', sim });
  const simUrl = String(ready.url);
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-gw-'));
  const kernel = await createKernel({
    storage: `pglite://${join(dir, 'data')}`,
    plugins: false,
    config: {
      data_dir: dir,
      default_model: 'gpt-sim',
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      server: { demo_agents: false },
      ...config,
      llms: {
        models: [
          {
            name: 'gpt-sim',
            provider: 'openai',
            base_url: simUrl,
            api_key: 'sk-bench-provider',
            ...(config.llms?.models?.[0]?.max_concurrency
              ? { max_concurrency: config.llms.models[0].max_concurrency }
              : {}),
          },
        ],
      },
    },
  });
  const server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
  const admin = readFileSync(server.adminTokenFile, 'utf8').trim();
  return {
    kernel,
    server,
    admin,
    simUrl,
    simStats: async () =>
      (
        await ask<{ stats: { requests: number; rateLimited: number; maxInFlight: number } }>(
          simWorker,
          { type: 'stats' },
          'stats',
        )
      ).stats,
    async close() {
      await server.close();
      await kernel.shutdown();
      simWorker.postMessage({ type: 'close' });
      await new Promise((r) => simWorker.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function runLoad(job: LoadJob): Promise<LoadResult> {
  const { w } = await startWorker({ role: 'load' });
  try {
    return (await ask<{ result: LoadResult }>(w, { type: 'run', job }, 'result')).result;
  } finally {
    await w.terminate();
  }
}

/** Per-pair differences (gateway − direct), in ms. */
function added(r: LoadResult): number[] {
  return r.gateway.map((g, i) => g - r.direct[i]!);
}

function failIfBroken(r: LoadResult, what: string): void {
  if (r.errors.length)
    throw new Error(`${what}: callers saw errors: ${JSON.stringify(r.statuses)} ${r.errors[0]}`);
}

export const gatewayBench = defineBench({
  name: 'gateway',
  subsystem: 'gateway',
  async run(ctx) {
    const cases: BenchCase[] = [];
    const sessions = 100;

    // ── 1. added latency ──────────────────────────────────────────────────────────────────────────────
    {
      // The provider serves every session at once (a hosted API has no per-model concurrency cap; its
      // limit is RPM/TPM): the kernel's slots and the simulator's concurrency sized past the sessions, so
      // what is measured is the gateway, not a queue.
      const r = await rig(
        { latency: { ttftMs: LATENCY_TTFT_MS, perTokenMs: 0 }, concurrency: sessions * 4 },
        { llms: { models: [{ name: 'gpt-sim', provider: 'openai', max_concurrency: sessions }] } },
      );
      const floor = await startFloorProxy(r.simUrl, 'sk-bench-provider');
      try {
        const tokens: LoadSession[] = [];
        for (let i = 0; i < sessions; i++)
          tokens.push({ apiKey: r.admin, session: `lat-${i}`, tenant: 'default' });
        const base = {
          gatewayUrl: `${r.server.url}/v1`,
          directUrl: r.simUrl,
          directKey: 'sk-bench-provider',
          model: 'gpt-sim',
          sessions: tokens,
          durationMs: 0,
          paired: true,
          thinkMs: THINK_MS,
          // One cycle of a session is a direct call, a gateway call and its think time: starts spread over
          // the whole cycle, as independent agents are (over the think time alone, every gateway call fell
          // into one third of each cycle — three times the average rate in bursts).
          spreadMs: THINK_MS + 2 * LATENCY_TTFT_MS,
        };
        const viaFloor = { ...base, gatewayUrl: floor.url };
        const calls = ctx.quick ? 6 : 30;
        ctx.log(`warm-up, then ${sessions} sessions × ${calls} paired calls (non-stream), gateway and floor`);
        await runLoad({ ...base, calls: 2, stream: false });
        await runLoad({ ...viaFloor, calls: 2, stream: false });
        const stopProfile = await startCpuProfile('gateway-nonstream');
        const elu0 = performance.eventLoopUtilization();
        const cpu0 = threadCpuMs();
        const t0 = performance.now();
        const plain = await runLoad({ ...base, calls, stream: false });
        const wall = performance.now() - t0;
        await stopProfile?.();
        const elu = performance.eventLoopUtilization(elu0);
        const cpu1 = threadCpuMs();
        failIfBroken(plain, 'non-stream');
        const fcpu0 = threadCpuMs();
        const bare = await runLoad({ ...viaFloor, calls, stream: false });
        const fcpu1 = threadCpuMs();
        failIfBroken(bare, 'non-stream via the floor proxy');
        cases.push({
          name: `chat completion, ${sessions} concurrent sessions (non-stream)`,
          unit: 'ms',
          baseline: { label: 'openai SDK → simulator', samples: plain.direct },
          ours: { label: 'openai SDK → gateway → simulator', samples: plain.gateway },
          notes: `simulator: ${LATENCY_TTFT_MS} ms to first token (a fast hosted model), no concurrency cap; each session alternates a direct and a gateway call, then works ${THINK_MS} ms (an agent's tools)`,
        });
        cases.push({
          name: `added latency per call, ${sessions} sessions (non-stream)`,
          unit: 'ms',
          baseline: { label: 'bare Node proxy − direct (the floor)', samples: added(bare) },
          ours: { label: 'gateway − direct, same session, consecutive', samples: added(plain) },
          target: { ours: 'median < 1 ms' },
          notes: `load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores during the run; issue 13 targets p50 < 1 ms, p99 < 3 ms; LiteLLM ~4 ms, Portkey ~2.4 ms, Bifrost ~0.4 ms (published, unloaded, their own hardware). The floor is a node:http → fetch pass-through on the kernel's thread, same load`,
        });
        const n = Math.max(1, plain.gateway.length);
        const perCall = (a: number | null, b: number | null, calls: number, fallback: number) =>
          a !== null && b !== null ? (b - a) / calls : fallback / calls;
        cases.push({
          name: 'kernel thread CPU time per gateway call',
          unit: 'ms',
          baseline: {
            label: 'the floor proxy: thread CPU ÷ calls',
            samples: [perCall(fcpu0, fcpu1, Math.max(1, bare.gateway.length), 0)],
          },
          ours: {
            label: 'CPU of the kernel thread ÷ calls (HTTP in/out, gate, scheduler, step commit, journal)',
            samples: [perCall(cpu0, cpu1, n, elu.active)],
          },
          notes: `${cpu0 !== null ? 'thread CPU from /proc' : 'event-loop active time (no /proc)'}; event-loop utilisation ${(elu.utilization * 100).toFixed(1)} % over ${Math.round(wall)} ms; ${n} gateway calls`,
        });

        ctx.log(
          `${sessions} sessions × ${calls} paired calls (stream, time to first token), gateway and floor`,
        );
        const scpu0 = threadCpuMs();
        const stream = await runLoad({ ...base, calls, stream: true });
        const scpu1 = threadCpuMs();
        failIfBroken(stream, 'stream');
        const sfcpu0 = threadCpuMs();
        const bareStream = await runLoad({ ...viaFloor, calls, stream: true });
        const sfcpu1 = threadCpuMs();
        failIfBroken(bareStream, 'stream via the floor proxy');
        if (scpu0 !== null)
          cases.push({
            name: 'kernel thread CPU time per gateway call (stream)',
            unit: 'ms',
            baseline: {
              label: 'the floor proxy: thread CPU ÷ calls',
              samples: [perCall(sfcpu0, sfcpu1, Math.max(1, bareStream.gateway.length), 0)],
            },
            ours: {
              label:
                'CPU of the kernel thread ÷ calls (each answer streamed as ~85 chunks, relayed as they come)',
              samples: [perCall(scpu0, scpu1, Math.max(1, stream.gateway.length), 0)],
            },
            notes: 'thread CPU from /proc',
          });
        cases.push({
          name: `time to first token, ${sessions} sessions (stream)`,
          unit: 'ms',
          baseline: { label: 'openai SDK → simulator', samples: stream.direct },
          ours: { label: 'openai SDK → gateway → simulator', samples: stream.gateway },
        });
        cases.push({
          name: `added time to first token, ${sessions} sessions (stream)`,
          unit: 'ms',
          baseline: { label: 'bare Node proxy − direct TTFT (the floor)', samples: added(bareStream) },
          ours: { label: 'gateway − direct TTFT, same session, consecutive', samples: added(stream) },
          target: { ours: 'median < 1 ms' },
        });
      } finally {
        await new Promise((res) => floor.server.close(res));
        await r.close();
      }
    }

    // ── 1b. unloaded: one session, back to back ───────────────────────────────────────────────────────
    {
      const r = await rig(
        { latency: { ttftMs: UNLOADED_TTFT_MS, perTokenMs: 0 } },
        { llms: { models: [{ name: 'gpt-sim', provider: 'openai', max_concurrency: 4 }] } },
      );
      const floor = await startFloorProxy(r.simUrl, 'sk-bench-provider');
      try {
        const one = {
          gatewayUrl: `${r.server.url}/v1`,
          directUrl: r.simUrl,
          directKey: 'sk-bench-provider',
          model: 'gpt-sim',
          sessions: [{ apiKey: r.admin, session: 'unloaded', tenant: 'default' }],
          durationMs: 0,
          paired: true,
          thinkMs: 0,
          stream: false,
        };
        const calls = ctx.quick ? 60 : 300;
        ctx.log(`1 session × ${calls} paired calls back to back (unloaded), gateway and floor`);
        await runLoad({ ...one, calls: 30 });
        const ours = await runLoad({ ...one, calls });
        failIfBroken(ours, 'unloaded');
        await runLoad({ ...one, gatewayUrl: floor.url, calls: 30 });
        const bare = await runLoad({ ...one, gatewayUrl: floor.url, calls });
        failIfBroken(bare, 'unloaded via the floor proxy');
        cases.push({
          name: 'added latency per call, 1 session back to back (non-stream, unloaded)',
          unit: 'ms',
          baseline: { label: 'bare Node proxy − direct (the floor)', samples: added(bare) },
          ours: { label: 'gateway − direct, consecutive', samples: added(ours) },
          target: { ours: 'median < 1 ms' },
          notes: `simulator ${UNLOADED_TTFT_MS} ms to first token; the published gateway figures (LiteLLM ~4 ms, Portkey ~2.4 ms, Bifrost ~0.4 ms) are of this kind`,
        });
      } finally {
        await new Promise((res) => floor.server.close(res));
        await r.close();
      }
    }

    // ── 2. a tight provider limit: callers wait, never see 429 ───────────────────────────────────────
    {
      const rpm = ctx.quick ? 1_200 : 3_000;
      const durationMs = ctx.quick ? 20_000 : 75_000;
      const warmMs = 12_000; // past the start-up burst the kernel's bucket allows
      const r = await rig(
        { rateLimit: { rpm } },
        {
          scheduler: { rate_limits: { openai: { rpm } } },
          gateway: { queue_timeout_ms: 120_000 },
          llms: { models: [{ name: 'gpt-sim', provider: 'openai', max_concurrency: 256 }] },
        },
      );
      try {
        const keyA = (await r.server.tokens.create({ name: 'a', role: 'operator', tenant: 'a' })).token;
        const keyB = (await r.server.tokens.create({ name: 'b', role: 'operator', tenant: 'b' })).token;
        const all: LoadSession[] = [];
        // 200 sessions; tenant a floods with 150 of them, tenant b has 50.
        for (let i = 0; i < 200; i++)
          all.push(
            i % 4 === 3
              ? { apiKey: keyB, session: `b-${i}`, tenant: 'b' }
              : { apiKey: keyA, session: `a-${i}`, tenant: 'a' },
          );
        ctx.log(`200 sessions (150 tenant a, 50 tenant b) for ${durationMs / 1000} s against ${rpm} rpm`);
        const before = await r.simStats();
        const steadyFrom = { at: 0, served: 0 };
        const timer = setTimeout(async () => {
          steadyFrom.at = performance.now();
          steadyFrom.served = (await r.simStats()).requests;
        }, warmMs);
        const res = await runLoad({
          gatewayUrl: `${r.server.url}/v1`,
          directUrl: r.simUrl,
          directKey: 'sk-bench-provider',
          model: 'gpt-sim',
          sessions: all,
          calls: 1_000_000,
          durationMs,
          stream: false,
          paired: false,
          thinkMs: 0,
          snapshotAtMs: warmMs,
        });
        clearTimeout(timer);
        const after = await r.simStats();
        const steadyMs = performance.now() - steadyFrom.at;
        const share = ((after.requests - steadyFrom.served) / ((rpm * steadyMs) / 60_000)) * 100;
        const caller429 = res.statuses['429'] ?? 0;
        cases.push({
          name: `caller 429s, 200 sessions vs ${rpm} rpm`,
          unit: 'count',
          ours: { label: 'HTTP 429 answers the callers saw', samples: [caller429] },
          target: { ours: 'max <= 0' },
          notes: `statuses ${JSON.stringify(res.statuses)}; provider 429s ${after.rateLimited - before.rateLimited}${res.errors.length ? `; first errors: ${res.errors.slice(0, 3).join(' | ')}` : ''}`,
        });
        cases.push({
          name: `share of the provider's ${rpm} rpm used (steady state)`,
          unit: '%',
          ours: {
            label: `requests the simulator served after the first ${warmMs / 1000} s`,
            samples: [share],
          },
          target: { ours: 'min >= 95' },
        });
        const a = res.okByTenant.a ?? 0;
        const b = res.okByTenant.b ?? 0;
        // The same share after the first seconds, when the kernel's bucket no longer holds the start-up
        // burst and every call waits its turn: it tells a burst admitted in arrival order (3:1) apart from
        // a bias of the scheduler under contention.
        const snap = res.okByTenantAtSnapshot ?? {};
        const sa = a - (snap.a ?? 0);
        const sb = b - (snap.b ?? 0);
        cases.push({
          name: 'fair share between two tenants (a floods with 3× the sessions)',
          unit: '%',
          ours: {
            label: 'tenant b’s share of answered calls (fair: 50 %)',
            samples: [(b / Math.max(1, a + b)) * 100],
          },
          target: { ours: 'min >= 48' },
          notes: `a ${a} calls, b ${b} calls; after the first ${warmMs / 1000} s: a ${sa}, b ${sb} (b ${((sb / Math.max(1, sa + sb)) * 100).toFixed(1)} %); equal weights, so each tenant is owed half the provider`,
        });
      } finally {
        await r.close();
      }
    }
    return cases;
  },
});
