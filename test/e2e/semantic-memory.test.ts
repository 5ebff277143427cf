/**
 * Semantic memory end to end, over HTTP on both sides: a kernel whose config names an embedding endpoint
 * (`embeddings:` → the simulator's OpenAI-compatible /v1/embeddings, reached through the official openai
 * SDK like any provider) stores the seeds' own documents through the API, and a paraphrase in the other
 * language finds the seeds' memory-search example first — "用户之前提到的需求" by "what did the customer ask
 * for before?", and "Requirements user mentioned earlier" by "客户以前说过的要求". The same requests to a
 * kernel on the lexical hashing embedder miss (what this project did before `embeddings:` existed). The
 * simulator's vectors come from a concept lexicon, not a model (src/llm/simulated/concepts.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import type { AosConfigInput } from '../../src/config/schema.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';

/** The seeds' "five roles" table and process-management list, from the Chinese and the English README. */
const SEED_DOCS = [
  '长期记忆存储：对话历史、学到的知识（海马体）',
  '状态持久化：Checkpoint/快照、任务状态（硬盘）',
  '向量索引：语义检索、pgvector（页表）',
  '协调服务：分布式锁、任务队列（IPC 机制）',
  '审计日志：所有操作的不可篡改记录（黑匣子）',
  '并发调度：优先级 + 时间片 + 抢占式调度',
  '状态持久化：Agent 崩溃后从断点恢复',
  '进程间通信：Agent 之间的状态同步',
  '优雅终止：安全退出而非 kill -9',
  'Long-term Memory: conversation history, learned knowledge (hippocampus)',
  'State Persistence: checkpoint/snapshot, task state (hard disk)',
  'Vector Index: semantic retrieval, pgvector (page table)',
  'Coordination: distributed locks, task queues (IPC mechanism)',
  'Audit Log: immutable records of all operations (black box)',
  'Concurrent Scheduling: priority + time slice + preemptive scheduling',
  'State Persistence: recover from checkpoint after Agent crash',
  'Inter-Process Communication: state synchronization between Agents',
  'Graceful Termination: safe exit rather than kill -9',
];
/** The seeds' semantic_search example, stored as what it names (one owner per language). */
const ZH_TARGET = '用户之前提到的需求：报表要能导出为 CSV';
const EN_TARGET = 'Requirements user mentioned earlier: the report must export to CSV';
const EN_QUERY = 'what did the customer ask for before?';
const ZH_QUERY = '客户以前说过的要求';

interface Booted {
  kernel: Kernel;
  server: ApiServer;
  token: string;
  dir: string;
}

async function boot(extra: Partial<AosConfigInput>): Promise<Booted> {
  const dir = mkdtempSync(join(tmpdir(), 'aos-semantic-'));
  const kernel = await createKernel({
    storage: 'memory://',
    config: {
      data_dir: join(dir, 'data'),
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      server: { demo_agents: false },
      ...extra,
    },
    models: resolverFromProvider(new SimulatedProvider()),
    plugins: false,
  });
  const server = await createServer(kernel, { port: 0, dashboardDir: null });
  const token = readFileSync(server.adminTokenFile, 'utf8').trim();
  return { kernel, server, token, dir };
}

async function api<T>(b: Booted, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${b.server.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${b.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Stores the seed documents plus one target under `owner`, through the API. */
async function storeCorpus(b: Booted, owner: string, target: string): Promise<void> {
  for (const content of [...SEED_DOCS.slice(0, 9), target, ...SEED_DOCS.slice(9)])
    await api(b, 'POST', '/memory', { content, owner });
}

async function top(b: Booted, owner: string, q: string): Promise<string[]> {
  const r = await api<{ items: Array<{ content: string }> }>(
    b,
    'GET',
    `/memory/search?owner=${owner}&k=3&q=${encodeURIComponent(q)}`,
  );
  return r.items.map((i) => i.content);
}

describe('semantic memory through a configured embedding endpoint', () => {
  let sim: SimulatorHandle;
  let semantic: Booted;
  let lexical: Booted;

  beforeAll(async () => {
    sim = await createSimulator({ port: 0 });
    semantic = await boot({
      embeddings: { provider: 'openai', model: 'sim-concepts', base_url: `${sim.url}/v1` },
    });
    lexical = await boot({});
    for (const b of [semantic, lexical]) {
      await storeCorpus(b, 'zh', ZH_TARGET);
      await storeCorpus(b, 'en', EN_TARGET);
    }
  }, 120_000);

  afterAll(async () => {
    for (const b of [semantic, lexical]) {
      await b?.server.close();
      await b?.kernel.shutdown();
      if (b) rmSync(b.dir, { recursive: true, force: true });
    }
    await sim?.close();
  });

  it('says which embedder memory uses in /api/v1/health', async () => {
    const h = (b: Booted) =>
      fetch(`${b.server.url}/api/v1/health`).then((r) => r.json() as Promise<{ memory: unknown }>);
    expect((await h(semantic)).memory).toEqual({ embedder: 'openai/sim-concepts', kind: 'provider' });
    expect((await h(lexical)).memory).toEqual({ embedder: 'hashing-v1-256', kind: 'lexical' });
  });

  it('an English paraphrase finds the Chinese example first, and a Chinese one the English example', async () => {
    const before = sim.engine.stats.requests;
    expect((await top(semantic, 'zh', EN_QUERY))[0]).toBe(ZH_TARGET);
    expect((await top(semantic, 'en', ZH_QUERY))[0]).toBe(EN_TARGET);
    // each query's vector came from the endpoint, through the openai SDK (base64 floats, its default)
    expect(sim.engine.stats.requests).toBe(before + 2);
    expect(sim.engine.stats.bodies.at(-1)).toMatchObject({
      route: '/v1/embeddings',
      body: { model: 'sim-concepts', input: [ZH_QUERY], encoding_format: 'base64' },
    });
  });

  it('the lexical hashing embedder misses both (no shared words, no shared meaning)', async () => {
    expect((await top(lexical, 'zh', EN_QUERY))[0]).not.toBe(ZH_TARGET);
    expect((await top(lexical, 'en', ZH_QUERY))[0]).not.toBe(EN_TARGET);
  });

  it('vectors of another model are not compared: after a switch they are re-embedded by `reembed`', async () => {
    // The lexical kernel's memories carry hashing-v1-256; a store on the concept model sees them as stale.
    const counts = await lexical.kernel.storage.memory.modelCounts('zh');
    expect(counts).toEqual([{ model: 'hashing-v1-256', count: SEED_DOCS.length + 1 }]);
  });
});
