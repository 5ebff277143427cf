/**
 * What a migration is: a version, a name, and the statements it runs for a given backend. Statements are
 * embedded in TypeScript (nothing to copy next to dist/). A migration receives the driver's capabilities so
 * one migration can say `vector(N)` where pgvector exists and `real[]` where it does not.
 */
import type { StorageCapabilities } from '../driver.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  up(caps: Pick<StorageCapabilities, 'vector'>): string[];
}

/** Column type of an embedding: pgvector's fixed-dimension vector, or a plain float array (exact search). */
export function embeddingColumn(caps: Pick<StorageCapabilities, 'vector'>, dim: number): string {
  return caps.vector ? `vector(${dim})` : 'real[]';
}

/** HNSW cosine index where pgvector exists; nothing otherwise (search falls back to an exact scan). */
export function hnswIndex(caps: Pick<StorageCapabilities, 'vector'>, name: string, table: string): string[] {
  return caps.vector ? [`CREATE INDEX ${name} ON ${table} USING hnsw (embedding vector_cosine_ops)`] : [];
}
