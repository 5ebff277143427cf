/**
 * Budgets on the database, shared by every node (kernel-wide and per-tenant budgets, DESIGN §6): a pool
 * per budget (`budget_pools`, the row a lease locks) and the chunks nodes reserve of it (`budget_grants`).
 * What a pool has used is
 *   pool.spent (folded grants) + Σ grant.spent (every grant, for good) + Σ grant.reserved (open grants of
 *   this node and of nodes whose heartbeat is under one lease).
 * A call's spend moves from its grant's `reserved` to its `spent` in the statement that journals the call
 * (spendSql, used by src/kernel/call-journal.ts), so a crash never loses it and nothing counts it twice;
 * a dead node's unspent reservation stops counting once its heartbeat is a lease old. Grants that can no
 * longer be written (released, or of a node dead past GRANT_GC_MS, whose journal writes are fenced) are
 * folded into pool.spent. The node's side is src/scheduler/shared-budget.ts.
 */
import { GRANT_GC_MS } from '../../param.js';
import type { StorageDriver } from '../driver.js';
import { num } from '../sql.js';

type Row = Record<string, unknown>;

/** One call's spend on one grant (and the pool it belongs to, should the grant be gone). */
export interface BudgetSpend {
  grant: number;
  pool: string;
  amount: number;
}

/** A grant's unspent reservation counts while its node is alive: this node, or a heartbeat under a lease. */
const LIVE = `(g.node = $SELF OR EXISTS (SELECT 1 FROM nodes n WHERE n.id = g.node
  AND n.heartbeat_at + n.lease_ms * interval '1 millisecond' > now()))`;

const used = (self: string) => `p.spent + COALESCE((SELECT sum(g.spent + CASE WHEN g.open AND
  ${LIVE.replace('$SELF', self)} THEN g.reserved ELSE 0 END) FROM budget_grants g WHERE g.pool = p.name), 0)`;

/**
 * Moves each call's spend from its grant's reservation to its spent; a grant already folded (its node was
 * taken for dead) adds to the pool instead. `$ids`, `$pools`, `$amounts` are parameters at `first`.., and
 * the statement runs only if `guard` (a CTE name) produced a row. Returns CTE text to prefix a statement.
 */
export function spendSql(first: number, guard: string | null): string {
  const [ids, pools, amounts] = [`$${first}::bigint[]`, `$${first + 1}::text[]`, `$${first + 2}::float8[]`];
  const when = guard ? `AND EXISTS (SELECT 1 FROM ${guard})` : '';
  return `spend AS (SELECT * FROM unnest(${ids}, ${pools}, ${amounts}) AS v(id, pool, x)),
  spent_g AS (UPDATE budget_grants g SET spent = g.spent + s.x, reserved = greatest(0, g.reserved - s.x)
    FROM spend s WHERE g.id = s.id ${when} RETURNING g.id),
  spent_p AS (UPDATE budget_pools p SET spent = p.spent + s.x FROM spend s
    WHERE p.name = s.pool AND s.id NOT IN (SELECT id FROM spent_g) ${when} RETURNING 1)`;
}

export function spendParams(items: readonly BudgetSpend[]): [number[], string[], number[]] {
  return [items.map((s) => s.grant), items.map((s) => s.pool), items.map((s) => s.amount)];
}

