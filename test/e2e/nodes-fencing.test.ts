/**
 * A node whose leases run out while it runs (a loaded or paused machine: its heartbeat came late) and that
 * nobody else takes over must stop driving those processes and claim them again, never fail them: a lease
 * that ran out refuses the step's writes (the model call journal, the tool intents, the commit) with
 * EFENCED, and that is "this step is void", not "the process failed". Attacked here by expiring every
 * lease in SQL while agents run on one kernel node on the PostgreSQL server; every agent must finish with
 * its result, every step committed once, every file line written once, nothing left stuck.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AgentProgram,
  continueWith,
  createKernel,
  done,
  resolverFromProvider,
} from '../../src/index.js';
import { SimulatedProvider, workspacePath } from '../../src/testing.js';

const PG_URL = process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const STEPS = 8;
const AGENTS = 3;

const counter: AgentProgram<{ n: number }> = {
  name: 'counter',
  init: () => ({ n: 0 }),
  async step(s, sys) {
    await sys.call('llm.chat', { messages: [{ role: 'user', content: `pid ${sys.pid} count ${s.n}` }] });
    const n = s.n + 1;
    const w = await sys.call('io.tool_call', {
      id: `w${n}`,
      name: 'write_file',
      arguments: JSON.stringify({
        path: `files/agent-${sys.pid}.log`,
        content: `${sys.pid} ${n}\n`,
        append: true,
        create_dirs: true,
      }),
    });
    if (!w.ok) throw new Error(`write_file: ${w.output}`);
    return n >= STEPS ? done({ n }, n) : continueWith({ n });
  },
};

describe('a node whose leases ran out', () => {
  const schema = `aos_fence_${process.pid}_${Date.now().toString(36)}`;
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  const dir = mkdtempSync(join(tmpdir(), 'aos-fence-'));
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  it('stops driving them and claims them again: every agent finishes, no step or line twice', async () => {
    const ws = join(dir, 'ws');
    mkdirSync(ws, { recursive: true });
    const kernel = await createKernel({
      storage: url,
      config: {
        data_dir: join(dir, 'kernel'),
        storage: { lease_s: 2 },
        security: { sandbox: 'none', workspace: ws, default_policy: { ask_tools: [] } },
        learning: { enabled: false },
      },
      models: resolverFromProvider(new SimulatedProvider({ latency: { ttftMs: 60 } })),
      programs: [counter],
      plugins: false,
    });
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      // Every committed step of any agent expires every lease at once (bounded: the first 12 steps), so
      // some model calls and tool calls are in flight at the moment their lease runs out.
      let expiries = 0;
      let pending = Promise.resolve();
      kernel.hooks.on('proc.step', () => {
        if (expiries >= 12) return;
        expiries += 1;
        pending = pending.then(async () => {
          await c.query(
            `UPDATE ${schema}.processes SET lease_expires_at = now() - interval '1 second'
              WHERE state NOT IN ('terminated', 'zombie')`,
          );
        });
      });
      const pids: number[] = [];
      for (let i = 0; i < AGENTS; i++)
        pids.push(await kernel.spawn({ name: `c${i}`, task: 'count', program: 'counter' }));
      const statuses = await Promise.all(pids.map((p) => kernel.wait(p, 120_000)));
      await pending;
      expect(expiries).toBeGreaterThan(AGENTS);
      for (const [i, st] of statuses.entries()) {
        const pid = pids[i]!;
        expect(st.exitReason, `pid ${pid}`).toBeNull();
        expect(st.result, `pid ${pid}`).toBe(STEPS);
        const steps = await kernel.storage.state.listSteps(pid, { limit: 100 });
        expect(steps.map((s) => s.stepNo)).toEqual(Array.from({ length: STEPS }, (_, j) => j + 1));
        const lines = readFileSync(join(workspacePath(ws, pid), 'files', `agent-${pid}.log`), 'utf8')
          .trim()
          .split('\n');
        expect(lines, `pid ${pid} file lines`).toEqual(
          Array.from({ length: STEPS }, (_, j) => `${pid} ${j + 1}`),
        );
      }
      const { rows } = await c.query(
        `SELECT count(*)::int AS n FROM ${schema}.processes WHERE state NOT IN ('terminated', 'zombie')`,
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await c.end();
      await kernel.shutdown();
    }
  }, 180_000);
});
