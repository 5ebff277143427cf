/**
 * Nodes: every kernel on a server URL registers itself (id, host, pid, started, heartbeat) and holds a
 * lease per process it runs on the process row (`lease_expires_at`, database clock; `lease_epoch` is the
 * fencing token every commit presents). Claims of ready processes go in scheduler order.
 */
import type { Migration } from './migration.js';

export const m011Nodes: Migration = {
  version: 11,
  name: 'nodes',
  up: () => [
    `CREATE TABLE nodes (
      id text PRIMARY KEY,
      host text NOT NULL,
      pid integer,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now(),
      lease_ms integer NOT NULL,
      state text NOT NULL DEFAULT 'up' CHECK (state IN ('up','left')),
      processes integer NOT NULL DEFAULT 0,
      left_at timestamptz
    )`,
    'ALTER TABLE processes ADD COLUMN lease_expires_at timestamptz',
    `CREATE INDEX processes_claim ON processes (priority, vruntime, pid)
       WHERE state IN ('new','ready','running','waiting','suspended')`,
  ],
};
