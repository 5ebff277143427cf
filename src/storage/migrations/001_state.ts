/** Process table, per-step log (unique on pid, step_no), periodic snapshots, and the shared kv table. */
import type { Migration } from './migration.js';

export const m001State: Migration = {
  version: 1,
  name: 'state',
  up: () => [
    `CREATE TABLE processes (
      pid integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      parent_pid integer,
      name text NOT NULL,
      task text NOT NULL DEFAULT '',
      priority integer NOT NULL DEFAULT 50,
      state text NOT NULL DEFAULT 'new'
        CHECK (state IN ('new','ready','running','waiting','suspended','zombie','terminated')),
      wait_on text,
      model text,
      program text NOT NULL DEFAULT 'react',
      policy jsonb NOT NULL DEFAULT '{}',
      budgets jsonb NOT NULL DEFAULT '{}',
      usage jsonb NOT NULL DEFAULT '{}',
      step_no integer NOT NULL DEFAULT 0,
      program_state jsonb,
      result jsonb,
      exit_reason text,
      checkpoint_id bigint,
      owner_node text,
      lease_epoch bigint NOT NULL DEFAULT 0,
      vruntime double precision NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX processes_runq ON processes (state, priority, vruntime)',
    'CREATE INDEX processes_parent ON processes (parent_pid)',
    `CREATE TABLE steps (
      pid integer NOT NULL REFERENCES processes (pid) ON DELETE CASCADE,
      step_no integer NOT NULL,
      kind text NOT NULL,
      record jsonb NOT NULL DEFAULT '{}',
      usage jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (pid, step_no)
    )`,
    `CREATE TABLE snapshots (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      pid integer NOT NULL REFERENCES processes (pid) ON DELETE CASCADE,
      step_no integer NOT NULL,
      program_state jsonb,
      process jsonb NOT NULL,
      reason text NOT NULL CHECK (reason IN ('periodic','checkpoint','exit')),
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX snapshots_pid ON snapshots (pid, id DESC)',
    `CREATE TABLE kv (
      ns text NOT NULL,
      key text NOT NULL,
      version bigint NOT NULL,
      value jsonb,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (ns, key)
    )`,
  ],
};
