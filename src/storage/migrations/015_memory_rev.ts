/**
 * A revision per memory row: drawn from a sequence on insert and again on every update (trigger), never
 * reused. The in-process copy of a scope's vectors (../memory/exact-cache.ts, servers without pgvector)
 * asks for the rows with a newer rev and compares count + sum(rev) to learn what changed since it looked.
 */
import type { Migration } from './migration.js';

export const m015MemoryRev: Migration = {
  version: 15,
  name: 'memory_rev',
  up: () => [
    'CREATE SEQUENCE memories_rev_seq',
    "ALTER TABLE memories ADD COLUMN rev bigint NOT NULL DEFAULT nextval('memories_rev_seq')",
    `CREATE FUNCTION aos_memories_rev() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.rev := nextval('memories_rev_seq'); RETURN NEW; END $$`,
    'CREATE TRIGGER memories_rev BEFORE UPDATE ON memories FOR EACH ROW EXECUTE FUNCTION aos_memories_rev()',
    'CREATE INDEX memories_scope_rev ON memories (owner, embedding_model, rev)',
  ],
};
