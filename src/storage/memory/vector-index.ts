/**
 * The per-model partial HNSW index of memories (pgvector only): one index per embedding model over
 * `embedding::vector(D)`, restricted to that model's rows, so the planner can use it for a query that names
 * the model and casts to the same dimension (./memory-store.ts builds those queries with the same helpers).
 */
import { HNSW_MAX_DIM } from '../../param.js';
import { sha256Hex } from '../../util/canonical.js';

export { HNSW_MAX_DIM };

/** A SQL string literal (model ids come from config; quotes doubled, so any id is safe). */
export function sqlLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

export function vectorIndexName(model: string): string {
  return `memories_emb_${sha256Hex(model).slice(0, 12)}`;
}

/** CREATE INDEX for a model's vectors, or null when HNSW cannot index that many dimensions. */
export function vectorIndexSql(model: string, dim: number): string | null {
  if (!Number.isInteger(dim) || dim < 1 || dim > HNSW_MAX_DIM) return null;
  return (
    `CREATE INDEX IF NOT EXISTS ${vectorIndexName(model)} ON memories USING hnsw ` +
    `((embedding::vector(${dim})) vector_cosine_ops) WHERE embedding_model = ${sqlLiteral(model)}`
  );
}
