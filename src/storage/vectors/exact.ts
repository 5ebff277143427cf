/**
 * Distance expressions shared by the memory and vector stores: pgvector's `<=>` (HNSW-indexable) where the
 * extension exists, else the exact SQL function over real[] created by migration 004.
 */
import { KernelError } from '../../errors.js';
import { EMBEDDING_DIM } from '../../param.js';

/** SQL for the cosine distance between `column` and parameter $n. */
export function cosineDistanceSql(pgvector: boolean, column: string, param: number): string {
  return pgvector ? `(${column} <=> $${param}::vector)` : `aos_cosine_distance(${column}, $${param}::real[])`;
}

export function checkEmbedding(v: readonly number[], what: string, dim = EMBEDDING_DIM): void {
  if (!Array.isArray(v) || v.length !== dim) {
    throw new KernelError(
      'EINVAL',
      `${what}: embedding has ${Array.isArray(v) ? v.length : 'no'} dimensions, the store holds ${dim} ` +
        '(param EMBEDDING_DIM); use an embedder with that many dimensions',
      { details: { expected: dim, got: Array.isArray(v) ? v.length : null } },
    );
  }
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new KernelError('EINVAL', `${what}: embedding holds a non-finite value (${String(x)})`);
    }
  }
}
