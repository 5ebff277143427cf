/**
 * Bench suite `storage`, on both drivers (file-backed PGlite in a temp dir; PostgreSQL in a throwaway
 * schema when reachable):
 *   - checkpointed step write: ours = StateStore.commitStep (step row + process row, snapshot every K);
 *     baseline = the seeds' approach, the whole accumulated history re-written as one blob per step;
 *   - step commit with a state that grows 1 KB a step: ours = its delta in the step row, baseline = the
 *     whole state in the process row every step;
 *   - audit append: ours = hash-chained AuditLog.append; baseline = a plain INSERT without a chain;
 *   - queue claim: ours = FOR UPDATE SKIP LOCKED claim + complete; baseline = SELECT then UPDATE;
 *   - lease renew: ours only (database-clock lease with epoch);
 *   - memory search at 10k and 100k memories (2k with --quick): hybrid (HNSW on PGlite, exact fallback on
 *     a server without pgvector), ours = the text arm over the rarest terms' rows, baseline = the method
 *     before (the text arm ranks every row holding any term); vector top-10, baseline = exact seq scan.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelError } from '../../errors.js';
import { MEM_TEXT_POOL_ROWS, RRF_K, VECTOR_SEARCH_CANDIDATES } from '../../param.js';
import type { StorageDriver } from '../../storage/driver.js';
import type { MemoryStore } from '../../storage/memory/memory-store.js';
import { sqlLiteral, vectorIndexName, vectorIndexSql } from '../../storage/memory/vector-index.js';
import { ident, vectorParam } from '../../storage/sql.js';
import { applyDelta, type DeltaOp, diffState, storedCopy } from '../../storage/state/delta.js';
import { JsonText } from '../../storage/state/rows.js';
import type { ProcessPatch } from '../../storage/state/types.js';
import { createStorage, type Storage } from '../../storage/storage.js';
import { words } from '../../util/embedder.js';
import { mulberry32 as rng } from '../../util/random.js';
import { jsonbText } from '../../util/storable.js';
import { type BenchCase, type BenchContext, collect, defineBench } from '../harness.js';

const BENCH_INDEX_BUILD_MEM = '256MB'; // maintenance_work_mem for the one HNSW build after a bulk load

const PG_URL =
  process.env.AOS_BENCH_PG_URL ?? process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Synthetic memories: Zipf-ish draws from a 5,000-word vocabulary, 8–20 words each. */
function corpus(seed: number): () => string {
  const r = rng(seed);
  const vocab = Array.from(
    { length: 5000 },
    (_, i) => `${['ka', 'lo', 'mi', 'ne', 'su', 'ta', 'vo'][i % 7]}${(i * 7919).toString(36)}`,
  );
  return () => {
    const n = 8 + Math.floor(r() * 13);
    return Array.from({ length: n }, () => vocab[Math.floor(r() * r() * vocab.length)]!).join(' ');
  };
}

interface Backend {
  label: string;
  storage: Storage;
  cleanup(): Promise<void>;
}

/** AOS_BENCH_STORAGE_BACKENDS=pglite,postgres and AOS_BENCH_MEMORY_SIZES=10000,100000 narrow a run. */
const WANT = (process.env.AOS_BENCH_STORAGE_BACKENDS ?? 'pglite,postgres').split(',');
const SIZES = process.env.AOS_BENCH_MEMORY_SIZES?.split(',').map(Number);
/** AOS_BENCH_STORAGE_CASES=memory (of step,audit,claim,lease,memory) runs only those cases. */
const CASES = (process.env.AOS_BENCH_STORAGE_CASES ?? 'step,state,audit,claim,lease,memory').split(',');

async function backends(ctx: BenchContext): Promise<Backend[]> {
  const out: Backend[] = [];
  if (WANT.includes('pglite')) await addPglite(out);
  if (WANT.includes('postgres')) await addPostgres(out, ctx);
  return out;
}

