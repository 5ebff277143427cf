/**
 * Cluster-wide limits on the database clock: a pool per limit (`rate_pools`, the row a lease locks) and
 * the grants nodes lease of it (`rate_grants`). What a pool has in use is the sum of
 *   - open grants at their full amount, while their node's heartbeat is under one lease (+ one window,
 *     for windowed pools: a call a dead node sent just before dying still counts at the provider), and
 *   - released grants at what they spent, for one window after their release.
 * A lease grants min(want, limit − in use) when that covers `need`; otherwise it says when to ask again
 * (the earliest moment a released grant leaves the window). The scheduler's side is
 * src/scheduler/shared-quota.ts.
 */
import { GRANT_GC_MS, GRANT_RETRY_OPEN_MS } from '../../param.js';
import type { StorageDriver } from '../driver.js';
import { num } from '../sql.js';

type Row = Record<string, unknown>;

export class RateGrantStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly node: string,
  ) {}

  async lease(
    pool: string,
    limit: number,
    windowMs: number,
    need: number,
    want: number,
  ): Promise<{ id: number; amount: number } | { retryInMs: number }> {
    return this.driver.transaction(async (q) => {
      await q.query(
        `INSERT INTO rate_pools (name, lim, window_ms) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET lim = EXCLUDED.lim, window_ms = EXCLUDED.window_ms, updated_at = now()`,
        [pool, limit, windowMs],
      );
      const { rows } = await q.query<Row>(
        `SELECT COALESCE(sum(g.amount), 0) AS used,
           EXTRACT(EPOCH FROM (min(g.released_at) FILTER (WHERE NOT g.open)
             + $2::integer * interval '1 millisecond' - now())) * 1000 AS frees_in_ms
         FROM rate_grants g LEFT JOIN nodes n ON n.id = g.node
         WHERE g.pool = $1 AND (
           (g.open AND (n.id IS NULL OR n.heartbeat_at + (n.lease_ms + $2::integer) * interval '1 millisecond' > now()))
           OR (NOT g.open AND g.released_at + $2::integer * interval '1 millisecond' > now()))`,
        [pool, windowMs],
      );
      const used = num(rows[0]?.used ?? 0);
      const free = limit - used;
      // A call bigger than the whole limit goes alone, into an empty pool (the local limiter's rule too).
      const amount = need <= free + 1e-9 ? Math.min(want, free) : used === 0 ? need : 0;
      if (amount <= 0 || amount + 1e-9 < need) {
        const frees = rows[0]?.frees_in_ms;
        return { retryInMs: frees === null || frees === undefined ? GRANT_RETRY_OPEN_MS : num(frees) };
      }
      const ins = await q.query<Row>(
        'INSERT INTO rate_grants (pool, node, amount) VALUES ($1, $2, $3) RETURNING id',
        [pool, this.node, amount],
      );
      // Rows that can no longer count: released grants out of the window, open ones of long-dead nodes.
      await q.query(
        `DELETE FROM rate_grants g WHERE g.pool = $1 AND (
           (NOT g.open AND g.released_at < now() - ($2::integer + $3::integer) * interval '1 millisecond')
           OR (g.open AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = g.node
                 AND n.heartbeat_at > now() - ($2::integer + $3::integer) * interval '1 millisecond')))`,
        [pool, windowMs, GRANT_GC_MS],
      );
      return { id: num(ins.rows[0]?.id), amount };
    });
  }

  async release(id: number, spent: number): Promise<void> {
    await this.driver.query(
      'UPDATE rate_grants SET open = false, amount = $2, released_at = now() WHERE id = $1',
      [id, spent],
    );
  }

  /** Every pool: its limit and what is in use now (for `aos nodes` and the API). */
  async pools(): Promise<Array<{ name: string; limit: number; windowMs: number; used: number }>> {
    const { rows } = await this.driver.query<Row>(
      `SELECT p.name, p.lim, p.window_ms, COALESCE((SELECT sum(g.amount) FROM rate_grants g
           LEFT JOIN nodes n ON n.id = g.node WHERE g.pool = p.name AND (
             (g.open AND (n.id IS NULL OR n.heartbeat_at + (n.lease_ms + p.window_ms) * interval '1 millisecond' > now()))
             OR (NOT g.open AND g.released_at + p.window_ms * interval '1 millisecond' > now()))), 0) AS used
       FROM rate_pools p ORDER BY p.name`,
    );
    return rows.map((r) => ({
      name: String(r.name),
      limit: num(r.lim),
      windowMs: num(r.window_ms),
      used: num(r.used),
    }));
  }
}
