/**
 * Kernel nodes as separate OS processes on one PostgreSQL schema (test/e2e/fixtures/cluster-node.mjs),
 * for the cluster tests: start, watch their output, signal them, and a fresh schema per test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createStorage } from '../../src/storage/storage.js';

const CHILD = new URL('./fixtures/cluster-node.mjs', import.meta.url).pathname;
export const PG_URL = process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface NodeOptions {
  leaseS: number;
  simUrl?: string;
  rpm?: number;
  api?: boolean;
  spawn?: Array<{ program: 'counter' | 'asker'; n?: number; args?: unknown; policy?: unknown }>;
}

export interface NodeProc {
  name: string;
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** Resolves once `pred` holds for a printed line (bounded by `ms`). */
  seen(pred: (l: string) => boolean, ms?: number): Promise<string>;
  /** The API URL it printed with READY ('' without API). */
  url: string;
}

export interface Cluster {
  url: string;
  ws: string;
  dir: string;
  start(name: string, o: NodeOptions): Promise<NodeProc>;
}

export async function withCluster(prefix: string, fn: (c: Cluster) => Promise<void>): Promise<void> {
  const schema = `aos_${prefix}_${process.pid}_${Date.now().toString(36)}`;
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  const dir = mkdtempSync(join(tmpdir(), `aos-${prefix}-`));
  const ws = join(dir, 'ws');
  mkdirSync(ws, { recursive: true });
  const nodes: NodeProc[] = [];
  try {
    // migrate once up front, so nodes do not race on a fresh schema's first boot
    await (await createStorage(url)).close();
    await fn({
      url,
      ws,
      dir,
      async start(name, o) {
        const n = startNode(name, url, ws, join(dir, `data-${name}`), o);
        nodes.push(n);
        const ready = await n.seen((l) => l.startsWith('READY'), 120_000);
        n.url = ready.slice('READY '.length).trim();
        return n;
      },
    });
  } finally {
    for (const n of nodes)
      if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    rmSync(dir, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
}

function startNode(name: string, url: string, ws: string, dataDir: string, o: NodeOptions): NodeProc {
  const child = spawn(process.execPath, [CHILD, JSON.stringify({ url, ws, dataDir, ...o })], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AOS_LOG: 'error' },
  });
  const lines: string[] = [];
  const watchers: Array<{ pred: (l: string) => boolean; resolve: (l: string) => void }> = [];
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
        if (w.pred(line)) w.resolve(line);
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
    name,
    child,
    lines,
    exited,
    url: '',
    seen(pred, ms = 180_000) {
      const hit = lines.find(pred);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise<string>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`node ${name}: no such line within ${ms} ms; stderr: ${err.slice(-2000)}`)),
          ms,
        );
        watchers.push({
          pred,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}

/** The admin token a node's API wrote on first start (tokens live in the shared database). */
export function adminToken(c: Cluster, node: string): string {
  return readFileSync(join(c.dir, `data-${node}`, 'admin.token'), 'utf8').trim();
}

/** Polls `fn` until it returns a value (not undefined), at most `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
