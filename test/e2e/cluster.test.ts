/**
 * One kernel to the user, and limits that hold for the whole cluster — two or three kernel nodes as
 * separate OS processes on one PostgreSQL schema, driven over their HTTP APIs:
 * - an approval asked by a process on node B is listed and approved through node A, and the process
 *   goes on to finish its step (it used to stay at step 0); meanwhile A shows it waiting(approval) and
 *   counts the approval in its summary (it showed B's last commit and counted only its own approvals); node A's event stream shows node B's steps;
 *   suspend, resume and kill through node A reach the process on node B; `GET /nodes` on A lists both.
 * - three nodes against the simulator's rpm limit never make it answer 429 (each node's own limiter
 *   allowed the full limit: three nodes made three times the limit), and the limit is used.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { createStorage } from '../../src/storage/storage.js';
import { workspacePath } from '../../src/testing.js';
import { adminToken, PG_URL, until, withCluster } from './cluster-harness.js';

async function api(base: string, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe('one kernel over two nodes', () => {
  it('approve, suspend, resume and kill through node A reach the process on node B; A streams B’s events', async () => {
    await withCluster('cluster', async (c) => {
      const a = await c.start('a', { leaseS: 3, api: true });
      const b = await c.start('b', {
        leaseS: 3,
        api: true,
        spawn: [
          { program: 'asker', policy: { ask_tools: ['write_file'] } },
          { program: 'counter', args: { steps: 100_000 } },
        ],
      });
      const token = adminToken(c, 'a');
      const asker = Number(b.lines.find((l) => l.startsWith('SPAWNED asker'))!.split(' ')[2]);
      const counter = Number(b.lines.find((l) => l.startsWith('SPAWNED counter'))!.split(' ')[2]);

      // node A lists both nodes
      const nodes = await api(a.url, token, 'GET', '/api/v1/nodes');
      expect(nodes.status).toBe(200);
      expect(nodes.body.clustered).toBe(true);
      expect(nodes.body.items.filter((n: { alive: boolean }) => n.alive)).toHaveLength(2);

      // A's event stream shows the steps of B's counter
      const ctl = new AbortController();
      const sse = await fetch(`${a.url}/api/v1/events?pid=${counter}&types=proc.step`, {
        headers: { authorization: `Bearer ${token}` },
        signal: ctl.signal,
      });
      const reader = sse.body!.getReader();
      let seen = '';
      await until('a proc.step event of node B’s process on node A’s stream', async () => {
        const { value } = await reader.read();
        seen += new TextDecoder().decode(value);
        return /event: proc\.step[\s\S]*"stepNo"/.test(seen) ? true : undefined;
      });
      ctl.abort();
      expect(seen).toContain(`"pid":${counter}`);

      // the approval B's process waits on, listed and approved through A
      const pending = await until('the approval on node A’s list', async () => {
        const r = await api(a.url, token, 'GET', '/api/v1/approvals');
        return r.body.items.find((x: { pid: number }) => x.pid === asker);
      });
      expect(pending.tool).toBe('write_file');
      // A shows the process as B has it: waiting on that approval (it showed its last commit, `ready`),
      // and counts the approval in its summary (it counted its own only: 0)
      const seenOnA = await api(a.url, token, 'GET', `/api/v1/processes/${asker}`);
      expect(seenOnA.body.state, JSON.stringify(seenOnA.body)).toBe('waiting');
      expect(seenOnA.body.waitOn).toBe(`approval:${pending.id}`);
      const summary = await api(a.url, token, 'GET', '/api/v1/metrics/summary');
      expect(summary.body.pendingApprovals).toBe(1);
      expect(summary.body.processes.byState.waiting).toBeGreaterThanOrEqual(1);
      const decided = await api(a.url, token, 'POST', `/api/v1/approvals/${pending.id}/approve`, {});
      expect(decided.status, JSON.stringify(decided.body)).toBe(200);
      const finished = await until('the approved process to finish', async () => {
        const r = await api(a.url, token, 'GET', `/api/v1/processes/${asker}`);
        return r.body.state === 'terminated' ? r.body : undefined;
      });
      expect(finished.result).toBe('written');
      expect(finished.stepNo).toBe(1);
      expect(readFileSync(join(workspacePath(c.ws, asker), 'files', `agent-${asker}.log`), 'utf8')).toBe(
        `${asker} 1\n`,
      );

      // suspend through A: the process on B parks; resume through A: it steps on; kill through A
      expect((await api(a.url, token, 'POST', `/api/v1/processes/${counter}/suspend`)).status).toBe(200);
      const parked = await until('the counter suspended', async () => {
        const r = await api(a.url, token, 'GET', `/api/v1/processes/${counter}`);
        return r.body.state === 'suspended' ? r.body : undefined;
      });
      // its lease runs out while it is suspended (a late heartbeat on a loaded machine) and the resume is
      // sent at once: whichever incarnation takes the request — the one losing the lease, or the one that
      // claims the process next (it starts parked) — the resume is not lost
      const sql = new pg.Client({ connectionString: PG_URL });
      await sql.connect();
      const schema = new URL(c.url).searchParams.get('schema');
      const before = await sql.query(`SELECT lease_epoch FROM ${schema}.processes WHERE pid = $1`, [counter]);
      await sql.query(
        `UPDATE ${schema}.processes SET lease_expires_at = now() - interval '1 second' WHERE pid = $1`,
        [counter],
      );
      expect((await api(a.url, token, 'POST', `/api/v1/processes/${counter}/resume`)).status).toBe(200);
      await until('the suspended process claimed again', async () => {
        const r = await sql.query(`SELECT lease_epoch FROM ${schema}.processes WHERE pid = $1`, [counter]);
        return Number(r.rows[0].lease_epoch) > Number(before.rows[0].lease_epoch) ? true : undefined;
      });
      await sql.end();
      await until('the counter stepping again', async () => {
        const r = await api(a.url, token, 'GET', `/api/v1/processes/${counter}`);
        return r.body.state !== 'suspended' && r.body.stepNo > parked.stepNo ? true : undefined;
      });
      const killed = await api(a.url, token, 'POST', `/api/v1/processes/${counter}/kill`, {
        reason: 'stop it from node A',
      });
      expect(killed.status, JSON.stringify(killed.body)).toBe(200);
      expect(killed.body.state).toBe('terminated');
      expect(killed.body.exitReason).toContain('stop it from node A');
      // every committed step was printed once, on whichever node ran it
      expect([...a.lines, ...b.lines].filter((l) => l.startsWith(`STEP ${counter} `)).length).toBeGreaterThan(
        parked.stepNo,
      );
      // no step committed twice
      const s = await createStorage(c.url);
      try {
        const steps = (await s.state.listSteps(counter, { limit: 100_000 })).map((x) => x.stepNo);
        expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
      } finally {
        await s.close();
      }
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      expect((await a.exited).code).toBe(0);
      expect((await b.exited).code).toBe(0);
    });
  }, 300_000);
});

describe('cluster-wide provider limits', () => {
  let sim: SimulatorHandle;
  const arrivals: number[] = [];
  const RPM = 60;
  beforeAll(async () => {
    // the simulator's clock is read once per request's rate check: it doubles as the arrival log
    sim = await createSimulator({
      latency: { ttftMs: 30 },
      rateLimit: { rpm: RPM },
      now: () => {
        const t = Date.now();
        arrivals.push(t);
        return t;
      },
    });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('three nodes never exceed the provider’s rpm (zero 429s) and use it', async () => {
    await withCluster('limits', async (c) => {
      const per = { program: 'counter' as const, n: 3, args: { steps: 10 } };
      const o = { leaseS: 5, simUrl: sim.urlFor('openai'), rpm: RPM, spawn: [per] };
      const nodes = await Promise.all(['a', 'b', 'c'].map((n) => c.start(n, o)));
      const total = 3 * 3 * 10; // 90 calls: 1.5× the limit
      await until(
        'every step committed',
        async () => {
          const s = nodes.reduce((n, x) => n + x.lines.filter((l) => l.startsWith('STEP ')).length, 0);
          return s >= total ? true : undefined;
        },
        280_000,
      );
      for (const n of nodes) n.child.kill('SIGTERM');
      for (const n of nodes) expect((await n.exited).code).toBe(0);
      expect(sim.stats.rateLimited, JSON.stringify(sim.stats.errors)).toBe(0);
      expect(sim.stats.completed).toBe(total);
      // the limit was the bound: the busiest minute held (nearly) the whole limit
      let best = 0;
      for (let i = 0, j = 0; i < arrivals.length; i++) {
        while ((arrivals[i] as number) - (arrivals[j] as number) >= 60_000) j++;
        best = Math.max(best, i - j + 1);
      }
      expect(best).toBeLessThanOrEqual(RPM);
      expect(best).toBeGreaterThanOrEqual(RPM * 0.8);
      console.info(`cluster limits: 3 nodes, ${total} calls, rpm ${RPM}, busiest minute ${best}, 429s 0`);
    });
  }, 300_000);
});
