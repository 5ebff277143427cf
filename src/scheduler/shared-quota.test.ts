/**
 * Cluster-wide limits on the real PostgreSQL server: several nodes' SharedQuotas leasing from one pool
 * never hold more than the limit together (windowed: what was spent stays counted for the window; slots:
 * units come back when their call finishes), and a node that is idle gives its share back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../param.js';
import { RateGrantStore } from '../storage/coordination/rate-grants.js';
import type { StorageDriver } from '../storage/driver.js';
import { NodeStore } from '../storage/state/nodes.js';
import { openTestPostgres, pgUnreachableReason } from '../storage/testing/backends.case.js';
import { SharedQuota } from './shared-quota.js';

const unreachable = await pgUnreachableReason();

describe.skipIf(unreachable !== null && !process.env.CI)(
  `shared quotas on PostgreSQL${unreachable ? ` (skipped: ${unreachable})` : ''}`,
  () => {
    let db: { driver: StorageDriver; drop(): Promise<void> };
    beforeAll(async () => {
      db = await openTestPostgres();
      const nodes = new NodeStore(db.driver);
      for (const id of ['n1', 'n2', 'n3']) await nodes.register({ id, host: 'h', pid: 1, leaseMs: 5_000 });
    });
    afterAll(async () => {
      await db?.drop();
    });

    /** Takes `amount` as soon as the quota grants it (the way the scheduler is pumped by onChange). */
    function taker(q: { quota: SharedQuota | null; wake: () => void }) {
      return (amount: number) =>
        new Promise<ReturnType<SharedQuota['take']>>((resolve) => {
          const tryTake = () => {
            if (q.quota!.canTake(amount)) {
              q.wake = () => {}; // taken once: a later onChange must not take again for this call
              resolve(q.quota!.take(amount));
            } else q.wake = tryTake;
          };
          tryTake();
        });
    }

    function node(id: string, pool: string, limit: number, windowMs: number) {
      const q: { quota: SharedQuota | null; wake: () => void } = { quota: null, wake: () => {} };
      q.quota = new SharedQuota(pool, limit, windowMs, new RateGrantStore(db.driver, id), () => q.wake());
      return { quota: q.quota, take: taker(q) };
    }

    it('three nodes take no more than a windowed limit together; the rest waits for the window', async () => {
      const nodes = ['n1', 'n2', 'n3'].map((id) => node(id, 'test.rpm', 20, 60_000));
      const taken: number[] = [0, 0, 0];
      // each node tries to take 15 calls (45 > 20): only 20 can be had within the window
      const attempts = nodes.map((n, i) =>
        (async () => {
          for (let k = 0; k < 15; k++) {
            const h = await n.take(1);
            taken[i] = (taken[i] as number) + 1;
            n.quota.settle(h, 1);
          }
        })(),
      );
      const sum = () => taken.reduce((a, b) => a + b, 0);
      for (let i = 0; i < 600 && sum() < 20; i++) await new Promise((r) => setTimeout(r, 100));
      expect(sum()).toBe(20);
      // grants are released and leased again meanwhile; within the window nothing more is granted
      await new Promise((r) => setTimeout(r, 3 * P.GRANT_HOLD_MS));
      expect(sum()).toBe(20);
      const pool = (await new RateGrantStore(db.driver, 'n1').pools()).find((p) => p.name === 'test.rpm');
      expect(pool?.used).toBe(20);
      for (const n of nodes) await n.quota.close();
      void attempts; // the rest waits for the window; nothing more is granted within it
    });

    it('close() waits for every release, including those a settle started, and a lease landing after close goes back', async () => {
      const a = node('n1', 'test.close', 10, 60_000);
      const h = await a.take(1); // a grant of 1 (2 % of 10, at least the call)
      a.quota.settle(h, 1); // spent: sealed, its release starts here and is not awaited
      const late = node('n2', 'test.close', 10, 60_000);
      expect(late.quota.canTake(1)).toBe(false); // starts a lease…
      await late.quota.close(); // …that lands after close
      await a.quota.close();
      await new Promise((r) => setTimeout(r, 300));
      const { rows } = await db.driver.query<{ node: string; open: boolean }>(
        "SELECT node, open FROM rate_grants WHERE pool = 'test.close' ORDER BY id",
      );
      expect(rows.filter((r) => r.open)).toEqual([]);
    });

    it('slots (no window): a unit comes back when its call finishes; idle nodes give their share back', async () => {
      const [a, b] = [node('n1', 'test.slots', 2, 0), node('n2', 'test.slots', 2, 0)];
      const h1 = await a.take(1);
      const h2 = await b.take(1);
      let third = false;
      const later = a.take(1).then((h) => {
        third = true;
        return h;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(third).toBe(false); // 2 of 2 held by the two nodes
      b.quota.settle(h2, 0);
      // b's grant goes back once it is sealed (held GRANT_HOLD_MS) and idle; then a gets the unit
      const h3 = await later;
      expect(third).toBe(true);
      a.quota.settle(h1, 0);
      a.quota.settle(h3, 0);
      await a.quota.close();
      await b.quota.close();
      const pool = (await new RateGrantStore(db.driver, 'n1').pools()).find((p) => p.name === 'test.slots');
      expect(pool?.used).toBe(0);
    });
  },
);
