/**
 * Bench suite `security`: what the hardening costs, against the plain code it replaced, in the same run.
 *   - file tools: read_file / write_file / edit_file through ./io/builtin/fs-safe.ts (descriptor verified
 *     after an O_NOFOLLOW|O_NONBLOCK open, writes by temp file + rename in a verified directory) against
 *     the plain implementation of the same tools (resolvePath, then fs.readFile / fs.writeFile on the
 *     name — the check-then-open the race test broke);
 *   - sandbox start: `/bin/true` on BubblewrapSandbox (as root: bwrap mounts with privilege, setpriv
 *     drops to the sandbox uid inside, a pids+memory cgroup) against the same command spawned without a
 *     sandbox by the same supervisor;
 *     (with AOS_BENCH_CONTAINER_ENGINE set, the same for the docker sandbox on that engine);
 *   - seccomp filter: the same bare bwrap command line with and without `--seccomp` (./security/sandbox/
 *     seccomp.ts), for /bin/true (loading the program) and for a shell creating 2000 files (every
 *     openat passes the filter's mode rule);
 *   - health probe under attack: GET /api/v1/health on an idle kernel against the same probe every 50 ms
 *     while five attacker processes (fork bomb, memory bomb, sysctl writes, file flood + setuid, output
 *     flood) run through the kernel's syscalls on bubblewrap — the done-when's "answers within 1 s";
 *   - event-loop stall per command: the longest the kernel's event loop stood still while one command
 *     ran, with a kernel-sized heap (600 MB touched), for a spawn from the kernel's own process
 *     (child_process.spawn forks it) against the spawner process (./security/sandbox/run.ts).
 */
import { spawn } from 'node:child_process';
import { promises as fs, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createServer } from '../../api/server.js';
import { editFileTool, readFileTool, writeFileTool } from '../../io/builtin/fs.js';
import { createToolContext } from '../../io/context.js';
import { createKernel } from '../../kernel/kernel.js';
import { resolverFromProvider } from '../../kernel/model-resolver.js';
import { type AgentProgram, continueWith, done } from '../../kernel/program.js';
import { SimulatedProvider } from '../../llm/simulated/simulated-provider.js';
import { SecurityPolicy } from '../../security/policy.js';
import { BubblewrapSandbox } from '../../security/sandbox/bubblewrap.js';
import { DockerSandbox } from '../../security/sandbox/docker.js';
import { NoSandbox } from '../../security/sandbox/none.js';
import { runSupervised } from '../../security/sandbox/run.js';
import { seccompFile } from '../../security/sandbox/seccomp.js';
import type { Sandbox } from '../../security/sandbox.js';
import { type BenchCase, type BenchContext, collect, defineBench } from '../harness.js';

const policy = new SecurityPolicy({ max_wall_seconds: 30 });
const limits = { memoryMb: 256, cpuSeconds: 10, processes: 32, fileSizeMb: 16, wallSeconds: 30 };

/** The file tools as they were before fs-safe: check the path, then open the name. */
const plain = {
  async read(path: string, ws: string): Promise<string> {
    return (await fs.readFile(policy.resolvePath(path, 'read', ws))).toString('utf8');
  },
  async write(path: string, content: string, ws: string): Promise<string> {
    await fs.writeFile(policy.resolvePath(path, 'write', ws), content);
    return `wrote ${Buffer.byteLength(content)} bytes to ${path}`;
  },
  async edit(path: string, from: string, to: string, ws: string): Promise<string> {
    const real = policy.resolvePath(path, 'write', ws);
    const text = (await fs.readFile(real)).toString('utf8');
    if (text.split(from).length - 1 !== 1) throw new Error('not unique');
    await fs.writeFile(real, text.replace(from, to));
    return `replaced 1 occurrence(s) in ${path}`;
  },
};

