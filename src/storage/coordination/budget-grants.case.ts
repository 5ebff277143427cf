/**
 * Conformance suite of the cluster-wide budget pools, run once per backend by budget-grants.test.ts:
 * nodes reserve chunks, spend moves from reserved to spent exactly once, a dead node's unspent
 * reservation comes back while what it spent stays, and the limit holds for all nodes together.
 */
import { expect, it } from 'vitest';
import { NodeStore } from '../state/nodes.js';
import type { Suite } from '../testing/backends.case.js';
import { BudgetGrantStore, spendParams, spendSql } from './budget-grants.js';

export const budgetGrantCases: Suite = (ctx) => {
  const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 8)}`;

  it('two nodes together never reserve past the limit; spend is counted once, wherever it is written', async () => {
    const pool = uniq('kernel:tokens');
    const [a, b] = [uniq('a'), uniq('b')];
    const nodes = new NodeStore(ctx().driver);
    for (const id of [a, b]) await nodes.register({ id, host: 'h', pid: 1, leaseMs: 60_000 });
    const sa = new BudgetGrantStore(ctx().driver, a);
    const sb = new BudgetGrantStore(ctx().driver, b);
    const ga = await sa.lease(pool, 1000, 300, 600);
    expect(ga).toMatchObject({ amount: 600 });
    // b may have only what is left, and not more than the limit
    expect(await sb.lease(pool, 1000, 500, 500)).toEqual({ used: 600, limit: 1000 });
    const gb = await sb.lease(pool, 1000, 300, 900);
    expect(gb).toMatchObject({ amount: 400 });
    if (!('id' in ga) || !('id' in gb)) throw new Error('leases refused');
    // a spends 250 (moved from its reservation): the pool's use does not change
    await sa.spend([{ grant: ga.id, pool, amount: 250 }]);
    const view = async () => (await sa.pools()).find((p) => p.name === pool);
    expect(await view()).toMatchObject({ limit: 1000, used: 1000, spent: 250 });
    // a statement guarded by a CTE that produced no row (a fenced journal write) spends nothing
    await ctx().driver.query(
      `WITH ins AS (SELECT 1 WHERE false), ${spendSql(1, 'ins')} SELECT 1`,
      spendParams([{ grant: ga.id, pool, amount: 100 }]),
    );
    expect((await view())?.spent).toBe(250);
    // a releases: its unspent 350 comes back, its 250 stays
    await sa.release(ga.id);
    expect(await view()).toMatchObject({ used: 650, spent: 250 });
    // spend written after the grant was folded into the pool still counts (once)
    expect(await sb.lease(pool, 1000, 1, 1)).toMatchObject({ amount: 1 }); // folds a's released grant
    await sa.spend([{ grant: ga.id, pool, amount: 10 }]);
    expect((await view())?.spent).toBe(260);
  });

  it('the limit is the pool’s, for every node: an operator’s stays until a config declares a new one', async () => {
    const pool = uniq('tenant:t:calls');
    const [a, b] = [uniq('a'), uniq('b')];
    const nodes = new NodeStore(ctx().driver);
    for (const id of [a, b]) await nodes.register({ id, host: 'h', pid: 1, leaseMs: 60_000 });
    const sa = new BudgetGrantStore(ctx().driver, a);
    const sb = new BudgetGrantStore(ctx().driver, b);
    expect(await sa.lease(pool, 2, 2, 2)).toMatchObject({ amount: 2, limit: 2 });
    expect(await sb.lease(pool, 2, 1, 1)).toEqual({ used: 2, limit: 2 });
    // raised by an operator: b, which declared 2, gets room at once; declaring 2 again changes nothing
    expect(await sa.setLimit(pool, 5, 2)).toEqual({ limit: 5, used: 2 });
    expect(await sb.lease(pool, 2, 1, 1)).toMatchObject({ amount: 1, limit: 5 });
    expect(await sb.lease(pool, null, 1, 1)).toMatchObject({ amount: 1, limit: 5 });
    // a config that declares a new number replaces it
    expect(await sa.lease(pool, 4, 1, 1)).toEqual({ used: 4, limit: 4 });
    expect((await sa.pools()).find((p) => p.name === pool)?.limit).toBe(4);
  });

  it('a dead node’s unspent reservation comes back; what it spent is kept', async () => {
    const pool = uniq('tenant:t:cost');
    const [a, b] = [uniq('a'), uniq('b')];
    const nodes = new NodeStore(ctx().driver);
    for (const id of [a, b]) await nodes.register({ id, host: 'h', pid: 1, leaseMs: 1_000 });
    const sa = new BudgetGrantStore(ctx().driver, a);
    const sb = new BudgetGrantStore(ctx().driver, b);
    const ga = await sa.lease(pool, 10, 8, 8);
    if (!('id' in ga)) throw new Error('lease refused');
    await sa.spend([{ grant: ga.id, pool, amount: 3 }]);
    expect(await sb.lease(pool, 10, 5, 5)).toEqual({ used: 8, limit: 10 });
    // a stops beating (killed): past one lease its 5 unspent come back to b, its 3 spent stay
    await ctx().driver.query("UPDATE nodes SET heartbeat_at = now() - interval '2 seconds' WHERE id = $1", [
      a,
    ]);
    expect(await sb.lease(pool, 10, 5, 7)).toMatchObject({ amount: 7 });
    expect((await sb.pools()).find((p) => p.name === pool)).toMatchObject({ used: 10, spent: 3 });
  });
};
