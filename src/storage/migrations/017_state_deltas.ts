/**
 * Program state as deltas (../state/delta.ts): the process row's program_state is the state as of
 * `state_step`; every step after it carries the ops that changed it in `steps.state_delta`. A row written
 * before this migration holds its whole state as of its step_no.
 */
import type { Migration } from './migration.js';

export const m017StateDeltas: Migration = {
  version: 17,
  name: 'state_deltas',
  up: () => [
    'ALTER TABLE processes ADD COLUMN state_step integer NOT NULL DEFAULT 0',
    'UPDATE processes SET state_step = step_no',
    'ALTER TABLE steps ADD COLUMN state_delta jsonb',
  ],
};
