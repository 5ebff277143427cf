/** Conformance suite of MemoryStore (and the hashing embedder), run once per backend by memory.test.ts. */
import { expect, it } from 'vitest';
import { EMBEDDING_DIM } from '../../param.js';
import { sha256Hex } from '../../util/canonical.js';
import { cosine, type Embedder, HashingEmbedder } from '../../util/embedder.js';
import { mulberry32 } from '../../util/random.js';
import type { Suite } from '../testing/backends.case.js';
import { MemoryStore } from './memory-store.js';

const FACTS = [
  'The deploy key for the staging cluster rotates every Monday',
  'Alice prefers concise answers with code samples',
  'The billing service is written in Go and talks to PostgreSQL',
  'Kubernetes pods restart when the liveness probe fails',
  'Coffee machine on floor three is broken',
  'PostgreSQL vacuum settings were tuned for the billing database',
];

export const memoryCases: Suite = (ctx) => {
  const owner = () => `agent-${Math.random().toString(36).slice(2, 8)}`;

  it('stores, gets, counts and deletes memories', async () => {
    const m = new MemoryStore(ctx().driver);
    const o = owner();
    const recs = await m.storeMany(FACTS.map((content, i) => ({ owner: o, content, metadata: { i } })));
    expect(recs.length).toBe(FACTS.length);
    expect(await m.count(o)).toBe(FACTS.length);
    const one = await m.get(recs[1]!.id);
    expect(one?.content).toBe(FACTS[1]);
    expect(one?.metadata).toEqual({ i: 1 });
    expect(await m.delete(recs[1]!.id)).toBe(true);
    expect(await m.delete(recs[1]!.id)).toBe(false);
    expect(await m.get(recs[1]!.id)).toBeNull();
    // re-storing an id replaces it
    await m.store({ id: recs[0]!.id, owner: o, content: 'replaced' });
    expect((await m.get(recs[0]!.id))?.content).toBe('replaced');
    expect(await m.deleteOwner(o)).toBe(FACTS.length - 1);
    await expect(m.store({ owner: '', content: 'x' })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('hybrid search ranks lexical matches first, fuses both arms, and stays within the owner', async () => {
    const m = new MemoryStore(ctx().driver);
    const o = owner();
    const stranger = owner();
    await m.storeMany(FACTS.map((content) => ({ owner: o, content })));
    await m.store({ owner: stranger, content: 'PostgreSQL billing database secrets' });
    const hits = await m.search({ owner: o, query: 'postgresql billing', k: 3 });
    expect(hits.length).toBe(3);
    expect(hits.every((h) => h.owner === o)).toBe(true);
    const top2 = hits
      .slice(0, 2)
      .map((h) => h.content)
      .sort();
    expect(top2).toEqual([FACTS[2], FACTS[5]].sort());
    expect(hits[0]!.vectorRank).not.toBeNull();
    expect(hits[0]!.textRank).not.toBeNull();
    expect(hits[0]!.score).toBeGreaterThan(hits[2]!.score);
    // text-only and vector-only modes
    const text = await m.search({ owner: o, query: 'coffee', mode: 'text' });
    expect(text.map((h) => h.content)).toEqual([FACTS[4]]);
    expect(text[0]!.vectorRank).toBeNull();
    const vec = await m.search({ owner: o, query: 'kubernetes pod restarts', mode: 'vector', k: 1 });
    expect(vec[0]!.content).toBe(FACTS[3]);
    // the vector arm finds a fragment match the full-text arm cannot (trigram overlap: "deploying" ~ "deploy")
    const frag = await m.search({ owner: o, query: 'deploying', k: 1 });
    expect(frag[0]!.content).toBe(FACTS[0]);
    expect(frag[0]!.textRank).toBeNull();
  });

  it('filters by namespace and metadata; rejects a bad k', async () => {
    const m = new MemoryStore(ctx().driver);
    const o = owner();
    await m.store({ owner: o, namespace: 'work', content: 'standup at nine', metadata: { team: 'core' } });
    await m.store({
      owner: o,
      namespace: 'home',
      content: 'standup paddle board',
      metadata: { team: 'none' },
    });
    const work = await m.search({ owner: o, namespace: 'work', query: 'standup' });
    expect(work.map((h) => h.namespace)).toEqual(['work']);
    const meta = await m.search({ owner: o, query: 'standup', metadata: { team: 'none' } });
    expect(meta.map((h) => h.content)).toEqual(['standup paddle board']);
    expect(await m.search({ owner: o, query: '   ' })).toEqual([]);
    await expect(m.search({ owner: o, query: 'x', k: 0 })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it("keeps each model's vectors apart: another model's are found by text only, until reembed", async () => {
    // A 3-dimensional toy model: x = mentions billing, y = mentions PostgreSQL, z = the rest.
    const toy = (name: string): Embedder => ({
      dimensions: 3,
      name,
      embed: async (ts) => ts.map((t) => [/billing/i.test(t) ? 1 : 0, /postgres/i.test(t) ? 1 : 0, 0.1]),
    });
    const o = owner();
    const lexical = new MemoryStore(ctx().driver);
    await lexical.storeMany(FACTS.map((content) => ({ owner: o, content })));
    const a = new MemoryStore(ctx().driver, { embedder: toy(`toy-${o}`) });
    expect(await a.modelCounts(o)).toEqual([{ model: `hashing-v1-${EMBEDDING_DIM}`, count: FACTS.length }]);
    // No toy vector exists yet: the vector arm finds nothing, the text arm still does.
    const before = await a.search({ owner: o, query: 'billing database', k: 3 });
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((h) => h.vectorRank === null)).toBe(true);
    expect(await a.search({ owner: o, query: 'billing database', k: 3, mode: 'vector' })).toEqual([]);
    expect(await a.reembed({ owner: o })).toEqual({ reembedded: FACTS.length, model: `toy-${o}` });
    expect(await a.modelCounts(o)).toEqual([{ model: `toy-${o}`, count: FACTS.length }]);
    const v = await a.search({ owner: o, query: 'postgres billing', k: 2, mode: 'vector' });
    // both mention billing and PostgreSQL; their order is the toy embedder's near-tie, not the point
    expect(v.map((h) => h.content).sort()).toEqual([FACTS[5], FACTS[2]].sort());
    expect((await a.reembed({ owner: o })).reembedded).toBe(0); // nothing left to move
    // …and the lexical store no longer compares its vectors with the toy model's.
    expect(await lexical.search({ owner: o, query: 'billing', k: 3, mode: 'vector' })).toEqual([]);
  });

  it('a full-text lookup reads only the posting lists it needs, however many memories were just stored', async () => {
    // GIN's fastupdate queues new entries in a pending list that every lookup scans until VACUUM merges
    // it (PGlite never vacuums): with it, this lookup read every page of the list (~30 for 1000 memories).
    const m = new MemoryStore(ctx().driver);
    const o = owner();
    await m.storeMany(
      Array.from({ length: 1000 }, (_, i) => ({ owner: o, content: `note w${i} about topic t${i % 17}` })),
    );
    const blocks = await ctx().driver.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      const { rows } = await tx.query<Record<string, unknown>>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM memories WHERE tsv @@ to_tsquery('simple', 'w1')`,
      );
      const plan = rows[0]!['QUERY PLAN'];
      const root = (typeof plan === 'string' ? JSON.parse(plan) : plan) as Array<{ Plan: PlanNode }>;
      const scan = findNode(root[0]!.Plan, 'Bitmap Index Scan');
      return scan['Shared Hit Blocks'] + scan['Shared Read Blocks'];
    });
    expect(blocks).toBeLessThan(8); // the metapage and one path down the entry tree
    expect((await m.search({ owner: o, query: 'w1', mode: 'text' })).map((h) => h.content)).toEqual([
      'note w1 about topic t1',
    ]);
  });

  it('without pgvector, the in-process exact arm agrees with the SQL scan and sees every change another node makes', async (t) => {
    if (ctx().driver.capabilities.vector) t.skip('pgvector is installed here: HNSW serves the vector arm');
    const o = owner();
    const other = (await ctx().openAnother()) ?? ctx().driver; // a second node's connection where there is one
    // Vectors with no ties (a PRNG seeded by the text), so both scans must agree on the order itself.
    const embedder: Embedder = {
      dimensions: 16,
      name: `random-${o}`,
      embed: async (ts) =>
        ts.map((t) => {
          const r = mulberry32(Number.parseInt(sha256Hex(t).slice(0, 8), 16));
          return Array.from({ length: 16 }, () => r() - 0.5);
        }),
    };
    const node = new MemoryStore(ctx().driver, { embedder }); // searches through its in-process copy
    const sql = new MemoryStore(ctx().driver, { embedder, exactCache: false }); // the reference: SQL's scan
    const writer = new MemoryStore(other, { embedder });
    try {
      const topics = [
        'billing invoices',
        'kubernetes pods',
        'postgres vacuum',
        'coffee machine',
        'deploy keys',
      ];
      const made = await writer.storeMany(
        Array.from({ length: 60 }, (_, i) => ({
          owner: o,
          namespace: i % 2 ? 'odd' : 'even',
          content: `${topics[i % 5]} note ${i} ${topics[(i * 3) % 5]}`,
        })),
      );
      const ids = async (m: MemoryStore, query: string, namespace?: string) =>
        (await m.search({ owner: o, query, k: 8, mode: 'vector', ...(namespace ? { namespace } : {}) })).map(
          (h) => h.id,
        );
      for (const q of ['billing', 'postgres vacuum settings', 'coffee kubernetes']) {
        expect(await ids(node, q)).toEqual(await ids(sql, q));
        expect(await ids(node, q, 'odd')).toEqual(await ids(sql, q, 'odd'));
      }
      // stored by the other node: found by the next search
      const fresh = await writer.store({ owner: o, content: 'zanzibar quartz harmonica' });
      expect((await ids(node, 'zanzibar quartz harmonica'))[0]).toBe(fresh.id);
      // replaced by the other node (same id, new text): the old vector is gone
      await writer.store({ id: fresh.id, owner: o, content: 'billing invoices overdue' });
      expect(await ids(node, 'zanzibar quartz harmonica')).not.toContain(fresh.id);
      expect(await ids(node, 'billing invoices overdue')).toEqual(await ids(sql, 'billing invoices overdue'));
      // moved to another namespace, deleted, and a whole owner wiped: each seen
      await writer.store({ id: made[0]!.id, owner: o, namespace: 'odd', content: made[0]!.content });
      expect(await ids(node, made[0]!.content, 'even')).not.toContain(made[0]!.id);
      expect(await ids(node, made[0]!.content, 'odd')).toContain(made[0]!.id);
      expect(await writer.delete(made[1]!.id)).toBe(true);
      const after = await ids(node, made[1]!.content);
      expect(after).not.toContain(made[1]!.id);
      expect(after).toEqual(await ids(sql, made[1]!.content)); // and its place went to the next nearest
      expect(await ids(node, 'billing')).toEqual(await ids(sql, 'billing'));
      // most rows deleted: the copy drops them, so the nearest candidates are live ones
      for (const m of made.slice(2, 57)) await writer.delete(m.id);
      expect((await ids(node, 'billing')).length).toBe(5);
      expect(await ids(node, 'billing')).toEqual(await ids(sql, 'billing'));
      await writer.deleteOwner(o);
      expect(await ids(node, 'billing')).toEqual([]);
    } finally {
      if (other !== ctx().driver) await other.close();
    }
  });

  it('refuses an embedder whose vectors change dimension or hold non-finite values', async () => {
    let n = 3;
    const shifty: Embedder = {
      dimensions: 0,
      name: `shifty-${owner()}`,
      embed: async (ts) => ts.map(() => Array.from({ length: n++ }, () => 1)),
    };
    const m = new MemoryStore(ctx().driver, { embedder: shifty });
    await expect(
      m.storeMany([
        { owner: owner(), content: 'a' },
        { owner: owner(), content: 'b' },
      ]),
    ).rejects.toMatchObject({ code: 'EINVAL' });
    const nan: Embedder = { dimensions: 2, name: 'nan', embed: async (ts) => ts.map(() => [1, Number.NaN]) };
    await expect(
      new MemoryStore(ctx().driver, { embedder: nan }).store({ owner: 'x', content: 'a' }),
    ).rejects.toThrow(/non-finite/);
  });
};

interface PlanNode {
  'Node Type': string;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  Plans?: PlanNode[];
}

function findNode(n: PlanNode, type: string): PlanNode {
  if (n['Node Type'] === type) return n;
  for (const c of n.Plans ?? []) {
    try {
      return findNode(c, type);
    } catch {}
  }
  throw new Error(`no ${type} in the plan`);
}

/** Backend-independent checks of the hashing embedder. */
export function hashingEmbedderCases(): void {
  it('is deterministic, normalised and lexical', async () => {
    const e = new HashingEmbedder();
    const [a, a2, b, c] = await e.embed([
      'restart the billing service',
      'restart the billing service',
      'restarting billing services',
      'a recipe for banana bread',
    ]);
    expect(a).toEqual(a2);
    expect(a!.length).toBe(EMBEDDING_DIM);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 6);
    expect(cosine(a!, b!)).toBeGreaterThan(0.4);
    expect(cosine(a!, c!)).toBeLessThan(0.2);
    expect((await e.embed(['']))[0]!.every((x) => x === 0)).toBe(true);
  });
}