async function fileTools(ctx: BenchContext): Promise<BenchCase[]> {
  const n = ctx.quick ? 300 : 3000;
  const ws = realpathSync(mkdtempSync(join(tmpdir(), 'aos-bench-sec-')));
  try {
    mkdirSync(join(ws, 'd'));
    const text = `${'a line of text in a small source file\n'.repeat(100)}`; // 3.8 KB
    writeFileSync(join(ws, 'd', 'r.txt'), text);
    const sandbox = new NoSandbox({ quiet: true });
    const tctx = createToolContext({ pid: 1, workspace: ws, sandbox, policy });
    const cases: BenchCase[] = [];
    const run = async (
      name: string,
      base: (i: number) => Promise<unknown>,
      ours: (i: number) => Promise<unknown>,
      label: string,
    ) => {
      const b = await collect(n, base);
      const o = await collect(n, ours);
      cases.push({
        name: `${name}, ${n} calls on a 3.8 KB file`,
        unit: 'ms',
        baseline: { label: 'plain: resolvePath, then fs.readFile/fs.writeFile on the name', samples: b },
        ours: { label, samples: o },
        notes: 'the ratio (baseline ÷ ours, < 1 = slower) is the price of the race-free open per call',
      });
    };
    await run(
      'read_file',
      () => plain.read('d/r.txt', ws),
      () => readFileTool.run({ path: 'd/r.txt' }, tctx),
      'fs-safe: O_NOFOLLOW|O_NONBLOCK open, /proc/self/fd check, fstat, bounded read',
    );
    await run(
      'write_file',
      (i) => plain.write(`d/w${i & 7}.txt`, text, ws),
      (i) => writeFileTool.run({ path: `d/w${i & 7}.txt`, content: text }, tctx),
      'fs-safe: verified directory descriptor, temp file + rename',
    );
    writeFileSync(join(ws, 'd', 'e0.txt'), `${text}MARK-0\n`);
    writeFileSync(join(ws, 'd', 'e1.txt'), `${text}MARK-0\n`);
    await run(
      'edit_file',
      (i) => plain.edit('d/e0.txt', `MARK-${i < 0 ? 0 : i}\n`, `MARK-${i < 0 ? 0 : i + 1}\n`, ws),
      (i) =>
        editFileTool.run(
          {
            path: 'd/e1.txt',
            old_string: `MARK-${i < 0 ? 0 : i}\n`,
            new_string: `MARK-${i < 0 ? 0 : i + 1}\n`,
          },
          tctx,
        ),
      'fs-safe: verified read, then temp file + rename',
    );
    return cases;
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

async function sandboxStart(ctx: BenchContext, bwrap: Sandbox, label?: string): Promise<BenchCase> {
  const n = label ? (ctx.quick ? 5 : 30) : ctx.quick ? 20 : 150;
  const ws = realpathSync(mkdtempSync(join(tmpdir(), 'aos-bench-sec-')));
  try {
    const baseline = await collect(n, () =>
      runSupervised('/bin/true', [], {
        cwd: ws,
        env: { PATH: '/usr/bin:/bin' },
        timeoutMs: 30_000,
        maxOutputBytes: 65_536,
      }),
    );
    const ours = await collect(
      n,
      async () => {
        const r = await bwrap.exec({ command: '/bin/true', args: [], cwd: ws, writePaths: [ws], limits });
        if (r.exitCode !== 0) throw new Error(`sandboxed /bin/true failed: ${r.stderr}`);
      },
      { budgetMs: 90_000 },
    );
    return {
      name: `sandbox start: /bin/true on ${bwrap.name}, ${ours.length} commands`,
      unit: 'ms',
      baseline: { label: '/bin/true without a sandbox (same supervisor, same spawner)', samples: baseline },
      ours: {
        label:
          label ??
          (process.getuid?.() === 0
            ? 'bubblewrap as root (namespaces, mounts, cgroup) + setpriv to the sandbox uid + prlimit'
            : 'bubblewrap in a user namespace + prlimit'),
        samples: ours,
      },
      notes: 'ratio = baseline ÷ ours: the start cost of isolation per command',
    };
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

/** The filter's own cost: one bare bwrap command line, with and without `--seccomp 3`. */
async function seccompCost(ctx: BenchContext): Promise<BenchCase[]> {
  const n = ctx.quick ? 20 : 100;
  const bare = ['--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib'];
  bare.push('--symlink', 'usr/lib64', '/lib64', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  bare.push('--unshare-all', '--die-with-parent');
  const run = (filter: boolean, cmd: string[]) => async () => {
    const args = filter
      ? ['-c', 'exec 3<"$1"; shift; exec "$@"', 'sh', seccompFile(), 'bwrap', '--seccomp', '3', ...bare]
      : ['-c', 'exec "$@"', 'sh', 'bwrap', ...bare];
    const r = await runSupervised('/bin/sh', [...args, '--', ...cmd], {
      env: { PATH: '/usr/bin:/bin' },
      timeoutMs: 30_000,
      maxOutputBytes: 65_536,
    });
    if (r.exitCode !== 0) throw new Error(`bwrap failed: ${r.stderr}`);
  };
  const cases: BenchCase[] = [];
  const loop = ['/bin/sh', '-c', 'i=0; while [ $i -lt 2000 ]; do : > /tmp/f$i; i=$((i+1)); done'];
  for (const [what, cmd] of [
    ['/bin/true', ['/bin/true']],
    ['2000 file creations (sh)', loop],
  ] as const) {
    const baseline: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < n; i++) {
      baseline.push(...(await collect(1, run(false, [...cmd]), { warmup: i === 0 ? 2 : 0 })));
      ours.push(...(await collect(1, run(true, [...cmd]), { warmup: i === 0 ? 2 : 0 })));
    }
    cases.push({
      name: `seccomp filter: bwrap ${what}, ${n} commands`,
      unit: 'ms',
      baseline: { label: 'bwrap without --seccomp', samples: baseline },
      ours: {
        label: "bwrap --seccomp 3 (the kernel's filter: setuid modes, devices, user namespaces)",
        samples: ours,
      },
      notes: 'ratio = baseline ÷ ours: what the filter adds per command (interleaved runs)',
    });
  }
  return cases;
}

/** Runs `fn` while a 1 ms timer watches the event loop; returns the longest gap between ticks (ms). */
async function stallDuring(fn: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  try {
    last = performance.now();
    await fn();
    return Math.max(worst, performance.now() - last);
  } finally {
    clearInterval(t);
  }
}

async function eventLoopStall(ctx: BenchContext): Promise<BenchCase> {
  const n = ctx.quick ? 10 : 40;
  // A kernel with PGlite's WASM heap is 0.5–1.5 GB resident; fork's cost grows with it.
  const heap: Buffer[] = [];
  for (let i = 0; i < 10; i++) heap.push(Buffer.alloc(60 * 1024 * 1024, 1));
  try {
    const direct = () =>
      new Promise<void>((res, rej) => {
        const c = spawn('/bin/true', [], { stdio: 'ignore', detached: true });
        c.on('error', rej);
        c.on('close', () => res());
      });
    const viaSpawner = () =>
      runSupervised('/bin/true', [], {
        env: { PATH: '/usr/bin:/bin' },
        timeoutMs: 30_000,
        maxOutputBytes: 1024,
      });
    const baseline: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < n; i++) {
      baseline.push(await stallDuring(direct));
      ours.push(await stallDuring(viaSpawner));
    }
    return {
      name: `event-loop stall per command, kernel heap ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB resident, ${n} commands`,
      unit: 'ms',
      baseline: {
        label: "child_process.spawn from the kernel's process (forks the whole heap)",
        samples: baseline,
      },
      ours: {
        label: 'runSupervised: the spawner process forks, the kernel only sends a message',
        samples: ours,
      },
      notes: 'the longest gap between 1 ms timer ticks while the command ran; > 1 ratio = ours stalls less',
    };
  } finally {
    heap.length = 0;
  }
}

/** Runs one shell command per step, through the kernel's syscall gate, as a hijacked model would. */
const attacker: AgentProgram<{ i: number; calls: string[] }> = {
  name: 'bench-attacker',
  init: ({ args }) => ({ i: 0, calls: (args as { calls: string[] }).calls }),
  async step(s, sys) {
    await sys.call('io.tool_call', {
      id: `c${s.i}`,
      name: 'shell',
      arguments: JSON.stringify({ command: s.calls[s.i] }),
    });
    const next = { ...s, i: s.i + 1 };
    return next.i >= next.calls.length ? done(next, next.i) : continueWith(next, { kind: 'attack' });
  },
};

/** Red-team shell attacks, each repeated by its own process while /health is probed. */
const ATTACKS = [
  'bomb() { bomb | bomb & }; bomb; sleep 1', // fork bomb under the pids limit
  'head -c 400M /dev/zero | tail -c 1 >/dev/null', // tail holds a line of 400 MB: the memory limit
  'echo 9 > /proc/sys/kernel/printk_ratelimit_burst; echo core > /proc/sys/kernel/core_pattern; true',
  'for i in $(seq 300); do echo x > f$i; done; cp /usr/bin/id s && chmod 4755 s; rm -f f* s',
  'yes | head -c 20M >/dev/null; (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; true',
];

/**
 * The done-when of the trust boundary: a health probe answers within 1 s during the attacks. /health over
 * loopback HTTP on an idle kernel (baseline), then every 50 ms while one process per attack above runs it
 * `rounds` times on the configured sandbox (bubblewrap when it works).
 */
async function healthUnderAttack(ctx: BenchContext, sandbox: 'bubblewrap' | 'none'): Promise<BenchCase> {
  const rounds = ctx.quick ? 2 : 8;
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'aos-bench-red-')));
  const k = await createKernel({
    storage: 'memory://',
    config: {
      data_dir: join(dir, 'data'),
      security: { sandbox, workspace: join(dir, 'ws'), default_policy: { ask_tools: [] } },
      server: { demo_agents: false },
    } as never,
    models: resolverFromProvider(new SimulatedProvider({})),
    programs: [attacker],
    plugins: false,
  });
  const server = await createServer(k, { host: '127.0.0.1', port: 0, dashboardDir: null });
  const probe = async () => {
    const r = await fetch(`${server.url}/api/v1/health`, { signal: AbortSignal.timeout(10_000) });
    await r.text();
  };
  try {
    const idle = await collect(ctx.quick ? 50 : 200, probe);
    const pids = await Promise.all(
      ATTACKS.map((cmd) =>
        k.spawn({
          name: 'bench-attacker',
          task: 'attack',
          program: 'bench-attacker',
          args: { calls: Array.from({ length: rounds }, () => cmd) },
          policy: { max_processes: 32, max_memory_mb: 128, max_wall_seconds: 10 },
        }),
      ),
    );
    let running = true;
    const finished = Promise.all(pids.map((pid) => k.wait(pid))).finally(() => {
      running = false;
    });
    const during: number[] = [];
    while (running) {
      const t0 = performance.now();
      await probe();
      during.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
    await finished;
    return {
      name: `health probe during ${ATTACKS.length} attacking processes × ${rounds} rounds (${sandbox}), ${during.length} probes`,
      unit: 'ms',
      baseline: { label: 'GET /api/v1/health, idle kernel', samples: idle },
      ours: { label: 'GET /api/v1/health every 50 ms while the attacks run', samples: during },
      target: { ours: 'max < 1000 ms' },
      notes:
        'fork bomb, memory bomb, sysctl and core_pattern writes, file flood + setuid attempt, output flood + loopback connect; ratio = idle ÷ under attack',
    };
  } finally {
    await server.close();
    await k.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const securityBench = defineBench({
  name: 'security',
  subsystem: 'security',
  async run(ctx) {
    const cases: BenchCase[] = [];
    ctx.log('security: hardened file tools against plain fs');
    cases.push(...(await fileTools(ctx)));
    let bwrap: Sandbox | null = null;
    try {
      bwrap = new BubblewrapSandbox();
    } catch (err) {
      ctx.log(`security: bubblewrap unavailable, sandbox start is skipped (${(err as Error).message})`);
    }
    if (bwrap) {
      ctx.log('security: sandbox start');
      cases.push(await sandboxStart(ctx, bwrap));
      ctx.log('security: seccomp filter cost');
      cases.push(...(await seccompCost(ctx)));
    }
    // The docker sandbox on an engine that is configured here (e.g. the red-team suite's podman):
    // AOS_BENCH_CONTAINER_ENGINE=podman AOS_BENCH_CONTAINER_IMAGE=<present image>, engine env as for the kernel.
    const engine = process.env.AOS_BENCH_CONTAINER_ENGINE;
    if (engine) {
      const image = process.env.AOS_BENCH_CONTAINER_IMAGE ?? 'debian:stable-slim';
      ctx.log(`security: sandbox start on ${engine} (${image})`);
      const docker = new DockerSandbox({ engine, image });
      cases.push(
        await sandboxStart(
          ctx,
          docker,
          `${engine} run --rm: a container per command (--network none, --user, masks)`,
        ),
      );
    }
    ctx.log('security: health probe during the red-team attacks');
    cases.push(await healthUnderAttack(ctx, bwrap ? 'bubblewrap' : 'none'));
    ctx.log('security: event-loop stall per command');
    cases.push(await eventLoopStall(ctx));
    return cases;
  },
});
