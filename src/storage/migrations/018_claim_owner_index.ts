/**
 * The claim's candidates by owner: unowned processes (owner_node IS NULL) and those of nodes whose
 * heartbeat stopped come straight from this index in scheduler order, instead of walking every live
 * process in that order and reading each row's lease (migration 011's processes_claim): on 10,000 live
 * processes all held by live nodes, a claim that finds nothing read 10,000 heap rows (18 ms). Leases are
 * not in the index, so a heartbeat's renewal stays a HOT update; owner_node changes only when a process
 * moves (claim, hand-back).
 */
import type { Migration } from './migration.js';

export const m018ClaimOwnerIndex: Migration = {
  version: 18,
  name: 'claim_owner_index',
  up: () => [
    `CREATE INDEX processes_owner ON processes (owner_node, priority, vruntime, pid)
       WHERE state IN ('new','ready','running','waiting','suspended')`,
  ],
};
