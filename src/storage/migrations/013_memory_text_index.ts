/**
 * The full-text index of memories without a pending list. GIN's `fastupdate` (on by default) queues new
 * entries in a pending list that every search scans linearly until VACUUM merges it; PGlite never runs
 * autovacuum, so the list grew to its 4 MB limit and each `tsv @@` lookup read all of it — 17–39 ms per
 * term at 10k memories, which made the text arm's per-term frequency counts slower than the search itself.
 * With it off, an insert updates the index in place (no slower here: the HNSW insert dominates) and a
 * lookup reads only the posting lists it needs. The existing list is merged once.
 */
import type { Migration } from './migration.js';

export const m013MemoryTextIndex: Migration = {
  version: 13,
  name: 'memory_text_index',
  up: () => [
    'ALTER INDEX memories_tsv SET (fastupdate = off)',
    "SELECT gin_clean_pending_list('memories_tsv'::regclass)",
  ],
};
