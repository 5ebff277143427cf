/**
 * Start-up bench: what a process pays before it does anything. Each sample is a fresh `node` child that
 * imports one thing and reports the import's wall time and CPU time (CPU time is what the import costs; the
 * wall time also holds whatever else the machine is doing, so read both when it is shared).
 * - import-root: `import('agent-os-kernel')` (dist/index.js) against the eager graph the 0.1 root loaded —
 *   the kernel, the HTTP server and every driver and SDK at import time.
 * - cli-help: `aos --help` as a whole process (all command modules registered), against `aos ps --help`,
 *   which loads one command's module — the path a command takes.
 * - node-floor: an empty `node -e` run, the floor under every figure here.
 */
import { execFile } from 'node:child_process';
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

export const startupBench = defineBench({
  name: 'startup',
  subsystem: 'packaging',
  async run(ctx) {
    const n = ctx.quick ? 5 : 15;
    const root = dist('index.js');
    const ours: ImportSample[] = [];
    const eager: ImportSample[] = [];
    ctx.log(`import('agent-os-kernel') against the 0.1 eager graph, ${n} fresh processes each, interleaved`);
    await importOnce([root]); // warm the page cache so the first sample is not a disk read
    for (let i = 0; i < n; i++) {
      ours.push(await importOnce([root]));
      eager.push(await importOnce(EAGER_GRAPH));
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
    const cases: BenchCase[] = [
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
