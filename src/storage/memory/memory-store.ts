/**
 * The memory role: agents' long-term memories. Each row carries an embedding (with the id of the model that
 * made it) and a generated tsvector, and search fuses a vector arm (cosine over the vectors of the store's
 * own model only: HNSW where pgvector exists, exact elsewhere) with a full-text arm by reciprocal rank:
 * score = Σ 1 / (RRF_K + rank). The embedder is pluggable (config `embeddings:`); the default is lexical.
 * Memories embedded by another model are found by the text arm until `reembed()` moves them over.
 */

import { randomUUID } from 'node:crypto';
import { KernelError } from '../../errors.js';
import {
  SQL_INSERT_BATCH_ROWS as INSERT_BATCH,
  MEM_TEXT_DF_CACHE_MAX,
  MEM_TEXT_DF_TTL_MS,
  MEM_TEXT_POOL_ROWS,
  REEMBED_BATCH_ROWS,
  RRF_K,
  VECTOR_SEARCH_CANDIDATES,
} from '../../param.js';
import { type Embedder, HashingEmbedder, words } from '../../util/embedder.js';
import { logger } from '../../util/log.js';
import { jsonbText } from '../../util/storable.js';
import type { Queryable, StorageDriver } from '../driver.js';
import { num, vectorParam } from '../sql.js';
import { checkEmbedding } from '../vectors/exact.js';
import { ExactVectorCache } from './exact-cache.js';
import { HNSW_MAX_DIM, sqlLiteral, vectorIndexSql } from './vector-index.js';

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

/** Memories per embedding model (`null`: stored without a vector). */
export interface EmbeddingModelCount {
  model: string | null;
  count: number;
}

type Row = Record<string, unknown>;

export class MemoryStore {
  readonly embedder: Embedder;
  /** Models whose HNSW index is known to exist (pgvector only). */
  private readonly indexed = new Set<string>();
  /** Document frequency of query terms per owner, counted up to the text pool (./textTerms). */
  private readonly df = new Map<string, { n: number; at: number }>();
  /** Without pgvector: each scope's vectors in process, so the exact arm is a scan in JS (./exact-cache.ts). */
  private readonly exact: ExactVectorCache | null;

