/**
 * One contestant of the peer bench per process, so each has its own heap, CPU clock and peak RSS:
 * `node dist/bench/peers/worker.js <role> '<json>'` with role `server` (the fake model, ./fake-openai.ts),
 * `kernel` (our built-in ReAct agent with context and tools) or `bare` (the official `openai` SDK in a
 * hand-written tool loop, no persistence: the floor). LangGraph.js runs the same protocol from
 * bench/peers/langgraph.mjs. A worker prints one line `@@result <json>` (see WorkerResult) and exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { startCpuProfile } from '../profile.js';
import { startFakeOpenAi } from './fake-openai.js';

export interface WorkerJob {
  /** Base URL of the fake model, with `/v1`. */
  url: string;
  /** Agents in the measured run; `sequential` runs them one after another (the one-agent figure). */
  agents: number;
  sequential: boolean;
  /** Agents run before measuring (sequential only), to warm the JIT and the store. */
  warmup: number;
  /** Kernel: storage URL; LangGraph: memory | sqlite:<file> | postgres:<url>; bare: ignored. */
  storage: string;
  /** Kernel only: scheduler.slots_per_model, or absent for the default. */
  slots?: number;
  /** Model calls each agent should make (checked against the answers). */
  calls: number;
  /** Kernel only: llms.stream (default true, as a default install); false measures the unstreamed path. */
  stream?: boolean;
}

export interface WorkerResult {
  wallMs: number;
  /** User + system CPU of the whole process during the measured run. */
  cpuMs: number;
  agents: number;
  ok: number;
  /** Per-agent wall ms (sequential runs) for medians. */
  perAgentMs: number[];
  perAgentCpuMs: number[];
  peakRssMiB: number;
  rssEndMiB: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  extra?: Record<string, unknown>;
}

export const TASK = 'Add one, ten times, with the calculator; then say what the count reached.';

export function emit(r: WorkerResult): void {
  process.stdout.write(`@@result ${JSON.stringify(r)}\n`);
}

export async function measure(
  job: WorkerJob,
  runOne: (i: number) => Promise<boolean>,
): Promise<Omit<WorkerResult, 'peakRssMiB' | 'rssEndMiB'>> {
  for (let i = 0; i < job.warmup; i++) await runOne(-1 - i);
  const profile = await startCpuProfile(String(process.pid));
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const perAgentMs: number[] = [];
  const perAgentCpuMs: number[] = [];
  let ok = 0;
  if (job.sequential) {
    for (let i = 0; i < job.agents; i++) {
      const a = performance.now();
      const ca = process.cpuUsage();
      if (await runOne(i)) ok++;
      const cd = process.cpuUsage(ca);
      perAgentMs.push(performance.now() - a);
      perAgentCpuMs.push((cd.user + cd.system) / 1000);
    }
  } else {
    const res = await Promise.all(Array.from({ length: job.agents }, (_, i) => runOne(i)));
    ok = res.filter(Boolean).length;
  }
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  loop.disable();
  await profile?.();
  return {
    wallMs,
    cpuMs: (c.user + c.system) / 1000,
    agents: job.agents,
    ok,
    perAgentMs,
    perAgentCpuMs,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
  };
}

