/**
 * The memory role: agents' long-term memories. Each row carries an embedding and a generated tsvector, and
 * search fuses a vector arm (cosine, HNSW where pgvector exists, exact elsewhere) with a full-text arm by
 * reciprocal rank: score = Σ 1 / (RRF_K + rank). The embedder is pluggable; the default is lexical.
 */

import { randomUUID } from 'node:crypto';
import { KernelError } from '../../errors.js';
import {
  EMBEDDING_DIM,
  SQL_INSERT_BATCH_ROWS as INSERT_BATCH,
  RRF_K,
  VECTOR_SEARCH_CANDIDATES,
} from '../../param.js';
import { type Embedder, HashingEmbedder, words } from '../../util/embedder.js';
import { logger } from '../../util/log.js';
import { jsonbText } from '../../util/storable.js';
import type { Queryable, StorageDriver } from '../driver.js';
import { num, vectorParam } from '../sql.js';
import { checkEmbedding, cosineDistanceSql } from '../vectors/exact.js';

const log = logger('storage.memory');

export interface MemoryInput {
  owner: string;
  namespace?: string;
  content: string;
  metadata?: Record<string, unknown>;
  id?: string;
}

export interface MemoryRecord {
  id: string;
  owner: string;
  namespace: string;
  content: string;
  metadata: Record<string, unknown>;
  createdAt: Date;
}

export interface MemoryHit extends MemoryRecord {
  /** Fused reciprocal-rank score (higher is better). */
  score: number;
  /** 1-based rank in the vector arm / full-text arm, null when that arm did not return it. */
  vectorRank: number | null;
  textRank: number | null;
}

export type MemorySearchMode = 'hybrid' | 'vector' | 'text';

export interface MemorySearch {
  owner: string;
  namespace?: string;
  query: string;
  k?: number;
  mode?: MemorySearchMode;
  /** Only memories whose metadata contains this object (jsonb @>). */
  metadata?: Record<string, unknown>;
}

type Row = Record<string, unknown>;

export class MemoryStore {
  readonly embedder: Embedder;

  constructor(
    private readonly driver: StorageDriver,
    opts: { embedder?: Embedder } = {},
  ) {
    this.embedder = opts.embedder ?? new HashingEmbedder();
    if (this.embedder.dimensions !== EMBEDDING_DIM) {
      throw new KernelError(
        'EINVAL',
        `embedder ${this.embedder.name} gives ${this.embedder.dimensions} dimensions but memories store ` +
          `${EMBEDDING_DIM} (param EMBEDDING_DIM); configure an embedding model with ${EMBEDDING_DIM} dimensions`,
      );
    }
    if (!driver.capabilities.vector) {
      log.warnOnce(
        'memory-exact',
        `pgvector is not installed on ${driver.location}: memory search uses an exact scan (fine for thousands ` +
          'of memories, slow for millions). Install pgvector and restart to get HNSW.',
      );
    }
  }

  async store(input: MemoryInput, tx?: Queryable): Promise<MemoryRecord> {
    const [rec] = await this.storeMany([input], tx);
    return rec!;
  }

  /** Embeds and inserts in batches; an existing id is replaced (content, metadata and embedding). */
  async storeMany(inputs: readonly MemoryInput[], tx?: Queryable): Promise<MemoryRecord[]> {
    for (const i of inputs) {
      if (!i.owner || typeof i.content !== 'string' || i.content === '') {
        throw new KernelError('EINVAL', 'memory store needs a non-empty owner and content');
      }
    }
    const out: MemoryRecord[] = [];
    for (let at = 0; at < inputs.length; at += INSERT_BATCH) {
      const batch = inputs.slice(at, at + INSERT_BATCH);
      const vecs = await this.embedder.embed(batch.map((b) => b.content));
      const params: unknown[] = [];
      const values: string[] = [];
      const type = this.driver.capabilities.vector ? 'vector' : 'real[]';
      batch.forEach((b, j) => {
        const v = vecs[j]!;
        checkEmbedding(v, `embedder ${this.embedder.name}`);
        params.push(
          b.id ?? randomUUID(),
          b.owner,
          b.namespace ?? 'default',
          b.content,
          jsonbText(b.metadata ?? {}),
          vectorParam(v, this.driver.capabilities.vector),
        );
        const n = params.length;
        values.push(`($${n - 5}, $${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}::jsonb, $${n}::${type})`);
      });
      const { rows } = await (tx ?? this.driver).query<Row>(
        `INSERT INTO memories (id, owner, namespace, content, metadata, embedding) VALUES ${values.join(', ')}
         ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, namespace = EXCLUDED.namespace,
           content = EXCLUDED.content, metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding
         RETURNING id, owner, namespace, content, metadata, created_at`,
        params,
      );
      out.push(...rows.map(toRecord));
    }
    return out;
  }

