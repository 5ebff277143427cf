/**
 * Budgets that hold for the whole cluster, attacked with several kernel nodes (Kernel instances on one
 * PostgreSQL schema): a kernel-wide token budget (scheduler.budget) and a tenant's token budget
 * (gateway.tenants.<t>.max_tokens). Before, each node counted its own spend: N nodes spent N× a budget
 * (and the kernel-wide budget did not exist). Asserted: all nodes together never spend more than the
 * budget (the journal of model calls is the truth), the kernel-wide budget pauses the agents
 * (waiting(budget), not failed) with most of it used, the gateway answers EQUOTA (429) on every node,
 * and every node's API shows the cluster's total, equal to the journal's.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { type AgentProgram, continueWith } from '../../src/kernel/program.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { createStorage } from '../../src/storage/storage.js';
import { PG_URL, until } from './cluster-harness.js';

const schemas: string[] = [];
const dirs: string[] = [];

async function freshSchema(prefix: string): Promise<string> {
  const schema = `aos_${prefix}_${process.pid}_${Date.now().toString(36)}`;
  schemas.push(schema);
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  await (await createStorage(url)).close(); // migrate once, before the nodes race on it
  return url;
}

afterAll(async () => {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await c.end();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Spends forever: one model call per step with a fixed prompt and output allowance. */
const spender: AgentProgram<{ n: number }> = {
  name: 'spender',
  init: () => ({ n: 0 }),
  async step(s, sys) {
    await sys.call('llm.chat', {
      messages: [{ role: 'user', content: `pid ${sys.pid} step ${s.n}: say something short` }],
    });
    return continueWith({ n: s.n + 1 });
  },
};

