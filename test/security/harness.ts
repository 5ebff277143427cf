/**
 * The red-team harness: a real kernel (memory:// or a given storage URL, real bubblewrap unless told
 * otherwise) with an `attacker` program that makes the tool calls a hijacked model would make, one per
 * step, through the kernel's syscall gate (`io.tool_call`). Tests read what each call returned, what the
 * audit chain recorded, and probe the HTTP API's /health while the attacks run.
 */
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import { type AgentProgram, continueWith, done } from '../../src/kernel/program.js';
import type { ToolOutcome } from '../../src/kernel/syscalls.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';
import type { AuditEntry } from '../../src/storage/audit/audit-log.js';

/**
 * A probe that gets no answer in this long fails the test: the kernel is stuck. Latency itself is not
 * asserted (the machine is shared and loaded; a scheduler can starve any process for a second): the
 * distribution is printed per test and measured properly by `npm run bench security`.
 */
export const PROBE_TIMEOUT_MS = 10_000;

export interface AttackCall {
  name: string;
  args: unknown;
}

interface AttackState {
  calls: AttackCall[];
  i: number;
  out: ToolOutcome[];
}

/** Runs its calls one per step; the process result is every call's outcome. */
export const attacker: AgentProgram<AttackState> = {
  name: 'attacker',
  init: ({ args }) => ({ calls: (args as { calls: AttackCall[] }).calls, i: 0, out: [] }),
  async step(s, sys) {
    const c = s.calls[s.i] as AttackCall;
    const r = await sys.call('io.tool_call', {
      id: `c${s.i}`,
      name: c.name,
      arguments: typeof c.args === 'string' ? c.args : JSON.stringify(c.args),
    });
    const next = { ...s, i: s.i + 1, out: [...s.out, r] };
    return next.i >= s.calls.length ? done(next, next.out) : continueWith(next, { kind: 'attack' });
  },
};

export interface Rig {
  kernel: Kernel;
  server: ApiServer;
  workspace: string;
  dataDir: string;
  /** Spawns an attacker with `policy`, waits, returns each call's outcome. */
  attack(calls: AttackCall[], policy?: Record<string, unknown>): Promise<{ pid: number; out: ToolOutcome[] }>;
  audit(pid: number): Promise<AuditEntry[]>;
  /** GET /api/v1/health over a real socket; resolves with its latency in ms (throws when it fails). */
  health(): Promise<number>;
  close(): Promise<void>;
}

export async function bootRig(
  o: {
    sandbox?: 'bubblewrap' | 'none' | 'auto' | 'docker';
    /** The docker sandbox's engine and image (security.container). */
    container?: { engine: string; image: string };
    storage?: string;
    defaultPolicy?: Record<string, unknown>;
    config?: Record<string, unknown>;
    /** The workspace root (a fresh temp dir when absent). */
    workspace?: string;
    /**
     * One workspace per process, as configured by default (true), or every process in the root itself
     * (false, `security.shared_workspace: true`): the classes that attack the host from one process plant
     * and check files in `rig.workspace`; the workspace-isolation class runs per process.
     */
    perProcess?: boolean;
  } = {},
): Promise<Rig> {
  const dataDir = realpathSync(mkdtempSync(join(tmpdir(), 'aos-red-data-')));
  const workspace = o.workspace ?? realpathSync(mkdtempSync(join(tmpdir(), 'aos-red-ws-')));
  const kernel = await createKernel({
    // 'pglite:data-dir' puts the database under the data dir, as `aos start` does.
    // AOS_RED_STORAGE=pglite:data-dir runs the suite on the on-disk database `aos start` uses.
    storage: ((s) => (s === 'pglite:data-dir' ? `pglite://${join(dataDir, 'db')}` : s))(
      o.storage ?? process.env.AOS_RED_STORAGE ?? 'memory://',
    ),
    config: {
      data_dir: dataDir,
      security: {
        sandbox: o.sandbox ?? 'bubblewrap',
        ...(o.container ? { container: o.container } : {}),
        workspace,
        shared_workspace: o.perProcess !== true,
        // Approvals are their own class (src/security/approvals.test.ts): here the hostile calls run.
        default_policy: o.defaultPolicy ?? { ask_tools: [] },
      },
      server: { demo_agents: false },
      ...(o.config ?? {}),
    } as never,
    models: resolverFromProvider(new SimulatedProvider({})),
    programs: [attacker],
    plugins: false,
  });
  const server = await createServer(kernel, { port: 0, dataDir, dashboardDir: null });
  return {
    kernel,
    server,
    workspace,
    dataDir,
    async attack(calls, policy) {
      const pid = await kernel.spawn({
        name: 'attacker',
        task: 'attack',
        program: 'attacker',
        args: { calls },
        ...(policy ? { policy } : {}),
      });
      const st = await kernel.wait(pid);
      return { pid, out: (st.result ?? []) as ToolOutcome[] };
    },
    audit: (pid) => kernel.storage.audit.list({ stream: `proc:${pid}`, limit: 100_000 }),
    async health() {
      const t0 = performance.now();
      const res = await fetch(`${server.url}/api/v1/health`, {
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`health answered ${res.status}`);
      await res.text();
      return performance.now() - t0;
    },
    async close() {
      await server.close();
      await kernel.shutdown();
    },
  };
}

/**
 * Runs `work` while probing /health every 100 ms; every probe must answer (within PROBE_TIMEOUT_MS).
 * Returns work's result, the slowest probe and all probe latencies (ms), and prints their distribution.
 */
export async function whileProbing<T>(
  rig: Rig,
  work: () => Promise<T>,
  label = 'attack',
): Promise<{ result: T; worstMs: number; probes: number[] }> {
  const probes: number[] = [];
  let stop = false;
  // The event loop's own delay, beside the probes' latency: a slow probe with a small loop delay is the
  // machine not scheduling this process, not the kernel blocking.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const loop = (async () => {
    while (!stop) {
      probes.push(await rig.health());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const result = await work();
    probes.push(await rig.health());
    const s = [...probes].sort((a, b) => a - b);
    const q = (f: number) => (s[Math.min(s.length - 1, Math.ceil(f * s.length) - 1)] ?? 0).toFixed(0);
    loopDelay.disable();
    console.info(
      `[health during ${label}] ${s.length} probes, ms: p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${q(1)}; event-loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} max ${(loopDelay.max / 1e6).toFixed(0)} ms`,
    );
    return { result, worstMs: s[s.length - 1] ?? 0, probes };
  } finally {
    stop = true;
    await loop;
  }
}

/** The shell tool's { exit_code, stdout, stderr } from an outcome's output text. */
export function shellData(o: ToolOutcome): { exit_code: number | null; stdout: string; stderr: string } {
  try {
    return JSON.parse(o.output) as { exit_code: number | null; stdout: string; stderr: string };
  } catch {
    return { exit_code: null, stdout: '', stderr: o.output };
  }
}
