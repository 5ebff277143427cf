/**
 * Conformance suite of VectorStore, run once per backend by vectors.test.ts: HNSW on PGlite (pgvector), the
 * exact fallback (SQL and JS strategies) on a server without pgvector. Results must agree with brute force.
 */
import { expect, it } from 'vitest';
import { EMBEDDING_DIM } from '../../param.js';
import { cosine } from '../../util/embedder.js';
import { mulberry32 } from '../../util/random.js';
import type { Suite } from '../testing/backends.case.js';
import { VectorStore } from './vector-store.js';

/** Deterministic pseudo-random unit vectors (mulberry32), so the expected order is computable. */
function vectors(n: number, seed: number): number[][] {
  const next = mulberry32(seed);
  const rnd = () => next() - 0.5;
  return Array.from({ length: n }, () => {
    const v = Array.from({ length: EMBEDDING_DIM }, rnd);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

export const vectorCases: Suite = (ctx) => {
  const coll = () => `c-${Math.random().toString(36).slice(2, 8)}`;

  it('uses HNSW where pgvector exists and the exact fallback where it does not', () => {
    const vs = new VectorStore(ctx().driver);
    expect(vs.mode).toBe(ctx().kind === 'pglite' ? 'hnsw' : 'exact-sql');
  });

  it('the HNSW index exists and the planner can use it (pgvector only)', async () => {
    const d = ctx().driver;
    const idx = await d.query<{ indexdef: string }>(
      "SELECT indexdef FROM pg_indexes WHERE indexname = 'vector_items_embedding' AND schemaname = $1",
      [d.schema],
    );
    if (!d.capabilities.vector) {
      expect(idx.rows).toEqual([]);
      return;
    }
    expect(idx.rows[0]?.indexdef).toMatch(/USING hnsw \(embedding vector_cosine_ops\)/);
    const q = `[${vectors(1, 5)[0]!.join(',')}]`;
    const plan = await d.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      const r = await tx.query<Record<string, string>>(
        'EXPLAIN SELECT id FROM vector_items ORDER BY embedding <=> $1::vector LIMIT 10',
        [q],
      );
      return r.rows.map((x) => Object.values(x)[0]).join('\n');
    });
    expect(plan).toMatch(/Index Scan using vector_items_embedding/);
  });

  it('upsert, search top-k in brute-force order, filter, delete', async () => {
    const c = coll();
    const data = vectors(300, 42);
    const stores = [new VectorStore(ctx().driver)];
    if (!ctx().driver.capabilities.vector) stores.push(new VectorStore(ctx().driver, { exact: 'js' }));
    await stores[0]!.upsert(
      c,
      data.map((embedding, i) => ({ id: `v${i}`, embedding, payload: { even: i % 2 === 0, i } })),
    );
    expect(await stores[0]!.count(c)).toBe(300);
    const q = data[7]!;
    const expected = data
      .map((v, i) => ({ id: `v${i}`, d: 1 - cosine(q, v) }))
      .sort((a, b) => a.d - b.d)
      .slice(0, 10)
      .map((x) => x.id);
    for (const vs of stores) {
      const hits = await vs.search(c, q, 10);
      expect(hits[0]).toMatchObject({ id: 'v7', payload: { i: 7 } });
      expect(hits[0]!.distance).toBeCloseTo(0, 5);
      // HNSW is approximate; at 300 items with default ef_search it returns the exact set
      expect(hits.map((h) => h.id)).toEqual(expected);
      const odd = await vs.search(c, q, 5, { even: false });
      expect(odd.length).toBe(5);
      expect(odd.every((h) => h.payload.even === false)).toBe(true);
    }
    // upsert replaces
    await stores[0]!.upsert(c, [{ id: 'v7', embedding: data[8]!, payload: { moved: true } }]);
    const again = await stores[0]!.search(c, data[8]!, 2);
    expect(again.map((h) => h.id).sort()).toEqual(['v7', 'v8']);
    expect(await stores[0]!.delete(c, ['v7', 'v8', 'nope'])).toBe(2);
    expect(await stores[0]!.count(c)).toBe(298);
  });

  it('rejects wrong dimensions and bad k with EINVAL', async () => {
    const vs = new VectorStore(ctx().driver);
    await expect(vs.upsert(coll(), [{ id: 'a', embedding: [1, 2, 3] }])).rejects.toMatchObject({
      code: 'EINVAL',
    });
    await expect(vs.search(coll(), [1, 2], 3)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(vs.search(coll(), vectors(1, 1)[0]!, 0)).rejects.toMatchObject({ code: 'EINVAL' });
    const nan = vectors(1, 2)[0]!;
    nan[3] = Number.NaN;
    await expect(vs.upsert(coll(), [{ id: 'n', embedding: nan }])).rejects.toThrow(/non-finite/);
  });
};
