/**
 * kill -9 between a model's answer and its step's commit costs no second model call: a real `aos start`
 * (a child process) runs the built-in ReAct agent against the simulator over HTTP; the model answers with a
 * shell tool call whose command announces itself and then blocks, and the test SIGKILLs the kernel while
 * the tool runs — the answer has arrived, the step has not committed. The restarted kernel redoes the
 * step: the journal (llm_calls, keyed by the request hash) replays the answer, the provider sees no
 * repeat of that request, the non-idempotent shell command does not run twice, and the task's answer
 * comes out. Counted at the provider (the simulator's request log), on PGlite and on PostgreSQL.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimRequest } from '../../src/llm/simulated/scenario.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { simConfig, startAos, stopAos, withPgSchema } from './aos-start.js';

const ANSWER = 'The answer is 391.';

interface Proc {
  pid: number;
  state: string;
  result?: unknown;
  exitReason?: string;
  usage: { apiCalls: number };
}

let sim: SimulatorHandle;
/** Every request the provider received: the last message's role and content, in arrival order. */
const seen: string[] = [];
const children: ChildProcess[] = [];
const dirs: string[] = [];
/** The blocking shell commands still alive after their kernel was killed (sandbox none: they outlive it). */
const orphans: number[] = [];

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  // Liveness, not speed: generous, and it names what it waited for.
  for (let i = 0; i < 1200; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function run(storage: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'aos-step-replay-'));
  dirs.push(dir);
  const marker = join(dir, 'shell-ran');
  const config = simConfig(dir, sim.urlFor('openai'), {
    storage,
    security: [
      'security:',
      '  sandbox: none',
      `  workspace: ${join(dir, 'ws')}`,
      '  default_policy: { ask_tools: [], max_wall_seconds: 600 }',
    ],
  });
  const before = seen.length;
  let k = await startAos(config, children);
  const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  const api = (url: string, path: string, body?: unknown) =>
    fetch(`${url}/api/v1${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Proc }));

  const spawned = await api(k.url, '/processes', {
    name: 'replay',
    task: `What is 17 * 23? marker=${marker}`,
  });
  expect(spawned.status).toBe(201);
  const pid = spawned.body.pid;

  // The shell command runs: the model's answer is in, the step has not committed. Kill the kernel now.
  const shellPid = await until('the shell tool to start', () =>
    existsSync(marker) ? Number(readFileSync(marker, 'utf8').trim().split('\n')[0]) || undefined : undefined,
  );
  orphans.push(shellPid);
  await stopAos(k.child, 'SIGKILL');
  try {
    process.kill(shellPid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  expect(seen.slice(before)).toEqual(['user']);

  k = await startAos(config, children);
  const done = await until('the restarted agent to finish', async () => {
    const p = await api(k.url, `/processes/${pid}`);
    return p.body.state === 'terminated' || p.body.state === 'failed' ? p.body : undefined;
  });
  expect(done.state, JSON.stringify(done)).toBe('terminated');
  expect(String(done.result)).toContain('391');
  // Two distinct requests reached the provider — the tool call and the final answer; the redone step's
  // request was answered from the journal.
  expect(seen.slice(before)).toEqual(['user', 'tool']);
  expect(done.usage.apiCalls).toBe(2);
  // The non-idempotent command ran once: the redo reported its outcome as unknown instead of re-running it.
  expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(1);
  await stopAos(k.child, 'SIGTERM');
}

beforeAll(async () => {
  sim = await createSimulator({
    latency: { ttftMs: 0, perTokenMs: 0 },
    scenario: (req: SimRequest) => {
      const last = req.messages[req.messages.length - 1]!;
      seen.push(last.role);
      if (last.role === 'tool') return { text: ANSWER };
      const marker = /marker=(\S+)/.exec(typeof last.content === 'string' ? last.content : '')?.[1];
      return {
        toolCalls: [{ name: 'shell', arguments: { command: `echo $$ >> ${marker}; exec sleep 120` } }],
      };
    },
  });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const p of orphans) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await sim?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a step redone after kill -9 replays its model answer from the journal', () => {
  it('on PGlite: the provider sees each request once, the shell runs once, the task is answered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-step-replay-db-'));
    dirs.push(dir);
    await run(`pglite://${join(dir, 'db')}`);
  }, 180_000);

  it('on PostgreSQL: the same', async () => {
    await withPgSchema('aos_step_replay', run);
  }, 180_000);
});
