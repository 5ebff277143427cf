// 01 — the storage layer on its own: one embedded PostgreSQL (PGlite, in memory here; `pglite://./dir`
// keeps it on disk, `postgres://…` uses a server) and the five roles the kernel builds on.
//   npm run build && node examples/01-storage.mjs
import { createStorage } from 'agent-os-kernel';

const storage = await createStorage('memory://', { snapshotEverySteps: 5 });
const { state, audit, memory, coordination, vectors, driver } = storage;
console.log(`driver: ${driver.kind} at ${driver.location}, pgvector: ${driver.capabilities.vector}`);

// ── state: a process, 12 committed steps, periodic snapshots, a duplicate step refused ──
const lease = await coordination.acquire('node:example', 'example-node', 15_000);
const proc = await state.createProcess({
  name: 'researcher',
  task: 'summarise notes',
  leaseEpoch: lease.epoch,
});
for (let step = 1; step <= 12; step++) {
  await state.commitStep({
    pid: proc.pid,
    stepNo: step,
    kind: step % 3 ? 'llm' : 'tool',
    record: { note: `step ${step}` },
    usage: { tokensIn: 120, tokensOut: 30 },
    processPatch: { state: 'running', programState: { cursor: step } },
    expectEpoch: lease.epoch,
  });
}
const dup = await state.commitStep({ pid: proc.pid, stepNo: 12, kind: 'llm', record: {} }).catch((e) => e);
console.log(
  `pid ${proc.pid}: ${(await state.listSteps(proc.pid)).length} steps; duplicate step 12 → ${dup.code}`,
);
const snap = await state.latestSnapshot(proc.pid);
console.log(
  `latest snapshot: #${snap.id} at step ${snap.stepNo} (${snap.reason}), state ${JSON.stringify(snap.programState)}`,
);
const stale = await state
  .updateProcess(proc.pid, { priority: 1 }, { expectEpoch: lease.epoch - 1 })
  .catch((e) => e);
console.log(`a writer with a stale lease epoch → ${stale.code}`);

// ── audit: a hash chain, secrets redacted before hashing, verify() ──
await audit.append({
  stream: `pid:${proc.pid}`,
  kind: 'proc.spawn',
  actor: 'kernel',
  payload: { task: proc.task },
});
await audit.append({
  stream: `pid:${proc.pid}`,
  kind: 'io.tool_call',
  actor: `pid:${proc.pid}`,
  payload: { tool: 'http_get', headers: { authorization: 'Bearer abcdefghijklmnop123456' } },
});
const [, second] = await audit.list({ stream: `pid:${proc.pid}` });
console.log(`audit payload as stored: ${JSON.stringify(second.payload)}`);
console.log(`audit verify: ${JSON.stringify(await audit.verify())}`);
const refused = await driver.query('DELETE FROM audit_log').catch((e) => e.message.split(' (')[0]);
console.log(`DELETE FROM audit_log → ${refused}`);

// ── memory: hybrid search (vector arm + full-text arm, reciprocal-rank fusion) ──
await memory.storeMany(
  [
    'The billing service is written in Go and talks to PostgreSQL',
    'Alice prefers concise answers with code samples',
    'PostgreSQL vacuum settings were tuned for the billing database',
    'The coffee machine on floor three is broken',
  ].map((content) => ({ owner: 'researcher', content })),
);
for (const hit of await memory.search({ owner: 'researcher', query: 'postgresql billing', k: 2 })) {
  console.log(
    `memory hit ${hit.score.toFixed(4)} (vector #${hit.vectorRank}, text #${hit.textRank}): ${hit.content}`,
  );
}

// ── coordination: a work queue (SKIP LOCKED) and a mailbox ──
for (const n of [1, 2, 3]) await coordination.enqueue('jobs', { n }, { priority: n === 3 ? 0 : 5 });
const claimed = await coordination.claim('jobs', 'worker-a', 2);
console.log(`worker-a claimed jobs ${claimed.map((j) => JSON.stringify(j.payload)).join(', ')}`);
await coordination.send({ from: `pid:${proc.pid}`, to: 'pid:99', topic: 'hello', body: { text: 'hi' } });
console.log(`pid:99 inbox: ${JSON.stringify((await coordination.recv('pid:99')).map((m) => m.body))}`);

// ── vectors: a collection searched by cosine distance (HNSW on PGlite) ──
const [a, b] = await memory.embedder.embed(['red apples and pears', 'blue ocean waves']);
await vectors.upsert('docs', [
  { id: 'fruit', embedding: a, payload: { kind: 'food' } },
  { id: 'sea', embedding: b, payload: { kind: 'nature' } },
]);
const [q] = await memory.embedder.embed(['apples']);
const near = await vectors.search('docs', q, 1);
console.log(
  `nearest to "apples": ${near[0].id} (distance ${near[0].distance.toFixed(3)}, mode ${vectors.mode})`,
);

await storage.close();
