/**
 * Start-up bench: what a process pays before it does anything. Each sample is a fresh `node` child that
 * imports one thing and reports the import's wall time and CPU time (CPU time is what the import costs; the
 * wall time also holds whatever else the machine is doing, so read both when it is shared).
 * - import-root: `import('agent-os-kernel')` (dist/index.js) against the eager graph the 0.1 root loaded —
 *   the kernel, the HTTP server and every driver and SDK at import time.
 * - cli-help: `aos --help` as a whole process (all command modules registered), against `aos ps --help`,
 *   which loads one command's module — the path a command takes.
 * - cli ps vs server: `aos ps` as a whole process against a running `aos start` (the path a user's command
 *   takes: locate the server, one REST call, print the table), against `aos ps` with no server (it opens the
 *   storage itself). Wall and CPU time of the child (CPU read by a preload at exit).
 * - import-root vs previous build: when `AOS_BENCH_BASELINE_DIST` names another build's `dist/` (e.g. the
 *   previous commit's, built into a temp dir with this node_modules linked beside it), the same import of
 *   both, interleaved — before and after a change, in one run.
 * - node-floor: an empty `node -e` run, the floor under every figure here.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type BenchCase, defineBench } from '../harness.js';

const run = promisify(execFile);
const dist = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url));

/** What the 0.1 root entry imported eagerly, reproduced: its modules plus the drivers they imported. */
const EAGER_GRAPH = [
  dist('kernel/kernel.js'),
  dist('api/server.js'),
  dist('config/load.js'),
  'openai',
  '@anthropic-ai/sdk',
  'pg',
  '@electric-sql/pglite',
  '@electric-sql/pglite-pgvector',
  '@modelcontextprotocol/sdk/client/index.js',
  '@modelcontextprotocol/sdk/client/stdio.js',
  '@modelcontextprotocol/sdk/client/streamableHttp.js',
  'prom-client',
  'js-tiktoken/ranks/o200k_base',
];

interface ImportSample {
  wallMs: number;
  cpuMs: number;
}

/** One fresh process importing `specs` in order; resolves bare names from this package's node_modules. */
async function importOnce(specs: readonly string[]): Promise<ImportSample> {
  const list = JSON.stringify(specs.map((s) => (s.startsWith('/') ? `file://${s}` : s)));
  const script = `
    const specs = ${list};
    const c0 = process.cpuUsage(); const t0 = performance.now();
    for (const s of specs) await import(s);
    const wall = performance.now() - t0; const c = process.cpuUsage(c0);
    process.stdout.write(JSON.stringify({ wallMs: wall, cpuMs: (c.user + c.system) / 1000 }));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: dist('..'),
    env: { ...process.env, AOS_LOG: 'silent' },
  });
  return JSON.parse(stdout) as ImportSample;
}

async function processMs(args: readonly string[]): Promise<number> {
  const t0 = performance.now();
  await run(process.execPath, [...args], { env: { ...process.env, AOS_LOG: 'silent' } });
  return performance.now() - t0;
}

interface ProcSample {
  wallMs: number;
  cpuMs: number;
}

/** One CLI process: wall time from outside, CPU time (user + system) reported by a preload at its exit. */
async function cliOnce(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProcSample> {
  const cpuFile = join(cwd, '.cpu');
  const preload = join(cwd, '.cpu-preload.mjs');
  writeFileSync(
    preload,
    `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => { const c = process.cpuUsage(); writeFileSync(${JSON.stringify(cpuFile)}, String((c.user + c.system) / 1000)); });\n`,
  );
  const t0 = performance.now();
  await run(process.execPath, ['--import', `file://${preload}`, ...args], { cwd, env });
  const wallMs = performance.now() - t0;
  return { wallMs, cpuMs: Number(readFileSync(cpuFile, 'utf8')) };
}

/** `aos start` on memory:// in `dir` with a few finished processes; resolves its URL and a stop(). */
async function startServer(cli: string, dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [cli, 'start', '--port', '0', '--storage', 'memory://', '--no-demo'],
    {
      cwd: dir,
      env: { ...process.env, AOS_LOG: 'silent', AOS_URL: '', AOS_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /dashboard\s+(http:\/\/[^/\s]+)\//.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`aos start exited (${code}):\n${out}`)));
  });
  const token = readFileSync(join(dir, '.aos/admin.token'), 'utf8').trim();
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  for (let i = 0; i < 10; i++) {
    const body = JSON.stringify({ name: `bench-${i}`, task: `What is ${i} + 1?` });
    await fetch(`${url}/api/v1/processes`, { method: 'POST', headers, body }).then((r) => r.text());
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGINT');
    });
  return { url, stop };
}

