/**
 * The vectors role: named collections of (id, embedding, payload). Where pgvector exists, search is an
 * HNSW cosine index scan. Where it does not, search is an exact top-k over real[] — computed in SQL (the
 * default: only k rows cross the wire) or in JS (every candidate's vector is fetched; see the bench) — and
 * the store says so once in the log.
 */

import { KernelError } from '../../errors.js';
import { EMBEDDING_DIM, SQL_INSERT_BATCH_ROWS as UPSERT_BATCH } from '../../param.js';
import { cosine } from '../../util/embedder.js';
import { logger } from '../../util/log.js';
import { jsonbText } from '../../util/storable.js';
import type { Queryable, StorageDriver } from '../driver.js';
import { num, parseVector, vectorParam } from '../sql.js';
import { checkEmbedding, cosineDistanceSql } from './exact.js';

const log = logger('storage.vectors');

export interface VectorItem {
  id: string;
  embedding: readonly number[];
  payload?: Record<string, unknown>;
}

export interface VectorHit {
  id: string;
  /** Cosine distance (0 = same direction, 2 = opposite). */
  distance: number;
  payload: Record<string, unknown>;
}

/** How exact search runs without pgvector: in SQL over real[], or by fetching vectors into JS. */
export type ExactStrategy = 'sql' | 'js';

type Row = Record<string, unknown>;

export class VectorStore {
  readonly mode: 'hnsw' | `exact-${ExactStrategy}`;

  constructor(
    private readonly driver: StorageDriver,
    opts: { exact?: ExactStrategy } = {},
  ) {
    this.mode = driver.capabilities.vector ? 'hnsw' : `exact-${opts.exact ?? 'sql'}`;
    if (!driver.capabilities.vector) {
      log.warnOnce(
        'vectors-exact',
        `pgvector is not installed on ${driver.location}: vector search falls back to an exact top-k scan ` +
          '(correct, but linear in the collection size). Install pgvector (CREATE EXTENSION vector) for HNSW.',
      );
    }
  }

  async upsert(collection: string, items: readonly VectorItem[], tx?: Queryable): Promise<number> {
    if (!collection) throw new KernelError('EINVAL', 'vector upsert needs a collection name');
    const pgv = this.driver.capabilities.vector;
    let n = 0;
    for (let at = 0; at < items.length; at += UPSERT_BATCH) {
      const batch = items.slice(at, at + UPSERT_BATCH);
      const params: unknown[] = [collection];
      const values = batch.map((it) => {
        if (!it.id)
          throw new KernelError('EINVAL', `vector upsert into ${collection}: every item needs an id`);
        checkEmbedding(it.embedding, `vector ${collection}/${it.id}`);
        params.push(it.id, vectorParam(it.embedding, pgv), jsonbText(it.payload ?? {}));
        const k = params.length;
        return `($1, $${k - 2}, $${k - 1}::${pgv ? 'vector' : 'real[]'}, $${k}::jsonb)`;
      });
      const r = await (tx ?? this.driver).query(
        `INSERT INTO vector_items (collection, id, embedding, payload) VALUES ${values.join(', ')}
         ON CONFLICT (collection, id) DO UPDATE
           SET embedding = EXCLUDED.embedding, payload = EXCLUDED.payload, updated_at = now()`,
        params,
      );
      n += r.rowCount;
    }
    return n;
  }

  /** Top-k nearest by cosine distance; filter keeps items whose payload contains it (jsonb @>). */
  async search(
    collection: string,
    vector: readonly number[],
    k: number,
    filter?: Record<string, unknown>,
  ): Promise<VectorHit[]> {
    checkEmbedding(vector, `vector search in ${collection}`);
    if (!Number.isInteger(k) || k < 1 || k > 1000) {
      throw new KernelError('EINVAL', `vector search k must be an integer in 1..1000, got ${k}`);
    }
    if (this.mode === 'exact-js') return this.searchJs(collection, vector, k, filter);
    const pgv = this.driver.capabilities.vector;
    const params: unknown[] = [collection, vectorParam(vector, pgv), k];
    let where = 'collection = $1';
    if (filter) {
      params.push(jsonbText(filter));
      where += ` AND payload @> $4::jsonb`;
    }
    const dist = cosineDistanceSql(pgv, 'embedding', 2);
    const { rows } = await this.driver.query<Row>(
      `SELECT id, payload, ${dist} AS distance FROM vector_items WHERE ${where} ORDER BY ${dist}, id LIMIT $3`,
      params,
    );
    return rows.map((r) => ({
      id: String(r.id),
      distance: Number(r.distance),
      payload: r.payload as Record<string, unknown>,
    }));
  }

  async delete(collection: string, ids: readonly string[]): Promise<number> {
    const r = await this.driver.query(
      'DELETE FROM vector_items WHERE collection = $1 AND id = ANY($2::text[])',
      [collection, ids],
    );
    return r.rowCount;
  }

  async count(collection: string): Promise<number> {
    const { rows } = await this.driver.query<Row>(
      'SELECT count(*) AS n FROM vector_items WHERE collection = $1',
      [collection],
    );
    return num(rows[0]!.n);
  }

  private async searchJs(
    collection: string,
    vector: readonly number[],
    k: number,
    filter?: Record<string, unknown>,
  ): Promise<VectorHit[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT id, payload, embedding FROM vector_items WHERE collection = $1 AND ($2::jsonb IS NULL OR payload @> $2::jsonb)`,
      [collection, filter ? jsonbText(filter) : null],
    );
    const scored = rows.map((r) => ({
      id: String(r.id),
      payload: r.payload as Record<string, unknown>,
      distance: 1 - cosine(vector, parseVector(r.embedding) ?? []),
    }));
    scored.sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return scored.slice(0, k);
  }
}

export { EMBEDDING_DIM as VECTOR_DIM };
