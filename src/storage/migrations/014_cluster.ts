/**
 * One kernel over many nodes: cluster-wide limits (a pool per provider RPM/TPM limit and per fixed slot
 * count, of which nodes lease grants), control requests for a process that runs on another node (kill,
 * suspend, resume, an approval's decision), and the approvals pending on every node.
 */
import type { Migration } from './migration.js';

export const m014Cluster: Migration = {
  version: 14,
  name: 'cluster',
  up: () => [
    // The row each lease locks (FOR UPDATE via the upsert), so two nodes never grant past the limit.
    `CREATE TABLE rate_pools (
      name text PRIMARY KEY,
      lim double precision NOT NULL,
      window_ms integer NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE rate_grants (
      id bigserial PRIMARY KEY,
      pool text NOT NULL,
      node text NOT NULL,
      amount double precision NOT NULL,
      open boolean NOT NULL DEFAULT true,
      granted_at timestamptz NOT NULL DEFAULT now(),
      released_at timestamptz
    )`,
    'CREATE INDEX rate_grants_pool ON rate_grants (pool, open, released_at)',
    `CREATE TABLE proc_controls (
      id bigserial PRIMARY KEY,
      pid integer NOT NULL,
      verb text NOT NULL CHECK (verb IN ('kill','suspend','resume','approve','deny')),
      arg jsonb NOT NULL DEFAULT '{}',
      by_node text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX proc_controls_pid ON proc_controls (pid, id)',
    `CREATE TABLE approvals_pending (
      id text PRIMARY KEY,
      pid integer NOT NULL,
      node text NOT NULL,
      tool text NOT NULL,
      args jsonb,
      reason text NOT NULL,
      idempotency_key text NOT NULL,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL
    )`,
  ],
};
