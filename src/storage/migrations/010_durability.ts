/**
 * Exactly-once effects and restore: tool calls get an intent row written before the effect (result NULL
 * until it is known); a call journal keeps every model response and its spend the moment it arrives; mail
 * remembers the step that consumed it (so a restore can hand it back); a process remembers the snapshot it
 * was restored from.
 */
import type { Migration } from './migration.js';

export const m010Durability: Migration = {
  version: 10,
  name: 'durability',
  up: () => [
    "ALTER TABLE tool_calls ADD COLUMN state text NOT NULL DEFAULT 'done' CHECK (state IN ('intent','done'))",
    'ALTER TABLE tool_calls ADD COLUMN step_no integer',
    'ALTER TABLE tool_calls ADD COLUMN call_index integer',
    'ALTER TABLE tool_calls ADD COLUMN plan jsonb',
    'ALTER TABLE tool_calls ADD COLUMN attempts integer NOT NULL DEFAULT 1',
    'ALTER TABLE tool_calls ALTER COLUMN result DROP NOT NULL',
    'CREATE INDEX tool_calls_step ON tool_calls (pid, step_no)',
    `CREATE TABLE llm_calls (
      pid integer NOT NULL,
      step_no integer NOT NULL,
      call_index integer NOT NULL,
      attempt integer NOT NULL DEFAULT 1,
      request_hash text NOT NULL,
      model text NOT NULL,
      response jsonb,
      usage jsonb NOT NULL DEFAULT '{}',
      cost double precision NOT NULL DEFAULT 0,
      rerun boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (pid, step_no, call_index, attempt)
    )`,
    'ALTER TABLE mailbox ADD COLUMN delivered_step integer',
    'ALTER TABLE processes ADD COLUMN restored_from bigint',
  ],
};
