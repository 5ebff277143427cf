/**
 * A budget's limit lives on its pool row, for every node (`budget_pools.lim`): nodes read it at every
 * lease instead of each using the number in its own config, so an operator who raises (or lowers) a
 * budget — `POST /api/v1/budgets/{pool}/limit`, or a config changed on the node that restarts with it — changes
 * it for running nodes at their next lease, with no restart. `cfg_lim` is the limit a config last
 * declared: a node writes its config's number only when it differs (the config changed), so a node that
 * restarts with the same config leaves an operator's change alone.
 */
import type { Migration } from './migration.js';

export const m019BudgetLimits: Migration = {
  version: 19,
  name: 'budget_limits',
  up: () => [
    'ALTER TABLE budget_pools ADD COLUMN cfg_lim double precision',
    'UPDATE budget_pools SET cfg_lim = lim',
  ],
};
