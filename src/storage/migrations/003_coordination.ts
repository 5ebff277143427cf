/** Named leases with epochs (fencing tokens), a work queue claimed with SKIP LOCKED, and a mailbox. */
import type { Migration } from './migration.js';

export const m003Coordination: Migration = {
  version: 3,
  name: 'coordination',
  up: () => [
    `CREATE TABLE leases (
      name text PRIMARY KEY,
      holder text NOT NULL,
      epoch bigint NOT NULL,
      expires_at timestamptz NOT NULL,
      acquired_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE queue_items (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      queue text NOT NULL,
      payload jsonb NOT NULL DEFAULT '{}',
      priority integer NOT NULL DEFAULT 0,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','claimed','done','failed')),
      attempts integer NOT NULL DEFAULT 0,
      claimed_by text,
      claimed_at timestamptz,
      available_at timestamptz NOT NULL DEFAULT now(),
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX queue_items_ready ON queue_items (queue, priority, id) WHERE state = 'pending'`,
    `CREATE TABLE mailbox (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      sender text NOT NULL,
      recipient text NOT NULL,
      topic text,
      body jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz
    )`,
    'CREATE INDEX mailbox_inbox ON mailbox (recipient, id) WHERE delivered_at IS NULL',
  ],
};
