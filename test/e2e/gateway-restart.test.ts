/**
 * A gateway session survives a kernel restart: an agent talks to a real `aos start` (a child process,
 * PGlite on disk) through the official `openai` SDK; the kernel is stopped — gracefully, then with SIGKILL —
 * and started again on the same data directory; the agent's next call of the same session continues in
 * the same process (same pid, its steps, usage and audit chain carrying on), instead of that process failing
 * at boot and the session starting over in a new one. On PGlite and on the PostgreSQL server (where each
 * start is a new cluster node that must take the dead one's session over: its lease, its audit chain).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { PG_URL, simConfig, startAos, stopAos, withPgSchema } from './aos-start.js';

/**
 * Holds the step log of the schema in `url` against inserts (a lock from another connection), so a step's
 * commit blocks while everything before it — the answer, the model-call row — goes through.
 */
async function holdStepLog(url: string) {
  const schema = new URL(url).searchParams.get('schema')!;
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query('BEGIN');
  await c.query(`LOCK TABLE ${schema}.steps IN SHARE MODE`);
  return {
    async modelCallRow(pid: number, stepNo: number) {
      for (let i = 0; i < 500; i++) {
        const r = await c.query(`SELECT 1 FROM ${schema}.llm_calls WHERE pid = $1 AND step_no = $2`, [
          pid,
          stepNo,
        ]);
        if (r.rowCount) return;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error(`no model-call row for pid ${pid} step ${stepNo}`);
    },
    async release() {
      await c.query('ROLLBACK');
      await c.end();
    },
  };
}

let sim: SimulatorHandle;
const dirs: string[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  sim = await createSimulator();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sim?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('gateway: sessions survive a kernel restart', () => {
  it('the next call of a session continues in the same process after a graceful restart and after kill -9 (PGlite)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-gw-restart-'));
    dirs.push(dir);
    await survivesRestarts(dir, `pglite://${join(dir, 'db')}`);
  }, 180_000);

  it('the same on the PostgreSQL server, where each start is a new node taking the session over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-gw-restart-pg-'));
    dirs.push(dir);
    await withPgSchema('aos_gw_restart', (url) => survivesRestarts(dir, url));
  }, 180_000);
});

async function survivesRestarts(dir: string, storage: string): Promise<void> {
  const config = simConfig(dir, sim.urlFor('openai'), { storage });
  {
    let k = await startAos(config, children);
    const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hello, remember me.' }];
    const talk = async (url: string) => {
      const c = new OpenAI({
        baseURL: `${url}/v1`,
        apiKey: admin,
        maxRetries: 0,
        defaultHeaders: { 'x-aos-session': 'long-talk' },
      });
      const r = await c.chat.completions.create({ model: 'gpt-sim', messages }).withResponse();
      messages.push(
        { role: 'assistant', content: r.data.choices[0]!.message.content ?? '' },
        { role: 'user', content: `And now question ${messages.length}.` },
      );
      return Number(r.response.headers.get('x-aos-pid'));
    };
    const proc = async (url: string, pid: number) => {
      const r = await fetch(`${url}/api/v1/processes/${pid}`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(r.status).toBe(200);
      return (await r.json()) as {
        state: string;
        stepNo: number;
        program: string;
        usage: { apiCalls: number };
        exitReason?: string;
      };
    };

    const pid = await talk(k.url);
    expect(await talk(k.url)).toBe(pid);

    await stopAos(k.child, 'SIGTERM');
    k = await startAos(config, children);
    // Recovered at boot as a gateway session, not failed for want of its program.
    const afterBoot = await proc(k.url, pid);
    expect(afterBoot.program).toBe('gateway');
    expect(['ready', 'running', 'waiting']).toContain(afterBoot.state);

    // The answer goes out before its step commits. On PGlite: kill -9 once the third call is committed. On
    // PostgreSQL: kill -9 while it is answered and not committed — the step log held by a lock, the call's
    // model-call row (written before the commit on a cluster node) in — so its step is redone with the next
    // call, and the answered call must still be charged and audited.
    const held = storage.startsWith('postgres') ? await holdStepLog(storage) : null;
    if (held) {
      expect(await talk(k.url)).toBe(pid);
      await held.modelCallRow(pid, 3);
    } else {
      expect(await talk(k.url)).toBe(pid);
      for (let i = 0; i < 500 && (await proc(k.url, pid)).stepNo < 3; i++)
        await new Promise((r) => setTimeout(r, 20));
    }
    await stopAos(k.child, 'SIGKILL');
    await held?.release();
    k = await startAos(config, children);
    expect(await talk(k.url)).toBe(pid);
    let p = await proc(k.url, pid);
    for (let i = 0; i < 500 && p.stepNo < (held ? 3 : 4); i++) {
      await new Promise((r) => setTimeout(r, 20));
      p = await proc(k.url, pid);
    }
    expect(p.usage.apiCalls).toBe(4);
    expect(['ready', 'running', 'waiting']).toContain(p.state);
    const audit = await fetch(`${k.url}/api/v1/processes/${pid}/audit`, {
      headers: { authorization: `Bearer ${admin}` },
    }).then(
      (r) =>
        r.json() as Promise<{
          items: Array<{ kind: string; payload: { recovered?: unknown } }>;
          verified?: unknown;
        }>,
    );
    const calls = audit.items.filter((e) => e.kind === 'llm.chat');
    expect(calls).toHaveLength(4);
    // The answered call whose step was lost is in the chain, marked as recovered at its step's redo.
    expect(calls.filter((e) => e.payload.recovered !== undefined)).toHaveLength(held ? 1 : 0);
    await stopAos(k.child, 'SIGTERM');
  }
}
