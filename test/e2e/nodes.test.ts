/**
 * Nodes: kernels as separate OS processes on one PostgreSQL schema. Two nodes cooperate (each process
 * runs on one node, every step commits once, every wait() returns, on either node); a node killed with
 * SIGKILL loses its leases after one lease period and the other node finishes its processes from their
 * last committed step, with no step and no file line written twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStorage } from '../../src/storage/storage.js';
import { workspacePath } from '../../src/testing.js';

const CHILD = new URL('./fixtures/node-child.mjs', import.meta.url).pathname;
const PG_URL = process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const LEASE_S = 2;

interface Node {
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** Resolves once `pred` holds for a printed line. */
  seen(pred: (l: string) => boolean): Promise<void>;
}

function startNode(
  url: string,
  ws: string,
  o: { spawn: number; steps: number; total: number; latencyMs: number },
): Node {
  const child = spawn(
    process.execPath,
    [CHILD, url, ws, String(o.spawn), String(o.steps), String(LEASE_S), String(o.latencyMs), String(o.total)],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AOS_LOG: 'error' } },
  );
  const lines: string[] = [];
  const watchers: Array<{ pred: (l: string) => boolean; resolve: () => void }> = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
      lines.push(line);
      for (const w of watchers.splice(0)) {
        if (w.pred(line)) w.resolve();
        else watchers.push(w);
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal, stderr: err.slice(-4000) })),
  );
  return {
    child,
    lines,
    exited,
    seen: (pred) =>
      lines.some(pred) ? Promise.resolve() : new Promise<void>((resolve) => watchers.push({ pred, resolve })),
  };
}

const steps = (n: Node) => n.lines.filter((l) => l.startsWith('STEP '));
const figures = (n: Node) => {
  const l = n.lines.find((x) => x.startsWith('NODE '));
  const [, t, lost] = (l ?? 'NODE -1 -1').split(' ');
  return { takeovers: Number(t), lost: Number(lost) };
};

async function withSchema(fn: (url: string, ws: string) => Promise<void>): Promise<void> {
  const schema = `aos_nodes_${process.pid}_${Date.now().toString(36)}`;
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  const dir = mkdtempSync(join(tmpdir(), 'aos-nodes-'));
  mkdirSync(join(dir, 'ws'), { recursive: true });
  try {
    // migrate once up front, so the two nodes do not race on a fresh schema's first boot
    await (await createStorage(url)).close();
    await fn(url, join(dir, 'ws'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    const pg = await import('pg');
    const c = new pg.default.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
}

/** Every agent finished with its result, steps 1..n once each (committed and printed), file lines once. */
async function checkWorld(url: string, ws: string, nodes: Node[], agents: number, n: number) {
  const printed = nodes.flatMap(steps);
  expect(printed.length, 'a step printed twice: committed by two nodes').toBe(new Set(printed).size);
  const s = await createStorage(url);
  try {
    const procs = await s.state.listProcesses({ limit: 100 });
    expect(procs).toHaveLength(agents);
    for (const p of procs) {
      expect(p.state, `pid ${p.pid}: ${p.exitReason}`).toBe('terminated');
      expect(p.result, `pid ${p.pid}: ${p.exitReason}`).toBe(n);
      const st = await s.state.listSteps(p.pid, { limit: 1000 });
      expect(st.map((x) => x.stepNo)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      const lines = readFileSync(join(workspacePath(ws, p.pid), 'files', `agent-${p.pid}.log`), 'utf8')
        .trim()
        .split('\n');
      expect(lines, `pid ${p.pid} file lines`).toEqual(
        Array.from({ length: n }, (_, i) => `${p.pid} ${i + 1}`),
      );
    }
    return procs.length * n;
  } finally {
    await s.close();
  }
}

describe('nodes on one PostgreSQL', () => {
  afterAll(() => undefined);

  it('two kernels are two cooperating nodes: every step committed once, every wait() returns', async () => {
    await withSchema(async (url, ws) => {
      const o = { spawn: 5, steps: 6, total: 10, latencyMs: 5 };
      const a = startNode(url, ws, o);
      const b = startNode(url, ws, o);
      const [ra, rb] = await Promise.all([a.exited, b.exited]);
      expect(ra.code, ra.stderr).toBe(0);
      expect(rb.code, rb.stderr).toBe(0);
      const checked = await checkWorld(url, ws, [a, b], 10, 6);
      // each node waited on all ten processes, five of them running on the other node
      for (const n of [a, b]) {
        const waited = n.lines.filter((l) => l.startsWith('WAITED '));
        expect(waited).toHaveLength(10);
        for (const w of waited) expect(w.split(' ')[2]).toBe('6');
      }
      console.info(`nodes: 2 nodes, 10 agents, ${checked} steps checked, 0 duplicates`);
    });
  }, 240_000);

  it('a node killed with SIGKILL: the other takes its processes over from the last committed step', async () => {
    await withSchema(async (url, ws) => {
      // slow enough that node A is still mid-run when the 12th step line reaches the test (a node now loads its
      // tokenizer before it runs anything, so its first steps are fast)
      const a = startNode(url, ws, { spawn: 6, steps: 10, total: 6, latencyMs: 250 });
      await a.seen((l) => l === 'READY');
      const b = startNode(url, ws, { spawn: 0, steps: 10, total: 6, latencyMs: 5 });
      await b.seen((l) => l === 'READY');
      let n = 0;
      await a.seen((l) => l.startsWith('STEP ') && ++n >= 12);
      a.child.kill('SIGKILL');
      expect((await a.exited).signal).toBe('SIGKILL');
      const rb = await b.exited;
      expect(rb.code, rb.stderr).toBe(0);
      const checked = await checkWorld(url, ws, [a, b], 6, 10);
      const f = figures(b);
      expect(f.takeovers).toBeGreaterThanOrEqual(1);
      expect(b.lines.filter((l) => l.startsWith('WAITED ') && l.endsWith(' 10'))).toHaveLength(6);
      console.info(`nodes: 1 SIGKILL, ${f.takeovers} takeovers, ${checked} steps checked, 0 duplicates`);
    });
  }, 240_000);
});
