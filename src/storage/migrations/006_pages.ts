/** Swapped-out context pages (the context manager's swap space; its store class lives in src/context). */
import { EMBEDDING_DIM } from '../../param.js';
import { embeddingColumn, hnswIndex, type Migration } from './migration.js';

export const m006Pages: Migration = {
  version: 6,
  name: 'pages',
  up: (caps) => [
    `CREATE TABLE context_pages (
      pid integer NOT NULL,
      page_id text NOT NULL,
      kind text NOT NULL,
      content text NOT NULL,
      summary text NOT NULL DEFAULT '',
      tokens integer NOT NULL DEFAULT 0,
      importance real NOT NULL DEFAULT 0,
      embedding ${embeddingColumn(caps, EMBEDDING_DIM)},
      meta jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (pid, page_id)
    )`,
    ...hnswIndex(caps, 'context_pages_embedding', 'context_pages'),
  ],
};