export const startupBench = defineBench({
  name: 'startup',
  subsystem: 'packaging',
  async run(ctx) {
    const n = ctx.quick ? 5 : 15;
    const root = dist('index.js');
    const ours: ImportSample[] = [];
    const eager: ImportSample[] = [];
    ctx.log(`import('agent-os-kernel') against the 0.1 eager graph, ${n} fresh processes each, interleaved`);
    const baseDist = process.env.AOS_BENCH_BASELINE_DIST;
    const baseRoot = baseDist ? join(baseDist, 'index.js') : undefined;
    const previous: ImportSample[] = [];
    await importOnce([root]); // warm the page cache so the first sample is not a disk read
    if (baseRoot) await importOnce([baseRoot]);
    for (let i = 0; i < n; i++) {
      ours.push(await importOnce([root]));
      eager.push(await importOnce(EAGER_GRAPH));
      if (baseRoot) previous.push(await importOnce([baseRoot]));
    }
    ctx.log(`aos --help and aos ps --help, ${n} processes each`);
    const cli = dist('cli/main.js');
    const help: number[] = [];
    const one: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < n; i++) {
      help.push(await processMs([cli, '--help']));
      one.push(await processMs([cli, 'ps', '--help']));
      floor.push(await processMs(['-e', '0']));
    }
    ctx.log(`aos ps against a running aos start, and with no server (storage opened), ${n} processes each`);
    const viaServer: ProcSample[] = [];
    const direct: ProcSample[] = [];
    const serverDir = mkdtempSync(join(tmpdir(), 'aos-bench-ps-'));
    const localDir = mkdtempSync(join(tmpdir(), 'aos-bench-ps-local-'));
    const server = await startServer(cli, serverDir);
    try {
      const toServer = { ...process.env, AOS_LOG: 'silent', AOS_URL: server.url, AOS_TOKEN: '' };
      // nothing answers at this URL: the command opens the PGlite storage in localDir itself
      const noServer = { ...process.env, AOS_LOG: 'silent', AOS_URL: 'http://127.0.0.1:9', AOS_TOKEN: '' };
      await cliOnce([cli, 'ps'], serverDir, toServer);
      await cliOnce([cli, 'ps'], localDir, noServer); // creates and migrates the data dir once
      for (let i = 0; i < n; i++) {
        viaServer.push(await cliOnce([cli, 'ps'], serverDir, toServer));
        direct.push(await cliOnce([cli, 'ps'], localDir, noServer));
      }
    } finally {
      await server.stop();
      rmSync(serverDir, { recursive: true, force: true });
      rmSync(localDir, { recursive: true, force: true });
    }
    const cases: BenchCase[] = [
      {
        name: 'cli ps vs server wall',
        unit: 'ms',
        ours: { label: 'aos ps against a running aos start', samples: viaServer.map((s) => s.wallMs) },
        baseline: { label: 'aos ps with no server (opens storage)', samples: direct.map((s) => s.wallMs) },
        target: { ours: 'median < 300 ms' },
        notes:
          'whole process, node start-up included; 10 processes in the table; wall time holds machine load',
      },
      {
        name: 'cli ps vs server cpu',
        unit: 'ms',
        ours: { label: 'aos ps against a running aos start', samples: viaServer.map((s) => s.cpuMs) },
        baseline: { label: 'aos ps with no server (opens storage)', samples: direct.map((s) => s.cpuMs) },
        target: { ours: 'median < 300 ms' },
        notes:
          'user + system CPU of the same processes: what the command costs, whatever else the machine runs',
      },
      {
        name: 'import-root wall',
        unit: 'ms',
        ours: { label: "import('agent-os-kernel')", samples: ours.map((s) => s.wallMs) },
        baseline: {
          label: '0.1 root: kernel, API, every driver eagerly',
          samples: eager.map((s) => s.wallMs),
        },
        target: { ours: 'median < 150 ms' },
        notes: 'wall time of the import inside a fresh node process (node start-up excluded)',
      },
      {
        name: 'import-root cpu',
        unit: 'ms',
        ours: { label: "import('agent-os-kernel')", samples: ours.map((s) => s.cpuMs) },
        baseline: {
          label: '0.1 root: kernel, API, every driver eagerly',
          samples: eager.map((s) => s.cpuMs),
        },
        target: { ours: 'median < 150 ms' },
        notes: 'user + system CPU time of the same imports: insensitive to other load on the machine',
      },
      ...(baseDist
        ? [
            {
              name: 'import-root cpu vs previous build',
              unit: 'ms',
              ours: { label: "import('agent-os-kernel') of this build", samples: ours.map((s) => s.cpuMs) },
              baseline: {
                label: `the same import of ${baseDist}`,
                samples: previous.map((s) => s.cpuMs),
              },
              target: { ours: 'median < 150 ms' },
              notes: 'AOS_BENCH_BASELINE_DIST: before and after a change, interleaved in one run',
            },
            {
              name: 'import-root wall vs previous build',
              unit: 'ms',
              ours: { label: "import('agent-os-kernel') of this build", samples: ours.map((s) => s.wallMs) },
              baseline: {
                label: `the same import of ${baseDist}`,
                samples: previous.map((s) => s.wallMs),
              },
              target: { ours: 'median < 150 ms' },
              notes: 'wall time holds machine load; read beside the CPU case',
            } satisfies BenchCase,
          ]
        : []),
      {
        name: 'cli one command',
        unit: 'ms',
        ours: { label: 'aos ps --help (one command module)', samples: one },
        baseline: { label: 'aos --help (every command module)', samples: help },
        notes: 'whole process, node start-up included',
      },
      {
        name: 'node-floor',
        unit: 'ms',
        ours: { label: 'node -e 0', samples: floor },
        notes: 'an empty node process: subtract it from whole-process figures',
      },
    ];
    return cases;
  },
});
