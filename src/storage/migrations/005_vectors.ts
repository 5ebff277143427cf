/** Generic vector collections (id, collection, embedding, payload). */
import { EMBEDDING_DIM } from '../../param.js';
import { embeddingColumn, hnswIndex, type Migration } from './migration.js';

export const m005Vectors: Migration = {
  version: 5,
  name: 'vectors',
  up: (caps) => [
    `CREATE TABLE vector_items (
      collection text NOT NULL,
      id text NOT NULL,
      embedding ${embeddingColumn(caps, EMBEDDING_DIM)} NOT NULL,
      payload jsonb NOT NULL DEFAULT '{}',
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (collection, id)
    )`,
    ...hnswIndex(caps, 'vector_items_embedding', 'vector_items'),
  ],
};
