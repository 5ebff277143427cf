/**
 * Storage outages park, not kill: a kernel on PostgreSQL loses its database mid-run for real — every
 * backend of its role terminated with pg_terminate_backend (in-flight queries fail with 57P01) and new
 * connections refused (the role's CONNECTION LIMIT 0: 53300) — and its agents wait in
 * `waiting(storage)` instead of failing; once the database takes connections again they resume from their
 * last committed step and all answer correctly, each step committed once. Only this test's own role is cut
 * off: other tests on the same server are untouched. No timing assumptions: the test waits for states.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { pgUnreachableReason } from '../../src/storage/testing/backends.case.js';
import { type OutageRole, outageRole } from './pg-outage.js';

const TASKS: Array<[string, string]> = [
  ['What is 17 * 23?', '391'],
  ['What is 41 + 59?', '100'],
  ['What is 1000 - 1?', '999'],
  ['What is 12 * 12?', '144'],
];
const unreachable = await pgUnreachableReason();

describe.skipIf(unreachable !== null)(
  `a lost database parks agents, it does not fail them${unreachable ? ` (skipped: ${unreachable})` : ''}`,
  () => {
    let db: OutageRole;
    let sim: SimulatorHandle;
    let k: Kernel | undefined;

    beforeAll(async () => {
      db = await outageRole('aos_outage');
      sim = await createSimulator({ latency: { ttftMs: 30, perTokenMs: 0 } });
    });

    afterAll(async () => {
      await k?.shutdown().catch(() => undefined);
      await sim?.close();
      await db?.drop([db.role]);
    });

    it('agents wait in waiting(storage) while the database is gone and all answer once it is back', async () => {
      const kernel = await createKernel({
        storage: db.url(db.role),
        config: {
          default_model: 'gpt-4o',
          llms: {
            models: [{ name: 'gpt-4o', provider: 'openai', base_url: sim.urlFor('openai'), api_key: 'sk-x' }],
          },
          security: { sandbox: 'none' },
          server: { demo_agents: false },
        },
        plugins: false,
      });
      k = kernel;
      const parked = new Set<number>();
      const stepped = new Set<number>();
      let outage = false;
      const allParked = new Promise<void>((resolve) => {
        kernel.hooks.on('proc.state', (e) => {
          if (e.to === 'waiting' && e.waitOn?.startsWith('storage')) parked.add(e.pid);
          if (parked.size >= 1 && outage) resolve();
        });
      });
      const firstSteps = new Promise<void>((resolve) => {
        kernel.hooks.on('proc.step', (e) => {
          stepped.add(e.pid);
          if (stepped.size >= TASKS.length) resolve();
        });
      });
      const pids = await Promise.all(TASKS.map(([task], i) => kernel.spawn({ name: `calc-${i}`, task })));

      // The outage: new connections refused, every open one terminated (in-flight queries fail with 57P01).
      await firstSteps;
      await db.cut();
      outage = true;
      await allParked;
      await db.restore();
      const results = await Promise.all(pids.map((p) => kernel.wait(p, 120_000)));
      for (const [i, r] of results.entries()) {
        expect(r.exitReason ?? null, `pid ${pids[i]}: ${JSON.stringify(r)}`).toBeNull();
        expect(String(r.result)).toContain(TASKS[i]![1]);
      }
      expect(parked.size).toBeGreaterThanOrEqual(1);
      // every step committed once, contiguous from 1
      const rows = await db.admin.query(
        `SELECT pid, array_agg(step_no ORDER BY step_no) AS steps FROM ${db.role}.steps GROUP BY pid`,
      );
      for (const r of rows.rows as Array<{ pid: number; steps: number[] }>) {
        expect(r.steps.map(Number)).toEqual(r.steps.map((_, i) => i + 1));
      }
    }, 180_000);
  },
);
