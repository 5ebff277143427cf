/**
 * A process parked on a node — suspended, or waiting out a provider outage — when that node loses its
 * lease (paused past it, or its heartbeat came late) must stop there: the new owner runs it, and the old
 * loop neither waits forever nor writes anything. Two kernel nodes on the PostgreSQL server; the lease is
 * taken from node A in SQL and node B claims the process; A's heartbeat (driven by the test, never by a
 * clock) then finds it lost. Asserted: A's loop ends, the process finishes on B with its result, its row
 * stays as B left it (an unfenced write of A's revived a process B had finished), each step once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProgram, continueWith, createKernel, done, type Kernel } from '../../src/index.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';

const PG_URL = process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const STEPS = 2;

const caller: AgentProgram<{ n: number }> = {
  name: 'caller',
  init: () => ({ n: 0 }),
  async step(s, sys) {
    await sys.call('llm.chat', { messages: [{ role: 'user', content: `pid ${sys.pid} step ${s.n}` }] });
    const n = s.n + 1;
    return n >= STEPS ? done({ n }, `finished after ${n}`) : continueWith({ n });
  },
};

/** Its first step waits for the test (so a suspend requested meanwhile parks it right after that step). */
let release!: () => void;
const gate = new Promise<void>((r) => {
  release = r;
});
const held: AgentProgram<{ n: number }> = {
  name: 'held',
  init: () => ({ n: 0 }),
  async step(s) {
    if (s.n === 0) await gate;
    const n = s.n + 1;
    return n >= STEPS ? done({ n }, `finished after ${n}`) : continueWith({ n });
  },
};

/** Resolves with 'stopped' once the loop returns, 'hung' if it has not within `ms` (a generous bound). */
function settles(loop: Promise<void> | null, ms = 20_000): Promise<'stopped' | 'hung'> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    (loop ?? Promise.resolve()).then(() => 'stopped' as const),
    new Promise<'hung'>((r) => {
      t = setTimeout(() => r('hung'), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

describe('a parked process whose node lost its lease', () => {
  const schema = `aos_parked_${process.pid}_${Date.now().toString(36)}`;
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  const dir = mkdtempSync(join(tmpdir(), 'aos-parked-'));
  let down: SimulatorHandle;
  let up: SimulatorHandle;
  let a: Kernel;
  let b: Kernel;
  let c: pg.Client;

  const node = (name: string, sim: SimulatorHandle) =>
    createKernel({
      storage: url,
      config: {
        data_dir: join(dir, name),
        // Long lease: heartbeats and claims come from the test (node.beat(), node.claim()), not a clock.
        storage: { lease_s: 120 },
        security: { sandbox: 'none', workspace: join(dir, 'ws') },
        learning: { enabled: false },
        default_model: 'gpt-sim',
        llms: {
          models: [{ name: 'gpt-sim', provider: 'openai', base_url: sim.urlFor('openai'), api_key: 'sk-x' }],
          retry: { max_retries: 0, base_ms: 5, max_ms: 20 },
        },
        // A parked process stays parked until woken (resume, kill, a lost lease), not by its timer.
        scheduler: { provider_retry_base_ms: 600_000, provider_retry_max_ms: 600_000 },
        server: { demo_agents: false },
      },
      programs: [caller as never, held as never],
      plugins: false,
    });

  beforeAll(async () => {
    down = await createSimulator({ latency: { ttftMs: 0, perTokenMs: 0 } });
    down.engine.outage({ status: 500 }); // node A's provider is down for the whole test
    up = await createSimulator({ latency: { ttftMs: 0, perTokenMs: 0 } });
    a = await node('a', down);
    b = await node('b', up);
    c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
  });
  afterAll(async () => {
    await a?.shutdown();
    await b?.shutdown();
    await c?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c?.end();
    await down?.close();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const rowOf = async (pid: number) =>
    (await c.query(`SELECT state, owner_node, wait_on FROM ${schema}.processes WHERE pid = $1`, [pid]))
      .rows[0] as { state: string; owner_node: string | null; wait_on: string | null };
  const until = async (pid: number, pred: (r: { state: string; wait_on: string | null }) => boolean) => {
    for (let i = 0; i < 600; i++) {
      if (pred(await rowOf(pid))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`pid ${pid} never reached the state: ${JSON.stringify(await rowOf(pid))}`);
  };
  /**
   * Node A's lease on the process runs out (SQL: a pause past it — its heartbeat is as old, so B's claim
   * counts A as a node whose heartbeat stopped) and B claims it.
   */
  const claimOnB = async (pid: number) => {
    await c.query(
      `UPDATE ${schema}.processes SET lease_expires_at = now() - interval '10 seconds' WHERE pid = $1`,
      [pid],
    );
    await c.query(`UPDATE ${schema}.nodes SET heartbeat_at = now() - interval '10 minutes' WHERE id = $1`, [
      a.nodeId,
    ]);
    await b.node!.claim();
    expect(b.procs.get(pid), 'B claimed it').toBeDefined();
  };
  /** A's next heartbeat finds the lease gone: A drops the process. */
  const lostOnA = async (pid: number) => {
    const lostBefore = a.node!.lost;
    await a.node!.beat();
    expect(a.node!.lost).toBe(lostBefore + 1);
    expect(a.procs.get(pid), 'A dropped it').toBeUndefined();
  };

  it('suspended on A: A’s parked loop stops, B resumes it and it finishes there', async () => {
    const pid = await a.spawn({ name: 'sleeper', task: 'park', program: 'held' });
    await a.suspend(pid);
    release();
    await until(pid, (r) => r.state === 'suspended');
    const loopA = a.procs.get(pid)!.loop;
    await claimOnB(pid);
    await lostOnA(pid);
    expect(await settles(loopA), 'A’s parked loop').toBe('stopped');
    await b.resume(pid);
    const st = await b.wait(pid, 60_000);
    expect(st.exitReason).toBeNull();
    expect(st.result).toBe(`finished after ${STEPS}`);
    const steps = await b.storage.state.listSteps(pid, { limit: 100 });
    expect(steps.map((s) => s.stepNo)).toEqual([1, 2]);
  }, 120_000);

  it('waiting out a provider outage on A: B finishes it, and A writes nothing over B’s row', async () => {
    const pid = await a.spawn({ name: 'parked', task: 'outage', program: 'caller' });
    await until(pid, (r) => r.state === 'waiting' && (r.wait_on ?? '').startsWith('provider:'));
    const loopA = a.procs.get(pid)!.loop;
    await claimOnB(pid);
    // B adopts the stored wait; resume wakes it early (its provider is up) and it runs to the end, before
    // A (paused, say) has noticed anything.
    await b.resume(pid);
    const st = await b.wait(pid, 60_000);
    expect(st.result).toBe(`finished after ${STEPS}`);
    await lostOnA(pid);
    expect(await settles(loopA), 'A’s parked loop').toBe('stopped');
    // Before the fix A's wait ended with an unfenced 'ready' (and ran the step again): a finished process
    // came back to life in storage, claimable by any node.
    const row = await rowOf(pid);
    expect(row.state).toBe('terminated');
    expect((await b.storage.state.listSteps(pid, { limit: 100 })).map((s) => s.stepNo)).toEqual([1, 2]);
    expect(up.stats.completed).toBeGreaterThanOrEqual(STEPS);
  }, 120_000);
});
