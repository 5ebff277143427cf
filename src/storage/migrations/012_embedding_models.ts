/**
 * Every memory's vector names the model that made it (`embedding_model`), and the column takes any
 * dimension, so a configured provider's 1536-dimensional vectors and the lexical hashing embedder's 256
 * live side by side and are never compared with each other. Where pgvector exists each model gets its own
 * partial HNSW index over `embedding::vector(D)` (created when the model first writes, named by
 * ../memory/vector-index.ts; the hashing model's is created here). Rows written before this migration were
 * made by the default embedder, `hashing-v1-256`. Literals only: an applied migration never changes.
 */
import type { Migration } from './migration.js';

export const m012EmbeddingModels: Migration = {
  version: 12,
  name: 'embedding_models',
  up: (caps) => [
    'ALTER TABLE memories ADD COLUMN embedding_model text',
    `UPDATE memories SET embedding_model = 'hashing-v1-256' WHERE embedding IS NOT NULL`,
    'CREATE INDEX memories_embedding_model ON memories (owner, embedding_model)',
    ...(caps.vector
      ? [
          'DROP INDEX memories_embedding',
          'ALTER TABLE memories ALTER COLUMN embedding TYPE vector',
          "SET LOCAL maintenance_work_mem = '256MB'", // the HNSW graph of 100k rows builds in memory
          `CREATE INDEX memories_emb_1610dfd8c780 ON memories USING hnsw ((embedding::vector(256)) vector_cosine_ops)
             WHERE embedding_model = 'hashing-v1-256'`,
        ]
      : []),
  ],
};