  async get(id: string): Promise<MemoryRecord | null> {
    const { rows } = await this.driver.query<Row>(
      'SELECT id, owner, namespace, content, metadata, created_at FROM memories WHERE id = $1',
      [id],
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async delete(id: string, tx?: Queryable): Promise<boolean> {
    return (await (tx ?? this.driver).query('DELETE FROM memories WHERE id = $1', [id])).rowCount === 1;
  }

  /** Deletes every memory of an owner (optionally one namespace); returns how many. */
  async deleteOwner(owner: string, namespace?: string): Promise<number> {
    const r = await this.driver.query(
      'DELETE FROM memories WHERE owner = $1 AND ($2::text IS NULL OR namespace = $2)',
      [owner, namespace ?? null],
    );
    return r.rowCount;
  }

  /** An owner's memories, newest first (optionally one namespace). */
  async list(o: { owner: string; namespace?: string; limit?: number }): Promise<MemoryRecord[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT id, owner, namespace, content, metadata, created_at FROM memories
       WHERE owner = $1 AND ($2::text IS NULL OR namespace = $2) ORDER BY created_at DESC, id LIMIT $3`,
      [o.owner, o.namespace ?? null, o.limit ?? 200],
    );
    return rows.map(toRecord);
  }

  async count(owner?: string): Promise<number> {
    const { rows } = await this.driver.query<Row>(
      'SELECT count(*) AS n FROM memories WHERE ($1::text IS NULL OR owner = $1)',
      [owner ?? null],
    );
    return num(rows[0]!.n);
  }

  async search(s: MemorySearch): Promise<MemoryHit[]> {
    const k = s.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > 1000) {
      throw new KernelError('EINVAL', `memory search k must be an integer in 1..1000, got ${k}`);
    }
    const mode = s.mode ?? 'hybrid';
    const terms = [...new Set(words(s.query))];
    const useText = mode !== 'vector' && terms.length > 0;
    let qvec: number[] | null = null;
    if (mode !== 'text') {
      const [v] = await this.embedder.embed([s.query]);
      checkEmbedding(v!, `embedder ${this.embedder.name}`);
      qvec = v!.some((x) => x !== 0) ? v! : null; // an all-zero query has no direction
    }
    if (!useText && !qvec) return [];
    const cand = Math.max(k, VECTOR_SEARCH_CANDIDATES);
    const pgv = this.driver.capabilities.vector;
    const params: unknown[] = [];
    const p = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    const scope =
      `owner = ${p(s.owner)}` +
      (s.namespace !== undefined ? ` AND namespace = ${p(s.namespace)}` : '') +
      (s.metadata ? ` AND metadata @> ${p(jsonbText(s.metadata))}::jsonb` : '');
    const limit = p(cand);
    const none = 'SELECT NULL::text AS id, NULL::bigint AS r WHERE false';
    let vArm = none;
    if (qvec) {
      params.push(vectorParam(qvec, pgv));
      const dist = cosineDistanceSql(pgv, 'embedding', params.length);
      vArm = `SELECT id, row_number() OVER (ORDER BY d, id) AS r FROM (
           SELECT id, ${dist} AS d FROM memories WHERE ${scope} AND embedding IS NOT NULL
           ORDER BY ${dist} LIMIT ${limit}) vv`;
    }
    let tArm = none;
    if (useText) {
      const tsq = `to_tsquery('simple', ${p(terms.join(' | '))})`;
      tArm = `SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS r FROM (
           SELECT id, ts_rank_cd(tsv, ${tsq}) AS rank FROM memories
           WHERE ${scope} AND tsv @@ ${tsq}
           ORDER BY rank DESC, id LIMIT ${limit}) tt`;
    }
    const rrf = p(RRF_K);
    const { rows } = await this.driver.query<Row>(
      `WITH v AS (${vArm}), t AS (${tArm}),
         fused AS (
           SELECT coalesce(v.id, t.id) AS id, v.r AS vr, t.r AS tr,
             coalesce(1.0 / (${rrf} + v.r), 0) + coalesce(1.0 / (${rrf} + t.r), 0) AS score
           FROM v FULL OUTER JOIN t ON v.id = t.id)
       SELECT m.id, m.owner, m.namespace, m.content, m.metadata, m.created_at, f.vr, f.tr, f.score
       FROM fused f JOIN memories m ON m.id = f.id
       ORDER BY f.score DESC, m.id LIMIT ${p(k)}`,
      params,
    );
    return rows.map((r) => ({
      ...toRecord(r),
      score: Number(r.score),
      vectorRank: r.vr === null || r.vr === undefined ? null : num(r.vr),
      textRank: r.tr === null || r.tr === undefined ? null : num(r.tr),
    }));
  }
}

function toRecord(r: Row): MemoryRecord {
  return {
    id: String(r.id),
    owner: String(r.owner),
    namespace: String(r.namespace),
    content: String(r.content),
    metadata: (r.metadata ?? {}) as Record<string, unknown>,
    createdAt: r.created_at instanceof Date ? r.created_at : new Date(String(r.created_at)),
  };
}