async function node(url: string, config: Record<string, unknown>, programs: AgentProgram<any>[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'aos-cb-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'ws'), { recursive: true });
  return createKernel({
    storage: url,
    plugins: false,
    programs,
    config: {
      data_dir: dir,
      storage: { lease_s: 3 },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      learning: { enabled: false },
      server: { demo_agents: false },
      ...config,
    },
  });
}

/** What the provider was asked to spend, all nodes together: the model-call journal. */
async function journalTokens(url: string): Promise<{ calls: number; tokens: number }> {
  const s = await createStorage(url);
  try {
    const { rows } = await s.driver.query<{ n: string | number; t: string | number | null }>(
      `SELECT count(*) AS n, sum((usage->>'input')::float8 + (usage->>'output')::float8) AS t FROM llm_calls`,
    );
    return { calls: Number(rows[0]?.n ?? 0), tokens: Number(rows[0]?.t ?? 0) };
  } finally {
    await s.close();
  }
}

describe('cluster-wide budgets', () => {
  it('a kernel-wide token budget holds for three nodes together; the agents pause on it', async () => {
    const url = await freshSchema('kbudget');
    const BUDGET = 16_000;
    const cfg = { scheduler: { budget: { max_tokens: BUDGET } } };
    const nodes: Kernel[] = [];
    try {
      for (let i = 0; i < 3; i++) nodes.push(await node(url, cfg, [spender]));
      const pids: number[] = [];
      for (const k of nodes)
        for (let i = 0; i < 2; i++)
          pids.push(await k.spawn({ name: 'spender', task: 'spend', program: 'spender' }));
      // A call's reservation: its prompt (≈3 chars per token) plus its whole output allowance (4096).
      const oneCall = Math.ceil('pid 100 step 1000: say something short'.length / 3) + 4096;
      const smallest = Math.ceil('pid 1 step 0: say something short'.length / 3) + 4096;
      const paused = async () => {
        const seen = new Map<number, { state: string; waitOn: string }>();
        for (const k of nodes)
          for (const p of (await k.status()).processes)
            if (k.procs.get(p.pid)) seen.set(p.pid, { state: p.state, waitOn: p.waitOn });
        return pids.every((pid) => {
          const s = seen.get(pid);
          return s?.state === 'waiting' && s.waitOn.startsWith('budget:kernel:tokens');
        });
      };
      // Every agent ends up paused on the budget, with less left than any call reserves.
      const spent = await until(
        'every agent paused on the exhausted budget',
        async () => {
          const j = await journalTokens(url);
          return j.tokens > BUDGET - smallest && (await paused()) ? j : undefined;
        },
        150_000,
      );
      expect(spent.tokens).toBeLessThanOrEqual(BUDGET);
      // Paused, not failed, and it stays so: past a retry period nothing more is spent.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await journalTokens(url)).toEqual(spent);
      expect(await paused()).toBe(true);
      // Every node shows the cluster's total, equal to the journal's (nothing lost, nothing counted twice).
      for (const k of nodes) {
        const b = (await k.nodes()).budgets.find((x) => x.name === 'kernel:tokens');
        expect(b?.limit).toBe(BUDGET);
        expect(b?.spent).toBeCloseTo(spent.tokens, 6);
        const st = (await k.status()).budgets.find((x) => x.name === 'kernel:tokens');
        expect(st?.spent).toBeCloseTo(spent.tokens, 6);
      }
      console.info(
        `kernel-wide budget: 3 nodes, 6 agents, ${spent.calls} calls, ${spent.tokens} of ${BUDGET} tokens spent (one call ≤ ${oneCall})`,
      );
    } finally {
      for (const k of nodes) await k.shutdown();
    }
  }, 200_000);

  it('an operator raises a tenant’s budget through node A’s API: the agent paused on node B goes on, no restart', async () => {
    const url = await freshSchema('braise');
    const cfg = { gateway: { tenants: { t: { max_calls: 2 } } } };
    const a = await node(url, cfg, [spender]);
    const b = await node(url, cfg, [spender]);
    const server = await createServer(a, { host: '127.0.0.1', port: 0, dashboardDir: null });
    try {
      const { token } = await server.tokens.create({ name: 'ops', role: 'admin' });
      const post = async (path: string, body: unknown) => {
        const res = await fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const pid = await b.spawn({
        name: 'spender',
        task: 'spend',
        program: 'spender',
        policy: { tenant: 't' },
      });
      const pausedAt = (calls: number) =>
        until(`B's agent paused on the budget after ${calls} calls`, async () => {
          const j = await journalTokens(url);
          const p = (await b.status()).processes.find((x) => x.pid === pid);
          return j.calls === calls && p?.state === 'waiting' && p.waitOn.startsWith('budget:tenant:t:calls')
            ? j
            : undefined;
        });
      await pausedAt(2);
      // a budget the config does not declare: refused, naming where budgets are declared
      const unknown = await post('/api/v1/budgets/tenant:nobody:calls/limit', { limit: 5 });
      expect(unknown.status).toBe(404);
      expect(String((unknown.body.error as { message: string }).message)).toContain('gateway.tenants');
      const raised = await post('/api/v1/budgets/tenant:t:calls/limit', { limit: 5 });
      expect(raised.status, JSON.stringify(raised.body)).toBe(200);
      expect(raised.body).toMatchObject({ name: 'tenant:t:calls', limit: 5, used: 2 });
      // B, which read 2 from its config at boot, goes on to the new limit and pauses there: 5 calls in all
      await pausedAt(5);
      await new Promise((r) => setTimeout(r, 3_000)); // past a retry period: still 5
      expect((await journalTokens(url)).calls).toBe(5);
      for (const k of [a, b]) {
        const pool = (await k.nodes()).budgets.find((x) => x.name === 'tenant:t:calls');
        expect(pool).toMatchObject({ limit: 5, spent: 5 });
      }
      // a node restarting with the same config leaves the operator's limit alone
      const c = await node(url, cfg, [spender]);
      const again = await c.spawn({
        name: 'spender',
        task: 'spend',
        program: 'spender',
        policy: { tenant: 't' },
      });
      await until('the new node’s agent paused on the same budget', async () => {
        const p = (await c.status()).processes.find((x) => x.pid === again);
        return p?.state === 'waiting' && p.waitOn.startsWith('budget:tenant:t:calls') ? true : undefined;
      });
      expect((await journalTokens(url)).calls).toBe(5);
      expect((await c.nodes()).budgets.find((x) => x.name === 'tenant:t:calls')?.limit).toBe(5);
      await c.shutdown();
    } finally {
      await server.close();
      await a.shutdown();
      await b.shutdown();
    }
  }, 200_000);

  describe('a tenant’s budget through the gateway on two nodes', () => {
    let sim: SimulatorHandle;
    afterAll(async () => {
      await sim?.close();
    });

    it('two nodes together never spend more than the tenant’s max_tokens; both answer 429 EQUOTA', async () => {
      sim = await createSimulator({});
      const url = await freshSchema('tbudget');
      const LIMIT = 20_000;
      const cfg = {
        default_model: 'gpt-sim',
        llms: {
          models: [{ name: 'gpt-sim', provider: 'openai', base_url: sim.urlFor('openai'), api_key: 'sk-x' }],
        },
        gateway: { tenants: { a: { max_tokens: LIMIT } } },
      };
      const nodes: Kernel[] = [];
      const servers: ApiServer[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const k = await node(url, cfg);
          nodes.push(k);
          servers.push(await createServer(k, { host: '127.0.0.1', port: 0, dashboardDir: null }));
        }
        const { token } = await servers[0]!.tokens.create({
          name: 'tenant-a',
          role: 'operator',
          tenant: 'a',
        });
        let ok = 0;
        let tokens = 0;
        let seq = 0;
        const refusedBy = new Set<number>();
        const call = async (i: number) => {
          const res = await fetch(`${servers[i]!.url}/v1/chat/completions`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              'x-aos-session': `s${i}-${seq++}`,
            },
            body: JSON.stringify({
              model: 'gpt-sim',
              messages: [{ role: 'user', content: 'say something short' }],
            }),
          });
          const body = (await res.json()) as { usage?: { total_tokens: number }; error?: { type: string } };
          if (res.status === 200) {
            ok++;
            tokens += body.usage?.total_tokens ?? 0;
          } else {
            expect(res.status, JSON.stringify(body)).toBe(429);
            expect(body.error?.type).toBe('insufficient_quota');
            refusedBy.add(i);
          }
        };
        // Both nodes serve the tenant from the start, then calls go to both, three at a time on each,
        // until two rounds in a row are refused everywhere (a node's unspent chunk returns in between).
        await Promise.all([call(0), call(1)]);
        let refusedRounds = 0;
        for (let round = 0; round < 200 && refusedRounds < 2; round++) {
          const before = ok;
          await Promise.all([0, 1, 0, 1, 0, 1].map((i) => call(i)));
          refusedRounds = ok === before ? refusedRounds + 1 : 0;
          if (ok === before) await new Promise((r) => setTimeout(r, 1_500));
        }
        expect(refusedRounds).toBe(2);
        expect(refusedBy.size).toBe(2);
        const journal = await journalTokens(url);
        expect(tokens).toBeLessThanOrEqual(LIMIT);
        expect(journal.tokens).toBeLessThanOrEqual(LIMIT);
        // …and most of it was used: what is left is less than one call reserves (its prompt + 4096).
        expect(journal.tokens).toBeGreaterThan(LIMIT - 2 * 4_200);
        for (const k of nodes) {
          const b = (await k.nodes()).budgets.find((x) => x.name === 'tenant:a:tokens');
          expect(b?.spent).toBeCloseTo(journal.tokens, 6);
        }
        console.info(`tenant budget: 2 nodes, ${ok} calls answered, ${tokens} of ${LIMIT} tokens`);
      } finally {
        for (const s of servers) await s.close();
        for (const k of nodes) await k.shutdown();
      }
    }, 200_000);
  });
});
