/**
 * A gateway session is one process on a cluster, whichever node its calls reach: two kernels (each with its
 * HTTP server) on one PostgreSQL schema, the official `openai` SDK calling one session through both in turn,
 * as behind a round-robin load balancer. Before, each node spawned its own process for the session — its
 * usage, budget, steps and audit split in two, and a kill on one node left the session running on the other.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { PG_URL } from './aos-start.js';

interface Node {
  kernel: Kernel;
  server: ApiServer;
}

let sim: SimulatorHandle;
let schema: string;
const dirs: string[] = [];
const nodes: Node[] = [];
let token: string;

async function startNode(): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'aos-gw-nodes-'));
  dirs.push(dir);
  const kernel = await createKernel({
    storage: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`,
    plugins: false,
    config: {
      data_dir: dir,
      default_model: 'gpt-sim',
      llms: {
        models: [{ name: 'gpt-sim', provider: 'openai', base_url: sim.urlFor('openai'), api_key: 'sk-x' }],
      },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      server: { demo_agents: false },
    },
  });
  const server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
  const n = { kernel, server };
  nodes.push(n);
  return n;
}

function client(n: Node, session: string): OpenAI {
  return new OpenAI({
    baseURL: `${n.server.url}/v1`,
    apiKey: token,
    maxRetries: 0,
    defaultHeaders: { 'x-aos-session': session },
  });
}

async function ask(n: Node, session: string, content: string): Promise<number> {
  const r = await client(n, session)
    .chat.completions.create({ model: 'gpt-sim', messages: [{ role: 'user', content }] })
    .withResponse();
  return Number(r.response.headers.get('x-aos-pid'));
}

/** The session's processes in storage: every one ever spawned for it, and the live ones. */
async function processesOf(n: Node, session: string) {
  const { rows } = await n.kernel.storage.driver.query<{ pid: number; state: string; step_no: number }>(
    `SELECT pid, state, step_no FROM processes WHERE program = 'gateway' AND policy->'gateway'->>'session' = $1`,
    [session],
  );
  return rows;
}

async function committed(n: Node, pid: number, steps: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await n.kernel.storage.driver.query<{ step_no: number }>(
      'SELECT step_no FROM processes WHERE pid = $1',
      [pid],
    );
    if (Number(rows[0]?.step_no) >= steps) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`pid ${pid} did not commit ${steps} steps`);
}

beforeAll(async () => {
  sim = await createSimulator({ latency: { ttftMs: 0, perTokenMs: 0 } });
  schema = `aos_gw_nodes_${process.pid}_${Date.now().toString(36)}`;
  const a = await startNode();
  await startNode();
  ({ token } = await a.server.tokens.create({ name: 'agent', role: 'operator' }));
});

afterAll(async () => {
  for (const n of nodes.splice(0)) {
    await n.server.close().catch(() => undefined);
    await n.kernel.shutdown().catch(() => undefined);
  }
  await sim?.close();
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('gateway on a cluster: one session, one process', () => {
  it('calls alternating between two nodes continue one process: its steps, usage and audit whole', async () => {
    const [a, b] = nodes as [Node, Node];
    const pids = [];
    for (const [i, n] of [a, b, a, b].entries()) pids.push(await ask(n, 'round-robin', `question ${i}`));
    expect(new Set(pids).size).toBe(1);
    const pid = pids[0]!;
    expect(await processesOf(a, 'round-robin')).toHaveLength(1);
    await committed(a, pid, 4);
    const steps = await a.kernel.storage.state.listSteps(pid);
    expect(steps.map((s) => s.kind)).toEqual([
      'gateway.call',
      'gateway.call',
      'gateway.call',
      'gateway.call',
    ]);
    const audit = await a.kernel.storage.audit.list({ stream: `proc:${pid}` });
    expect(audit.filter((e) => e.kind === 'llm.chat')).toHaveLength(4);
    expect((await a.kernel.storage.audit.verify({ stream: `proc:${pid}` })).ok).toBe(true);
  });

  it("a session's first calls reaching both nodes at once make one process", async () => {
    const [a, b] = nodes as [Node, Node];
    const pids = await Promise.all([ask(a, 'both-at-once', 'hello a'), ask(b, 'both-at-once', 'hello b')]);
    expect(pids[0]).toBe(pids[1]);
    expect(await processesOf(a, 'both-at-once')).toHaveLength(1);
  });

  it('a session killed through one node is refused on the other, not respawned there', async () => {
    const [a, b] = nodes as [Node, Node];
    const pid = await ask(a, 'to-kill', 'hello');
    await a.kernel.kill(pid, 'killed by the operator');
    for (let i = 0; i < 500 && (await processesOf(a, 'to-kill')).some((p) => p.state !== 'terminated'); i++)
      await new Promise((r) => setTimeout(r, 20));
    const err = await ask(b, 'to-kill', 'still there?').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(409);
    expect(String((err as Error).message)).toContain('killed');
    expect(await processesOf(a, 'to-kill')).toHaveLength(1);
  });

  it('a response stored through one node chains through the other at once (previous_response_id)', async () => {
    const [a, b] = nodes as [Node, Node];
    for (let i = 0; i < 5; i++) {
      const first = await client(a, `chain-${i}`).responses.create({
        model: 'gpt-sim',
        input: 'Remember 42.',
      });
      const next = await client(b, `chain-${i}`).responses.create({
        model: 'gpt-sim',
        input: 'What did I ask you to remember?',
        previous_response_id: first.id,
      });
      expect(next.previous_response_id).toBe(first.id);
    }
  });

  it('when a node shuts down, its sessions continue on the node their next call reaches', async () => {
    const [a] = nodes as [Node, Node];
    const pid = await ask(a, 'failover', 'hello');
    await committed(a, pid, 1);
    await a.server.close();
    await a.kernel.shutdown();
    nodes.shift();
    const c = await startNode();
    const b = nodes[0]!;
    expect(await ask(b, 'failover', 'are you still there?')).toBe(pid);
    expect(await ask(c, 'failover', 'and now?')).toBe(pid);
    expect(await processesOf(b, 'failover')).toHaveLength(1);
  });
});
