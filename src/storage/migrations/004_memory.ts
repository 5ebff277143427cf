/**
 * Long-term memories with an embedding and a generated tsvector (hybrid search), plus the exact cosine
 * distance function the real[] fallback uses where pgvector is missing.
 */
import { EMBEDDING_DIM } from '../../param.js';
import { embeddingColumn, hnswIndex, type Migration } from './migration.js';

export const m004Memory: Migration = {
  version: 4,
  name: 'memory',
  up: (caps) => [
    `CREATE FUNCTION aos_cosine_distance(a real[], b real[]) RETURNS double precision
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
      SELECT 1 - sum(x * y) / nullif(sqrt(sum(x * x)) * sqrt(sum(y * y)), 0)
      FROM unnest(a, b) AS t(x, y)
    $$`,
    `CREATE TABLE memories (
      id text PRIMARY KEY,
      owner text NOT NULL,
      namespace text NOT NULL DEFAULT 'default',
      content text NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}',
      embedding ${embeddingColumn(caps, EMBEDDING_DIM)},
      tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX memories_owner ON memories (owner, namespace, created_at)',
    'CREATE INDEX memories_tsv ON memories USING gin (tsv)',
    ...hnswIndex(caps, 'memories_embedding', 'memories'),
  ],
};
