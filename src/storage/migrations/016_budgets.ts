/**
 * Budgets that hold for the whole cluster (kernel-wide and per tenant): a pool per budget whose `spent`
 * is what calls spent, for good (a budget never refills), and the chunks nodes reserve of it
 * (`budget_grants`): `reserved` is what a node may still spend of its chunk, `spent` what its calls spent
 * (moved from `reserved` in the statement that journals the call). src/storage/coordination/budget-grants.ts.
 */
import type { Migration } from './migration.js';

export const m016Budgets: Migration = {
  version: 16,
  name: 'budgets',
  up: () => [
    // The row each lease locks (the upsert), so two nodes never reserve past the limit.
    `CREATE TABLE budget_pools (
      name text PRIMARY KEY,
      lim double precision NOT NULL,
      spent double precision NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE budget_grants (
      id bigserial PRIMARY KEY,
      pool text NOT NULL,
      node text NOT NULL,
      reserved double precision NOT NULL,
      spent double precision NOT NULL DEFAULT 0,
      open boolean NOT NULL DEFAULT true,
      granted_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX budget_grants_pool ON budget_grants (pool)',
  ],
};