async function addPglite(out: Backend[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-'));
  const pgl = await createStorage(`pglite://${join(dir, 'data')}`).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  out.push({
    label: 'pglite',
    storage: pgl,
    cleanup: async () => {
      await pgl.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

async function addPostgres(out: Backend[], ctx: BenchContext): Promise<void> {
  const schema = `aos_bench_${Math.random().toString(36).slice(2, 8)}`;
  try {
    const pg = await createStorage(PG_URL, { schema });
    ctx.log(
      `postgres: ${pg.driver.location}, throwaway schema ${schema}, pgvector=${pg.driver.capabilities.vector}`,
    );
    out.push({
      label: 'postgres',
      storage: pg,
      cleanup: async () => {
        await pg.driver.query(`DROP SCHEMA ${ident(schema)} CASCADE`);
        await pg.close();
      },
    });
  } catch (err) {
    ctx.log(`postgres skipped: ${(err as Error).message}`);
  }
}

async function stepWrite(b: Backend, ctx: BenchContext): Promise<BenchCase> {
  const n = ctx.quick ? 200 : 1000;
  const d = b.storage.driver;
  const record = (i: number) => ({ role: 'assistant', step: i, content: `step ${i} `.repeat(60) }); // ~600 B
  const p = await b.storage.state.createProcess({ name: 'bench', leaseEpoch: 1 });
  let step = 0;
  const ours = await collect(n, async () => {
    step++;
    await b.storage.state.commitStep({
      pid: p.pid,
      stepNo: step,
      kind: 'llm',
      record: record(step),
      usage: { tokensIn: 100, tokensOut: 20 },
      processPatch: { programState: { cursor: step, todo: ['a', 'b'] }, vruntime: step * 120 },
      expectEpoch: 1,
    });
  });
  // baseline: the seeds' checkpoint = the whole state (all messages so far) re-serialised every step
  await d.query(
    'CREATE TABLE IF NOT EXISTS bench_blob_checkpoints (pid int PRIMARY KEY, state jsonb NOT NULL)',
  );
  const history: unknown[] = [];
  let bstep = 0;
  const baseline = await collect(n, async () => {
    bstep++;
    history.push(record(bstep));
    await d.query(
      `INSERT INTO bench_blob_checkpoints (pid, state) VALUES (1, $1::jsonb)
       ON CONFLICT (pid) DO UPDATE SET state = EXCLUDED.state`,
      [JSON.stringify({ step: bstep, messages: history })],
    );
  });
  return {
    name: `step write, ${n} steps [${b.label}]`,
    unit: 'ms',
    ours: { label: 'commitStep (step row + process row; snapshot every 10)', samples: ours },
    baseline: { label: 'whole history blob per step (seeds)', samples: baseline },
    target: { seed: 'p99 < 50 ms', ours: 'p99 < 5 ms' },
  };
}

/**
 * A step commit as the kernel makes it for an agent whose state grows by one 1 KB page a step (a ReAct
 * context): ours = the step's delta in its step row (the whole state every 10th step), baseline = the whole
 * state in the process row every step (before issue 17's delta pass). Interleaved step by step, the same
 * states on both sides; ms per commit includes the JS that makes the parameters (diff, JSON).
 */
async function stateCommit(b: Backend, ctx: BenchContext): Promise<BenchCase> {
  const n = ctx.quick ? 120 : 300;
  const st = b.storage.state;
  const whole = await st.createProcess({ name: 'bench-whole', leaseEpoch: 1, programState: { pages: [] } });
  const delta = await st.createProcess({ name: 'bench-delta', leaseEpoch: 1, programState: { pages: [] } });
  let state: { pages: Array<{ id: number; text: string }>; step: number } = { pages: [], step: 0 };
  let stored = storedCopy(state);
  const ours: number[] = [];
  const baseline: number[] = [];
  const bytes = { ours: 0, baseline: 0 };
  const commit = (pid: number, stepNo: number, patch: ProcessPatch, stateDelta?: string) =>
    st.commitStep({
      pid,
      stepNo,
      kind: 'react',
      record: { kind: 'react', step: stepNo },
      usage: { tokensIn: 100, tokensOut: 20 },
      processPatch: { ...patch, vruntime: stepNo * 120 },
      expectEpoch: 1,
      ...(stateDelta ? { stateDelta } : {}),
    });
  for (let i = 1; i <= n; i++) {
    state = { ...state, step: i, pages: [...state.pages, { id: i, text: `page ${i} `.repeat(110) }] };
    let t0 = performance.now();
    const text = jsonbText(state);
    bytes.baseline += text.length;
    await commit(whole.pid, i, { programState: new JsonText(text) });
    baseline.push(performance.now() - t0);
    t0 = performance.now();
    if (st.fullStateDue(i)) {
      const full = jsonbText(state);
      bytes.ours += full.length;
      await commit(delta.pid, i, { programState: new JsonText(full) });
      stored = JSON.parse(full);
    } else {
      const d = jsonbText(diffState(stored, state));
      bytes.ours += d.length;
      await commit(delta.pid, i, {}, d);
      stored = applyDelta(stored, JSON.parse(d) as DeltaOp[]);
    }
    ours.push(performance.now() - t0);
  }
  const same =
    JSON.stringify((await st.getProcess(delta.pid))?.programState) ===
    JSON.stringify((await st.getProcess(whole.pid))?.programState);
  return {
    name: `step commit, state growing 1 KB/step to ${n} KB [${b.label}]`,
    unit: 'ms',
    ours: { label: 'state delta in the step row (whole every 10th step)', samples: ours },
    baseline: { label: 'whole state in the process row every step', samples: baseline },
    notes:
      `state bytes written per step: ours ${Math.round(bytes.ours / n)} B, baseline ${Math.round(bytes.baseline / n)} B; ` +
      `both rebuild the same state: ${same}`,
  };
}

async function auditAppend(b: Backend, ctx: BenchContext): Promise<BenchCase> {
  const n = ctx.quick ? 300 : 2000;
  const d = b.storage.driver;
  const payload = (i: number) => ({
    syscall: 'io.tool_call',
    tool: 'sh',
    args: { cmd: `echo ${i}` },
    ok: true,
  });
  const ours = await collect(n, (i) =>
    b.storage.audit.append({ stream: 'pid:1', kind: 'io.tool_call', actor: 'pid:1', payload: payload(i) }),
  );
  await d.query(
    'CREATE TABLE IF NOT EXISTS bench_plain_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ts timestamptz, kind text, actor text, payload jsonb)',
  );
  const baseline = await collect(n, (i) =>
    d.query('INSERT INTO bench_plain_log (ts, kind, actor, payload) VALUES (now(), $1, $2, $3::jsonb)', [
      'io.tool_call',
      'pid:1',
      JSON.stringify(payload(i)),
    ]),
  );
  return {
    name: `audit append, ${n} entries [${b.label}]`,
    unit: 'ms',
    ours: { label: 'AuditLog.append (redact + per-stream lock + SHA-256 chain)', samples: ours },
    baseline: { label: 'plain INSERT, no chain', samples: baseline },
    target: { ours: 'p99 < 5 ms' },
  };
}

async function queueClaim(b: Backend, ctx: BenchContext): Promise<BenchCase> {
  const n = ctx.quick ? 300 : 2000;
  const d = b.storage.driver;
  const c = b.storage.coordination;
  for (let i = 0; i < n + 10; i += 100) {
    await d.query(
      "INSERT INTO queue_items (queue, payload, priority) SELECT 'bench', jsonb_build_object('i', g), g % 10 FROM generate_series(1, 100) g",
    );
    await d.query(
      "INSERT INTO queue_items (queue, payload, priority) SELECT 'bench-naive', jsonb_build_object('i', g), g % 10 FROM generate_series(1, 100) g",
    );
  }
  const ours = await collect(n, async () => {
    const [item] = await c.claim('bench', 'w1', 1);
    if (item) await c.complete(item.id, 'w1');
  });
  const baseline = await collect(n, async () => {
    const { rows } = await d.query<{ id: number }>(
      "SELECT id FROM queue_items WHERE queue = 'bench-naive' AND state = 'pending' ORDER BY priority, id LIMIT 1",
    );
    if (!rows[0]) return;
    await d.query(
      "UPDATE queue_items SET state = 'claimed', claimed_by = 'w1' WHERE id = $1 AND state = 'pending'",
      [rows[0].id],
    );
    await d.query("UPDATE queue_items SET state = 'done' WHERE id = $1", [rows[0].id]);
  });
  return {
    name: `queue claim + complete, ${n} items [${b.label}]`,
    unit: 'ms',
    ours: { label: 'UPDATE … FOR UPDATE SKIP LOCKED (race-free)', samples: ours },
    baseline: { label: 'SELECT then UPDATE (racy between nodes)', samples: baseline },
    target: { seed: 'p99 < 10 ms', ours: 'p99 < 10 ms' },
  };
}

async function leaseRenew(b: Backend, ctx: BenchContext): Promise<BenchCase> {
  const n = ctx.quick ? 300 : 2000;
  const c = b.storage.coordination;
  const lease = await c.acquire('bench-lease', 'node-1', 60_000);
  if (!lease) throw new KernelError('ESTATE', 'bench lease is held by someone else');
  const ours = await collect(n, async () => {
    if (!(await c.renew('bench-lease', 'node-1', lease.epoch, 60_000)))
      throw new KernelError('EFENCED', 'lease lost');
  });
  return {
    name: `lease renew (database clock), ${n} renewals [${b.label}]`,
    unit: 'ms',
    ours: { label: 'Coordination.renew', samples: ours },
    target: { ours: 'p99 < 10 ms' },
  };
}

/**
 * Loads memories up to `size` (incrementally, so 10k then 100k reuse the rows). The HNSW index is dropped
 * for the bulk load and built once after it, with room to build in memory: the load is setup, not a case.
 */
async function loadMemories(
  m: MemoryStore,
  d: StorageDriver,
  size: number,
  text: () => string,
  ctx: BenchContext,
  label: string,
) {
  const have = await m.count('bench');
  if (size <= have) return;
  const t0 = Date.now();
  const index = d.capabilities.vector ? vectorIndexSql(m.embedder.name, m.embedder.dimensions) : null;
  if (index) await d.query(`DROP INDEX IF EXISTS ${vectorIndexName(m.embedder.name)}`);
  for (let at = have; at < size; at += 1000) {
    await m.storeMany(
      Array.from({ length: Math.min(1000, size - at) }, () => ({ owner: 'bench', content: text() })),
    );
  }
  if (index)
    await d.transaction(async (tx) => {
      await tx.query(`SET LOCAL maintenance_work_mem = '${BENCH_INDEX_BUILD_MEM}'`);
      await tx.query(index);
    });
  await d.query('ANALYZE memories');
  ctx.log(`${label}: loaded ${size - have} memories in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * Hybrid search as this project shipped it until 2026-12 (the baseline): the same vector arm, and a
 * full-text arm that ranks every row holding any query term — at 100k memories with common terms, most
 * of the table. Kept here verbatim, so ours and it run in one process on the same rows.
 */
async function hybridAsBefore(m: MemoryStore, d: StorageDriver, query: string): Promise<unknown> {
  const [v] = await m.embedder.embed([query]);
  const pgv = d.capabilities.vector;
  const dist = pgv
    ? `(embedding::vector(${v!.length}) <=> $2::vector(${v!.length}))`
    : 'aos_cosine_distance(embedding, $2::real[])';
  const terms = [...new Set(words(query))];
  const tsq = `to_tsquery('simple', $3)`;
  const { rows } = await d.query(
    `WITH v AS (SELECT id, row_number() OVER (ORDER BY d, id) AS r FROM (
         SELECT id, ${dist} AS d FROM memories WHERE owner = $1 AND embedding_model = ${sqlLiteral(m.embedder.name)}
         ORDER BY ${dist} LIMIT $4) vv),
       t AS (SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS r FROM (
         SELECT id, ts_rank_cd(tsv, ${tsq}) AS rank FROM memories WHERE owner = $1 AND tsv @@ ${tsq}
         ORDER BY rank DESC, id LIMIT $4) tt),
       fused AS (SELECT coalesce(v.id, t.id) AS id,
         coalesce(1.0 / ($5 + v.r), 0) + coalesce(1.0 / ($5 + t.r), 0) AS score
         FROM v FULL OUTER JOIN t ON v.id = t.id)
     SELECT m.id, m.content, f.score FROM fused f JOIN memories m ON m.id = f.id
     ORDER BY f.score DESC, m.id LIMIT 10`,
    ['bench', vectorParam(v!, pgv), terms.join(' | '), Math.max(10, VECTOR_SEARCH_CANDIDATES), RRF_K],
  );
  return rows;
}

async function memorySearch(b: Backend, ctx: BenchContext, size: number): Promise<BenchCase[]> {
  const d: StorageDriver = b.storage.driver;
  const m = b.storage.memory;
  await loadMemories(m, d, size, corpus(11), ctx, b.label);
  const q = corpus(99);
  const queries = Array.from({ length: 200 }, () => q().split(' ').slice(0, 4).join(' '));
  const slow = !d.capabilities.vector; // exact scans: fewer samples, bounded time
  const opts = slow ? { warmup: 1, budgetMs: ctx.quick ? 5_000 : 30_000, minN: 5 } : { warmup: 3 };
  const n = slow ? 50 : ctx.quick ? 50 : 200;
  const query = (i: number) => queries[Math.abs(i) % queries.length]!;
  // Ours runs first: the rows are as cold for it as for the method before.
  const hybrid = await collect(n, (i) => m.search({ owner: 'bench', query: query(i), k: 10 }), opts);
  const before = await collect(n, (i) => hybridAsBefore(m, d, query(i)), opts);
  const agree = await overlap(m, d, queries.slice(0, 20));
  const vector = await collect(
    n,
    (i) => m.search({ owner: 'bench', query: query(i), k: 10, mode: 'vector' }),
    opts,
  );
  // baseline: exact top-10 by a sequential scan (index scans disabled where an index exists)
  const baseline = await collect(
    n,
    async (i) => {
      const [v] = await m.embedder.embed([query(i)]);
      const pgv = d.capabilities.vector;
      await d.transaction(async (tx) => {
        await tx.query('SET LOCAL enable_indexscan = off');
        await tx.query(
          `SELECT id FROM memories WHERE owner = 'bench' ORDER BY ${
            pgv ? 'embedding <=> $1::vector' : 'aos_cosine_distance(embedding, $1::real[])'
          } LIMIT 10`,
          [vectorParam(v!, pgv)],
        );
      });
    },
    opts,
  );
  const mode = d.capabilities.vector ? 'HNSW' : 'exact over an in-process copy (no pgvector)';
  const k = size >= 1000 ? `${size / 1000}k` : String(size);
  return [
    {
      name: `memory hybrid search top-10 @ ${k} [${b.label}]`,
      unit: 'ms',
      ours: {
        label: `hybrid RRF: vector (${mode}) + full text over the rarest terms' rows (≤ ${MEM_TEXT_POOL_ROWS})`,
        samples: hybrid,
      },
      baseline: {
        label: 'hybrid RRF as before: full text ranks every row holding any term',
        samples: before,
      },
      target: { seed: 'p99 < 100 ms' },
      notes: `same top-10 as before: ${agree}`,
    },
    {
      name: `vector top-10 @ ${k} [${b.label}]`,
      unit: 'ms',
      ours: { label: `vector arm (${mode})`, samples: vector },
      baseline: { label: 'exact vector seq scan', samples: baseline },
      target: { seed: 'p99 < 100 ms', ours: 'p99 < 20 ms' },
    },
  ];
}

/** How many of the top-10 ids ours shares with the method before, over some queries (quality, not speed). */
async function overlap(m: MemoryStore, d: StorageDriver, queries: readonly string[]): Promise<string> {
  let shared = 0;
  let total = 0;
  for (const q of queries) {
    const ours = new Set((await m.search({ owner: 'bench', query: q, k: 10 })).map((h) => h.id));
    const old = (await hybridAsBefore(m, d, q)) as Array<{ id: string }>;
    total += old.length;
    shared += old.filter((r) => ours.has(String(r.id))).length;
  }
  return `${shared}/${total} ids over ${queries.length} queries (${((100 * shared) / Math.max(1, total)).toFixed(0)} %)`;
}

export const storageBench = defineBench({
  name: 'storage',
  subsystem: 'storage',
  async run(ctx) {
    const cases: BenchCase[] = [];
    for (const b of await backends(ctx)) {
      try {
        ctx.log(`${b.label}: ${CASES.join(', ')}`);
        if (CASES.includes('step')) cases.push(await stepWrite(b, ctx));
        if (CASES.includes('state')) cases.push(await stateCommit(b, ctx));
        if (CASES.includes('audit')) cases.push(await auditAppend(b, ctx));
        if (CASES.includes('claim')) cases.push(await queueClaim(b, ctx));
        if (CASES.includes('lease')) cases.push(await leaseRenew(b, ctx));
        if (!CASES.includes('memory')) continue;
        for (const size of SIZES ?? (ctx.quick ? [2_000] : [10_000, 100_000])) {
          ctx.log(`${b.label}: memory search at ${size}`);
          cases.push(...(await memorySearch(b, ctx, size)));
        }
      } finally {
        await b.cleanup();
      }
    }
    return cases;
  },
});
