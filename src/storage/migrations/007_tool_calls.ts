/** Idempotency records of non-idempotent tool calls (src/io/idempotency.ts), keyed `${pid}:${step}:${call}`. */
import type { Migration } from './migration.js';

export const m007ToolCalls: Migration = {
  version: 7,
  name: 'tool_calls',
  up: () => [
    `CREATE TABLE tool_calls (
      key text PRIMARY KEY,
      pid bigint,
      tool text NOT NULL,
      args_hash text NOT NULL,
      result jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX tool_calls_pid ON tool_calls (pid)',
  ],
};
