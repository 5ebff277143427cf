/**
 * A late node must not start a side effect after its lease lapsed. Node A stalls (its heartbeat and claims
 * frozen: a paused, GC-stalled or partitioned node) in the middle of a step; its lease runs out by the
 * database clock; node B claims the process and redoes the step. Whatever A does when it wakes, each effect
 * of the step — the model call, the line a shell command appends to a file — happens exactly once.
 * Two kernel nodes on the PostgreSQL server; every wait is for a condition (a lease that ended, a backend
 * that waits on a lock), never for a time.
 *  - the model call after the stall: before the fix A made it anyway (its journal write was refused after
 *    the call), so the model answered the same request twice;
 *  - the shell call after the stall: refused at its durable intent (database fence) before the fix too;
 *  - a stall between the intent and the effect (the intent's answer came back late: a lock wait here, a
 *    partition in the field): the intent was fenced as of its statement's start, so A ran the command
 *    after B had — two lines. A node now checks, right before the effect, that it holds the lease with a
 *    margin (tracked locally from its last renewal), renewing synchronously when the margin is short.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProgram, createKernel, done, type Kernel, resolverFromProvider } from '../../src/index.js';
import type { ModelProvider } from '../../src/llm/model.js';
import { SimulatedProvider } from '../../src/testing.js';

const PG_URL = process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Model requests by their last message, over both nodes: how often the model answered each one. */
const asked = new Map<string, number>();
function counting(inner: ModelProvider): ModelProvider {
  const note = (req: { messages: Array<{ content: unknown }> }) => {
    const last = String(req.messages[req.messages.length - 1]?.content ?? '');
    asked.set(last, (asked.get(last) ?? 0) + 1);
  };
  return {
    name: inner.name,
    model(id, opts) {
      const m = inner.model(id, opts);
      return {
        id: m.id,
        provider: m.provider,
        validate: (req) => m.validate(req),
        chat: (req) => (note(req), m.chat(req)),
        stream: (req) => (note(req), m.stream(req)),
      };
    },
  };
}

/** Where node A's program stalls, and the latch that wakes it. */
type Stall = 'before-model' | 'before-shell' | null;
let stallAt: Stall = null;
let atStall!: () => void;
let reachedStall = new Promise<void>((r) => {
  atStall = r;
});
let wake!: () => void;
let woken = new Promise<void>((r) => {
  wake = r;
});
function resetStall(at: Stall): void {
  stallAt = at;
  reachedStall = new Promise<void>((r) => {
    atStall = r;
  });
  woken = new Promise<void>((r) => {
    wake = r;
  });
}

/** One step: a model call, a second model call, a shell command appending a line; A's copy may stall. */
const program = (stalls: boolean): AgentProgram<{ n: number }> => ({
  name: 'late',
  init: () => ({ n: 0 }),
  async step(s, sys) {
    await sys.call('llm.chat', { messages: [{ role: 'user', content: `pid ${sys.pid} first` }] });
    if (stalls && stallAt === 'before-model') {
      atStall();
      await woken;
    }
    await sys.call('llm.chat', { messages: [{ role: 'user', content: `pid ${sys.pid} second` }] });
    if (stalls && stallAt === 'before-shell') {
      atStall();
      await woken;
    }
    const r = await sys.call('io.tool_call', {
      id: 'sh',
      name: 'shell',
      arguments: JSON.stringify({ command: `echo "$AOS_PID" >> effects-${sys.pid}.log` }),
    });
    if (!r.ok) throw new Error(`shell: ${r.output}`);
    return done({ n: s.n + 1 }, 'appended');
  },
});

