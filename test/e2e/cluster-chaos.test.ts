/**
 * Multi-node chaos (bounded, loopback only): three kernel nodes as separate OS processes on the PostgreSQL
 * server (a fresh schema), 30 agents × 10 steps, each step a model call to the HTTP simulator (latency, an
 * rpm limit) and a side-effecting tool call (a write_file append). At set points of progress a random node
 * is SIGKILLed and restarted (≥ 5 times); once a node is SIGSTOPped until every process it held has been
 * taken over by the others, then SIGCONTed: it must find itself fenced and stop, writing nothing.
 * Asserted: every agent finishes with its result; step numbers contiguous and none committed twice; each
 * (pid, step) side effect exactly once; the audit chain verifies; the simulator answered no 429.
 * Progress is counted in committed steps, never in time; every wait is bounded.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { createStorage } from '../../src/storage/storage.js';
import { workspacePath } from '../../src/testing.js';
import { type NodeProc, until, withCluster } from './cluster-harness.js';

const AGENTS_PER_NODE = 10;
const STEPS = 10;
const TOTAL = 3 * AGENTS_PER_NODE * STEPS;
const LEASE_S = 2;
const RPM = 200;
/** Committed steps (all nodes) at which a random node is SIGKILLed and restarted. */
const KILL_AT = [20, 55, 90, 125, 160, 195];
const PAUSE_AT = 225;

describe('multi-node chaos', () => {
  let sim: SimulatorHandle;
  beforeAll(async () => {
    sim = await createSimulator({ latency: { ttftMs: 40 }, rateLimit: { rpm: RPM } });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('3 nodes, 30 agents × 10 steps, ≥ 5 SIGKILLs and a SIGSTOP past the lease: every effect once', async () => {
    await withCluster('chaos', async (c) => {
      const base = { leaseS: LEASE_S, simUrl: sim.urlFor('openai'), rpm: RPM };
      const live = new Map<string, NodeProc>();
      const all: NodeProc[] = [];
      const boot = async (name: string, spawn: boolean) => {
        const n = await c.start(name, {
          ...base,
          ...(spawn ? { spawn: [{ program: 'counter', n: AGENTS_PER_NODE, args: { steps: STEPS } }] } : {}),
        });
        live.set(name, n);
        all.push(n);
        return n;
      };
      for (const name of ['a', 'b', 'c']) await boot(name, true);
      const committed = () => new Set(all.flatMap((n) => n.lines.filter((l) => l.startsWith('STEP ')))).size;
      const reached = (k: number, what: string) =>
        until(`${k} committed steps (${what})`, async () => (committed() >= k ? true : undefined), 300_000);
      const db = new pg.Client({ connectionString: c.url.replace(/[?&]schema=[^&]+/, '') });
      await db.connect();
      const schema = new URL(c.url).searchParams.get('schema');
      let kills = 0;
      let takeoverSeen = 0;
      try {
        // SIGKILL a random node at set points of progress, restart it each time
        let seed = 7;
        const rand = (n: number) => {
          seed = (seed * 1103515245 + 12345) % 2 ** 31;
          return seed % n;
        };
        for (const at of KILL_AT) {
          await reached(at, `before kill ${kills + 1}`);
          const names = [...live.keys()];
          const name = names[rand(names.length)] as string;
          const victim = live.get(name)!;
          victim.child.kill('SIGKILL');
          expect((await victim.exited).signal).toBe('SIGKILL');
          kills++;
          await boot(name, false);
        }

        // SIGSTOP one node until everything it held was claimed by the others, then SIGCONT it
        await reached(PAUSE_AT, 'before the pause');
        const paused = live.get('b')!;
        const { rows } = await db.query(`SELECT id FROM ${schema}.nodes WHERE pid = $1 AND state = 'up'`, [
          paused.child.pid,
        ]);
        const pausedId = String(rows[0]?.id);
        paused.child.kill('SIGSTOP');
        const held = await until(
          'the paused node’s processes taken over',
          async () => {
            const r = await db.query(
              `SELECT count(*)::int AS n FROM ${schema}.processes
                WHERE owner_node = $1 AND state NOT IN ('terminated', 'zombie')`,
              [pausedId],
            );
            return r.rows[0].n === 0 ? true : undefined;
          },
          // Liveness, not speed: timed out at 120 s once in a full fresh-clone CI run (2 cores, every suite
          // at once; cause not found — not reproduced alone or beside chaos + cluster, 78-79 s for the whole
          // test), so the bound is generous; a takeover that never happens still fails.
          300_000,
        );
        expect(held).toBe(true);
        const linesBefore = paused.lines.length;
        paused.child.kill('SIGCONT');

        await reached(TOTAL, 'all agents');
        // the woken node committed nothing of the processes it had lost (no step line after it woke for a
        // step someone else committed — the duplicate check below covers every node's lines)
        const after = paused.lines.slice(linesBefore).filter((l) => l.startsWith('STEP '));
        takeoverSeen = after.length;
      } finally {
        await db.end();
      }
      for (const n of live.values()) n.child.kill('SIGTERM');
      for (const n of live.values()) expect((await n.exited).code, (await n.exited).stderr).toBe(0);

      // every step committed exactly once: printed once across all nodes, stored 1..STEPS
      const printed = all.flatMap((n) => n.lines.filter((l) => l.startsWith('STEP ')));
      expect(printed.length, 'a step committed twice').toBe(new Set(printed).size);
      const s = await createStorage(c.url);
      try {
        const procs = await s.state.listProcesses({ limit: 1000 });
        expect(procs).toHaveLength(30);
        for (const p of procs) {
          expect(p.state, `pid ${p.pid}: ${p.exitReason}`).toBe('terminated');
          expect(p.result, `pid ${p.pid}: ${p.exitReason}`).toBe(STEPS);
          const st = await s.state.listSteps(p.pid, { limit: 1000 });
          expect(st.map((x) => x.stepNo)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
          // the side effect of (pid, step, call 0): exactly once each
          const lines = readFileSync(join(workspacePath(c.ws, p.pid), 'files', `agent-${p.pid}.log`), 'utf8')
            .trim()
            .split('\n');
          expect(lines, `pid ${p.pid} side effects`).toEqual(
            Array.from({ length: STEPS }, (_, i) => `${p.pid} ${i + 1}`),
          );
        }
        const audit = await s.audit.verify();
        expect(audit.ok, JSON.stringify(audit).slice(0, 2000)).toBe(true);
      } finally {
        await s.close();
      }
      expect(sim.stats.rateLimited, JSON.stringify(sim.stats.errors)).toBe(0);
      expect(kills).toBeGreaterThanOrEqual(5);
      console.info(
        `cluster chaos: 3 nodes, ${kills} SIGKILLs + 1 SIGSTOP past the lease, ${TOTAL} steps checked, ` +
          `duplicates 0, side effects once each, ${sim.stats.completed} model calls, 429s ${sim.stats.rateLimited}, ` +
          `woken node's later steps ${takeoverSeen}`,
      );
    });
  }, 600_000);
});