  constructor(
    private readonly driver: StorageDriver,
    opts: {
      embedder?: Embedder;
      /** Without pgvector, scan vectors held in process (default) or in SQL (`false`: the reference). */
      exactCache?: boolean;
    } = {},
  ) {
    this.embedder = opts.embedder ?? new HashingEmbedder();
    this.exact =
      !driver.capabilities.vector && opts.exactCache !== false ? new ExactVectorCache(driver) : null;
    if (!driver.capabilities.vector) {
      log.warnOnce(
        'memory-exact',
        `pgvector is not installed on ${driver.location}: memory search is exact, over a copy of each owner's ` +
          'vectors held in this process (~100 ms at 100k memories, 1 KiB of RAM per 256-dimension memory). ' +
          'Install pgvector (CREATE EXTENSION vector) and restart to get HNSW.',
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
      const vecs = await this.embedVectors(batch.map((b) => b.content));
      if (!tx) await this.ensureIndex(vecs[0]!.length);
      const params: unknown[] = [this.embedder.name];
      const values: string[] = [];
      const type = this.driver.capabilities.vector ? 'vector' : 'real[]';
      batch.forEach((b, j) => {
        params.push(
          b.id ?? randomUUID(),
          b.owner,
          b.namespace ?? 'default',
          b.content,
          jsonbText(b.metadata ?? {}),
          vectorParam(vecs[j]!, this.driver.capabilities.vector),
        );
        const n = params.length;
        values.push(`($${n - 5}, $${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}::jsonb, $${n}::${type}, $1)`);
      });
      const { rows } = await (tx ?? this.driver).query<Row>(
        `INSERT INTO memories (id, owner, namespace, content, metadata, embedding, embedding_model)
         VALUES ${values.join(', ')}
         ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, namespace = EXCLUDED.namespace,
           content = EXCLUDED.content, metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding,
           embedding_model = EXCLUDED.embedding_model
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

  /** How many memories each embedding model made (the store's own model is `embedder.name`). */
  async modelCounts(owner?: string): Promise<EmbeddingModelCount[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT embedding_model AS model, count(*) AS n FROM memories WHERE ($1::text IS NULL OR owner = $1)
       GROUP BY embedding_model ORDER BY count(*) DESC`,
      [owner ?? null],
    );
    return rows.map((r) => ({ model: r.model === null ? null : String(r.model), count: num(r.n) }));
  }

  /**
   * Re-embeds, with the store's own model, every memory whose vector another model made (or that has
   * none), in batches; returns how many. Safe to interrupt and run again: each batch commits on its own.
   */
  async reembed(
    o: { owner?: string; batch?: number; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<{ reembedded: number; model: string }> {
    const batch = o.batch ?? REEMBED_BATCH_ROWS;
    const model = this.embedder.name;
    const stale = `embedding_model IS DISTINCT FROM $1 AND ($2::text IS NULL OR owner = $2)`;
    const { rows: cnt } = await this.driver.query<Row>(`SELECT count(*) AS n FROM memories WHERE ${stale}`, [
      model,
      o.owner ?? null,
    ]);
    const total = num(cnt[0]!.n);
    let done = 0;
    let after = '';
    while (done < total) {
      const { rows } = await this.driver.query<Row>(
        `SELECT id, content FROM memories WHERE ${stale} AND id > $3 ORDER BY id LIMIT $4`,
        [model, o.owner ?? null, after, batch],
      );
      if (rows.length === 0) break;
      const vecs = await this.embedVectors(rows.map((r) => String(r.content)));
      await this.ensureIndex(vecs[0]!.length);
      const pgv = this.driver.capabilities.vector;
      const params: unknown[] = [model];
      const values = rows.map((r, j) => {
        params.push(String(r.id), vectorParam(vecs[j]!, pgv));
        return `($${params.length - 1}, $${params.length}::${pgv ? 'vector' : 'real[]'})`;
      });
      await this.driver.query(
        `UPDATE memories m SET embedding = v.e, embedding_model = $1
         FROM (VALUES ${values.join(', ')}) AS v(id, e) WHERE m.id = v.id`,
        params,
      );
      done += rows.length;
      after = String(rows.at(-1)!.id);
      o.onProgress?.(done, total);
    }
    return { reembedded: done, model };
  }

  /**
   * The query terms the text arm selects rows by: the rarest first, while the rows holding them fit in
   * MEM_TEXT_POOL_ROWS (the rarest always). A term that most memories hold (`the`, a project's name) says
   * little about which memory is meant — its inverse document frequency is near zero — yet matching it
   * made the arm rank every row holding it: 196 ms p99 at 100k memories. Rows are still ranked by all the
   * terms. Document frequencies are counted up to the pool size and cached for MEM_TEXT_DF_TTL_MS.
   */
  private async textTerms(owner: string, terms: readonly string[]): Promise<string[]> {
    if (terms.length === 1) return [...terms];
    const now = Date.now();
    const key = (t: string) => `${owner}\u0000${t}`;
    const missing = terms.filter((t) => {
      const e = this.df.get(key(t));
      return !e || now - e.at > MEM_TEXT_DF_TTL_MS;
    });
    if (missing.length) {
      const { rows } = await this.driver.query<Row>(
        `SELECT t, (SELECT count(*) FROM (SELECT 1 FROM memories WHERE owner = $1
           AND tsv @@ to_tsquery('simple', t) LIMIT $2) x) AS n FROM unnest($3::text[]) AS t`,
        [owner, MEM_TEXT_POOL_ROWS + 1, missing],
      );
      if (this.df.size > MEM_TEXT_DF_CACHE_MAX) this.df.clear();
      for (const r of rows) this.df.set(key(String(r.t)), { n: num(r.n), at: now });
    }
    const byDf = [...terms].sort(
      (a, b) => (this.df.get(key(a))?.n ?? 0) - (this.df.get(key(b))?.n ?? 0) || (a < b ? -1 : 1),
    );
    const pick: string[] = [];
    let rows = 0;
    for (const t of byDf) {
      const n = this.df.get(key(t))?.n ?? 0;
      if (pick.length > 0 && rows + n > MEM_TEXT_POOL_ROWS) break;
      pick.push(t);
      rows += n;
    }
    return pick;
  }

  /** Embeds with the store's model and checks every vector (finite, one dimension for the model). */
  private async embedVectors(texts: readonly string[]): Promise<number[][]> {
    const vecs = await this.embedder.embed(texts);
    if (vecs.length !== texts.length) {
      throw new KernelError(
        'EPROVIDER',
        `embedder ${this.embedder.name} returned ${vecs.length} vectors for ${texts.length} texts`,
      );
    }
    const dim = this.embedder.dimensions || vecs[0]?.length || 0;
    for (const v of vecs) checkEmbedding(v, `embedder ${this.embedder.name}`, dim);
    return vecs;
  }

  /** The model's partial HNSW index, created on its first use (pgvector only; one statement, idempotent). */
  private async ensureIndex(dim: number): Promise<void> {
    const model = this.embedder.name;
    if (!this.driver.capabilities.vector || this.indexed.has(model)) return;
    const sql = vectorIndexSql(model, dim);
    if (!sql) {
      log.warnOnce(
        `memory-dim:${model}`,
        `embedding model ${model} gives ${dim} dimensions, more than HNSW indexes (${HNSW_MAX_DIM}): memory ` +
          'search scans exactly. Set embeddings.dimensions (OpenAI text-embedding-3, Qwen v3) to 2000 or less.',
      );
    } else {
      await this.driver.transaction(async (q) => {
        await q.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':' || $1))", [
          `aos:memory-index:${model}`,
        ]);
        await q.query(sql);
      });
    }
    this.indexed.add(model);
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
      const [v] = await this.embedVectors([s.query]);
      qvec = v!.some((x) => x !== 0) ? v! : null; // an all-zero query has no direction
      if (qvec) await this.ensureIndex(qvec.length);
    }
    if (!useText && !qvec) return [];
    const cand = Math.max(k, VECTOR_SEARCH_CANDIDATES);
    const pgv = this.driver.capabilities.vector;
    const params: unknown[] = [];
    const p = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    // Parameters are numbered as they are used: an arm that is not in the SQL must not leave one untyped.
    let scopeSql: string | undefined;
    const scope = (): string => {
      if (scopeSql === undefined)
        scopeSql =
          `owner = ${p(s.owner)}` +
          (s.namespace !== undefined ? ` AND namespace = ${p(s.namespace)}` : '') +
          (s.metadata ? ` AND metadata @> ${p(jsonbText(s.metadata))}::jsonb` : '');
      return scopeSql;
    };
    let limitSql: string | undefined;
    const limit = (): string => {
      if (limitSql === undefined) limitSql = p(cand);
      return limitSql;
    };
    const none = 'SELECT NULL::text AS id, NULL::bigint AS r WHERE false';
    let vArm = none;
    const cached =
      qvec && this.exact && !s.metadata
        ? await this.exact.nearest(s.owner, this.embedder.name, qvec, cand, s.namespace)
        : null;
    if (cached) {
      vArm = `SELECT id, r FROM unnest(${p(cached.map((h) => h.id))}::text[]) WITH ORDINALITY AS vv(id, r)`;
    } else if (qvec) {
      const q = p(vectorParam(qvec, pgv));
      // The model as a literal: the planner proves the partial index's predicate from it.
      const model = sqlLiteral(this.embedder.name);
      const dist = pgv
        ? `(embedding::vector(${qvec.length}) <=> ${q}::vector(${qvec.length}))`
        : `aos_cosine_distance(embedding, ${q}::real[])`;
      vArm = `SELECT id, row_number() OVER (ORDER BY d, id) AS r FROM (
           SELECT id, ${dist} AS d FROM memories WHERE ${scope()} AND embedding_model = ${model}
           ORDER BY ${dist} LIMIT ${limit()}) vv`;
    }
    let tArm = none;
    if (useText) {
      // Ranked by every term, over the rows that hold the informative ones (bounded work: textTerms).
      const pick = await this.textTerms(s.owner, terms);
      const all = `to_tsquery('simple', ${p(terms.join(' | '))})`;
      const some = `to_tsquery('simple', ${p(pick.join(' | '))})`;
      tArm = `SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS r FROM (
           SELECT id, ts_rank_cd(tsv, ${all}) AS rank FROM (
             SELECT id, tsv FROM memories WHERE ${scope()} AND tsv @@ ${some} LIMIT ${p(MEM_TEXT_POOL_ROWS)}) pool
           ORDER BY rank DESC, id LIMIT ${limit()}) tt`;
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