export class BudgetGrantStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly node: string,
  ) {}

  /**
   * Reserves min(want, free) of `pool` (at least `need`), or says what is used of its limit. The limit is
   * the pool row's (migration 019), the same for every node: `declared` is this node's config number, which
   * creates the pool, and replaces its limit only when the config changed since a config last declared it
   * (`cfg_lim`); an operator's limit (setLimit) stays until then. Both answers carry the limit in force.
   */
  async lease(
    pool: string,
    declared: number | null,
    need: number,
    want: number,
  ): Promise<{ id: number; amount: number; limit: number } | { used: number; limit: number }> {
    return this.driver.transaction(async (q) => {
      if (declared !== null)
        await q.query(
          `INSERT INTO budget_pools AS p (name, lim, cfg_lim) VALUES ($1, $2, $2)
           ON CONFLICT (name) DO UPDATE SET lim = EXCLUDED.lim, cfg_lim = EXCLUDED.cfg_lim, updated_at = now()
             WHERE p.cfg_lim IS DISTINCT FROM EXCLUDED.cfg_lim`,
          [pool, declared],
        );
      // Grants nobody writes any more go into the pool's own counter.
      await q.query(
        `WITH f AS (DELETE FROM budget_grants g WHERE g.pool = $1 AND (NOT g.open OR (g.node <> $2
           AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = g.node
             AND n.heartbeat_at + (n.lease_ms + $3::integer) * interval '1 millisecond' > now())))
           RETURNING g.spent)
         UPDATE budget_pools SET spent = spent + (SELECT COALESCE(sum(spent), 0) FROM f) WHERE name = $1`,
        [pool, this.node, GRANT_GC_MS],
      );
      // The pool row is locked for the rest of the transaction: two nodes never reserve past the limit.
      const { rows } = await q.query<Row>(
        `SELECT p.lim, ${used('$2')} AS used FROM budget_pools p WHERE p.name = $1 FOR UPDATE`,
        [pool, this.node],
      );
      if (!rows[0]) return { used: 0, limit: 0 };
      const limit = num(rows[0].lim);
      const inUse = num(rows[0].used ?? 0);
      const free = limit - inUse;
      if (need > free + 1e-9) return { used: inUse, limit };
      const amount = Math.min(Math.max(want, need), free);
      const ins = await q.query<Row>(
        'INSERT INTO budget_grants (pool, node, reserved) VALUES ($1, $2, $3) RETURNING id',
        [pool, this.node, amount],
      );
      return { id: num(ins.rows[0]?.id), amount, limit };
    });
  }

  /**
   * An operator's limit for `pool`, for every node from its next lease on (a process paused on the budget
   * retries within BUDGET_RETRY_MS). `declared` is the config's number, recorded when the pool is new so
   * the first lease does not take it for a config change. Returns the pool's use and its new limit.
   */
  async setLimit(pool: string, limit: number, declared: number): Promise<{ limit: number; used: number }> {
    const { rows } = await this.driver.query<Row>(
      `WITH up AS (INSERT INTO budget_pools AS p (name, lim, cfg_lim) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET lim = EXCLUDED.lim, updated_at = now() RETURNING p.*)
       SELECT p.lim, ${used('$4')} AS used FROM up p`,
      [pool, limit, declared, this.node],
    );
    return { limit: num(rows[0]?.lim), used: num(rows[0]?.used ?? 0) };
  }

  /** The node gives the grant's unspent part back (its calls finished). */
  async release(id: number): Promise<void> {
    await this.driver.query('UPDATE budget_grants SET open = false WHERE id = $1', [id]);
  }

  /** Spend not journaled with a model call (embeddings, internal calls outside a step). */
  async spend(items: readonly BudgetSpend[]): Promise<void> {
    if (items.length === 0) return;
    await this.driver.query(`WITH ${spendSql(1, null)} SELECT 1`, spendParams(items));
  }

  /** Every budget: its limit, what is used (spent + live reservations) and what was spent, cluster-wide. */
  async pools(): Promise<Array<{ name: string; limit: number; used: number; spent: number }>> {
    const { rows } = await this.driver.query<Row>(
      `SELECT p.name, p.lim, ${used('$1')} AS used,
         p.spent + COALESCE((SELECT sum(g.spent) FROM budget_grants g WHERE g.pool = p.name), 0) AS spent
       FROM budget_pools p ORDER BY p.name`,
      [this.node],
    );
    return rows.map((r) => ({
      name: String(r.name),
      limit: num(r.lim),
      used: num(r.used),
      spent: num(r.spent),
    }));
  }
}