export function memory(): { peakRssMiB: number; rssEndMiB: number } {
  return {
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    rssEndMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
}

async function kernelWorker(job: WorkerJob): Promise<void> {
  const { createKernel } = await import('../../kernel/kernel.js');
  const dir = mkdtempSync(join(tmpdir(), 'aos-peers-'));
  const storage = job.storage.replace('{dir}', join(dir, 'data'));
  const k = await createKernel({
    storage,
    plugins: false,
    config: {
      data_dir: dir,
      default_model: 'gpt-fake',
      llms: {
        models: [{ name: 'gpt-fake', provider: 'openai', base_url: job.url, api_key: 'sk-bench' }],
        ...(job.stream === false ? { stream: false } : {}),
      },
      security: { sandbox: 'none', workspace: join(dir, 'workspace') },
      server: { demo_agents: false },
      ...(job.slots ? { scheduler: { slots_per_model: job.slots } } : {}),
    },
  });
  const sql = countStatements(k.storage.driver);
  const failures: string[] = [];
  const runOne = async (i: number) => {
    const pid = await k.spawn({ name: `a${i}`, task: TASK });
    const st = await k.wait(pid);
    const good = st.state === 'terminated' && String(st.result).includes(`reached ${job.calls - 1}`);
    if (!good && failures.length < 3) failures.push(`${st.state}: ${st.exitReason ?? String(st.result)}`);
    return good;
  };
  const r = await measure(job, async (i) => {
    if (i === 0) sql.reset();
    return runOne(i);
  });
  const slots = k.cpu.snapshot();
  const calls = job.agents * job.calls;
  await k.shutdown();
  rmSync(dir, { recursive: true, force: true });
  emit({
    ...r,
    ...memory(),
    extra: {
      failures,
      scheduler: slots,
      statementsPerStep: Math.round((100 * sql.total()) / calls) / 100,
      bytesPerStep: Math.round(sql.bytes() / calls),
      topStatements: sql
        .top(12)
        .map(
          ([s, e]) =>
            `${(e.n / calls).toFixed(2)}/step ${Math.round(e.bytes / calls)} B ${(e.ms / calls).toFixed(2)} ms  ${s}`,
        ),
    },
  });
}

/**
 * Counts the statements the kernel sends (outside and inside transactions), by their first 90 chars, with
 * the bytes of their parameters (what a step writes to the database) and their time until answered.
 */
function countStatements(d: object) {
  const by = new Map<string, { n: number; bytes: number; ms: number }>();
  const note = (sql: string, params?: readonly unknown[]) => {
    const key = sql.replace(/\s+/g, ' ').trim().slice(0, 90);
    const e = by.get(key) ?? { n: 0, bytes: 0, ms: 0 };
    by.set(key, e);
    e.n++;
    for (const v of params ?? []) e.bytes += paramBytes(v);
    const t0 = performance.now();
    return (x: unknown) => {
      e.ms += performance.now() - t0;
      return x;
    };
  };
  const drv = d as unknown as {
    query: (sql: string, p?: unknown[]) => Promise<unknown>;
    transaction: (fn: (tx: { query: (sql: string, p?: unknown[]) => unknown }) => unknown) => unknown;
  };
  const q = drv.query.bind(drv);
  const t = drv.transaction.bind(drv);
  drv.query = (sql, p) => {
    const end = note(sql, p);
    return q(sql, p).then(end);
  };
  drv.transaction = (fn) =>
    t((tx) => {
      note('BEGIN … COMMIT');
      return fn({
        query: (sql, p) => {
          const end = note(sql, p);
          return (tx.query(sql, p) as Promise<unknown>).then(end);
        },
      });
    });
  const sum = (f: (e: { n: number; bytes: number; ms: number }) => number) =>
    [...by.values()].reduce((a, e) => a + f(e), 0);
  return {
    reset: () => by.clear(),
    total: () => sum((e) => e.n),
    bytes: () => sum((e) => e.bytes),
    top: (n: number) => [...by].sort((a, b) => b[1].n - a[1].n).slice(0, n),
  };
}

function paramBytes(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (v instanceof Uint8Array) return v.byteLength;
  if (typeof v === 'object') return Buffer.byteLength(JSON.stringify(v));
  return String(v).length;
}

async function bareWorker(job: WorkerJob): Promise<void> {
  const { default: OpenAI } = await import('openai');
  const client = new OpenAI({ baseURL: job.url, apiKey: 'sk-bench', maxRetries: 0 });
  const tools = [
    {
      type: 'function' as const,
      function: {
        name: 'calculator',
        description: 'Evaluates an arithmetic expression',
        parameters: {
          type: 'object',
          properties: { expression: { type: 'string' } },
          required: ['expression'],
        },
      },
    },
  ];
  const runOne = async () => {
    type Msg = Parameters<typeof client.chat.completions.create>[0]['messages'][number];
    const messages: Msg[] = [{ role: 'user', content: TASK }];
    for (let n = 0; n < job.calls; n++) {
      const res = await client.chat.completions.create({ model: 'gpt-fake', messages, tools });
      const m = res.choices[0]!.message;
      messages.push(m as Msg);
      if (!m.tool_calls?.length) return (m.content ?? '').includes(`reached ${job.calls - 1}`);
      for (const tc of m.tool_calls) {
        if (tc.type !== 'function') continue;
        const { expression } = JSON.parse(tc.function.arguments) as { expression: string };
        const [a, b] = expression.split('+').map(Number);
        messages.push({ role: 'tool', tool_call_id: tc.id, content: String((a ?? 0) + (b ?? 0)) });
      }
    }
    return false;
  };
  const r = await measure(job, runOne);
  emit({ ...r, ...memory() });
}

async function serverWorker(opts: { latencyMs: number; toolCalls: number }): Promise<void> {
  const s = await startFakeOpenAi(opts);
  process.stdout.write(`@@url ${s.url}\n`);
  process.on('SIGTERM', () => {
    void s.close().then(() => process.exit(0));
  });
  // Bounded: the bench kills it when done; it stops itself after an hour whatever happens.
  setTimeout(() => process.exit(0), 3_600_000).unref();
  await new Promise(() => undefined);
}

const [role, arg] = process.argv.slice(2);
if (role && process.argv[1]?.endsWith('worker.js')) {
  const job = JSON.parse(arg ?? '{}');
  const run =
    role === 'server' ? serverWorker : role === 'kernel' ? kernelWorker : role === 'bare' ? bareWorker : null;
  if (!run) {
    process.stderr.write(`unknown role ${role}\n`);
    process.exit(2);
  }
  run(job).then(
    () => {
      if (role !== 'server') process.exit(0);
    },
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