describe('a node that stalls past its lease in the middle of a step', () => {
  const schema = `aos_late_${process.pid}_${Date.now().toString(36)}`;
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  const dir = mkdtempSync(join(tmpdir(), 'aos-late-'));
  const ws = join(dir, 'ws');
  let a: Kernel;
  let b: Kernel | null = null;
  let c: pg.Client;

  // A's lease is short (it runs out while A stalls); B's is long, so B keeps what it claims however loaded
  // the machine is (a late heartbeat of B's own would make B lose the process mid-step).
  const node = (name: string, stalls: boolean) =>
    createKernel({
      storage: url,
      config: {
        data_dir: join(dir, name),
        storage: { lease_s: stalls ? 2 : 60 },
        security: {
          sandbox: 'none',
          workspace: ws,
          shared_workspace: true,
          default_policy: { ask_tools: [] },
        },
        learning: { enabled: false },
        server: { demo_agents: false },
      },
      models: resolverFromProvider(counting(new SimulatedProvider({ latency: { ttftMs: 0 } }))),
      programs: [program(stalls) as never],
      plugins: false,
    });

  beforeAll(async () => {
    mkdirSync(ws, { recursive: true });
    c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
  });
  afterAll(async () => {
    await a?.shutdown().catch(() => undefined);
    await b?.shutdown().catch(() => undefined);
    await c?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c?.end();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A stalls as a whole: no heartbeat renews its leases, no claim of its own takes them back. */
  const freeze = (k: Kernel) => {
    const n = k.node as unknown as { beat: () => Promise<void>; claim: () => Promise<void> };
    n.beat = () => Promise.resolve();
    n.claim = () => Promise.resolve();
  };
  const until = async (what: string, pred: () => Promise<boolean>) => {
    for (let i = 0; i < 1200; i++) {
      if (await pred()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`never: ${what}`);
  };
  /** The lease A holds on `pid` has ended by the database clock (and the claim grace has passed). */
  const leaseOver = (pid: number) =>
    until(`pid ${pid}'s lease ended`, async () => {
      const { rows } = await c.query(
        `SELECT COALESCE(lease_expires_at, updated_at + interval '2 seconds') < now() - interval '600 ms' AS over
           FROM ${schema}.processes WHERE pid = $1`,
        [pid],
      );
      return rows[0]?.over === true;
    });
  const lines = (pid: number) => {
    try {
      return readFileSync(join(ws, `effects-${pid}.log`), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean);
    } catch {
      return [];
    }
  };
  /** B (started now, or already up) takes the process over and finishes it. */
  const finishOnB = async (pid: number) => {
    b ??= await node('b', false);
    await until(`B claimed pid ${pid}`, async () => {
      await b!.node!.claim();
      return b!.procs.get(pid) !== undefined;
    });
    const st = await b.wait(pid, 60_000);
    expect(st.exitReason).toBeNull();
    expect(st.result).toBe('appended');
    const steps = await b.storage.state.listSteps(pid, { limit: 10 });
    expect(steps.map((s) => s.stepNo)).toEqual([1]);
  };
  /** A woke up fenced: it dropped the process without failing it. */
  const droppedByA = async (pid: number, loop: Promise<void> | null) => {
    await loop;
    expect(a.procs.get(pid), 'A dropped it').toBeUndefined();
  };

  it('a model call after the stall: the model answers the request once, the line is appended once', async () => {
    resetStall('before-model');
    a = await node('a', true);
    const pid = await a.spawn({ name: 'm', task: 'late model call', program: 'late' });
    await reachedStall;
    const loop = a.procs.get(pid)!.loop;
    freeze(a);
    await leaseOver(pid);
    wake();
    await droppedByA(pid, loop);
    await finishOnB(pid);
    expect(asked.get(`pid ${pid} first`), 'first request').toBe(1); // A's answer, replayed by B
    expect(asked.get(`pid ${pid} second`), 'second request').toBe(1);
    expect(lines(pid)).toEqual([String(pid)]);
  }, 120_000);

  it('a shell call after the stall: the line is appended once', async () => {
    await a?.shutdown();
    resetStall('before-shell');
    a = await node('a2', true);
    const pid = await a.spawn({ name: 's', task: 'late shell call', program: 'late' });
    await reachedStall;
    const loop = a.procs.get(pid)!.loop;
    freeze(a);
    await leaseOver(pid);
    wake();
    await droppedByA(pid, loop);
    await finishOnB(pid);
    expect(lines(pid)).toEqual([String(pid)]);
    // B was told nothing about an interrupted call: A never recorded an intent it did not act on.
    const { rows } = await c.query(`SELECT attempts FROM ${schema}.tool_calls WHERE pid = $1`, [pid]);
    expect(rows.map((r) => Number(r.attempts))).toEqual([1]);
  }, 120_000);

  it('a stall between the call’s intent and its effect: the line is appended once', async () => {
    await a?.shutdown();
    resetStall(null);
    // The first intent written holds its transaction open until the test lets it go (advisory lock 7117):
    // the answer to A's intent write comes back late, after its lease ended and B took the process over.
    a = await node('a3', true);
    await c.query(`CREATE TABLE IF NOT EXISTS ${schema}.stall_once (x int)`);
    await c.query(`INSERT INTO ${schema}.stall_once VALUES (1)`);
    await c.query(
      `CREATE OR REPLACE FUNCTION ${schema}.stall_intent() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE n int;
       BEGIN
         WITH d AS (DELETE FROM ${schema}.stall_once RETURNING 1) SELECT count(*) INTO n FROM d;
         IF n > 0 THEN
           PERFORM pg_advisory_xact_lock(7117);
         END IF;
         RETURN NEW;
       END $$`,
    );
    await c.query(`SELECT pg_advisory_lock(7117)`);
    await c.query(
      `CREATE TRIGGER stall_intent BEFORE INSERT ON ${schema}.tool_calls
         FOR EACH ROW EXECUTE FUNCTION ${schema}.stall_intent()`,
    );
    const waiting = async (n: number) =>
      Number(
        (
          await c.query(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type IN ('Lock', 'Advisory')
               AND query ILIKE '%tool_calls%'`,
          )
        ).rows[0].n,
      ) >= n;
    try {
      const pid = await a.spawn({ name: 'w', task: 'late effect', program: 'late' });
      await until("A's intent write waits", () => waiting(1));
      const loop = a.procs.get(pid)!.loop;
      freeze(a);
      await leaseOver(pid);
      b ??= await node('b', false);
      await until(`B claimed pid ${pid}`, async () => {
        await b!.node!.claim();
        return b!.procs.get(pid) !== undefined;
      });
      // B has looked the call up (nothing committed) and waits behind A's intent: A's answer comes first.
      await until("B's intent write waits behind A's", () => waiting(2));
      await c.query(`SELECT pg_advisory_unlock(7117)`);
      await droppedByA(pid, loop);
      await finishOnB(pid);
      expect(lines(pid)).toEqual([String(pid)]);
    } finally {
      await c.query(`SELECT pg_advisory_unlock_all()`);
    }
  }, 120_000);
});
