/**
 * A kernel with its HTTP server and the LLM simulator behind it, for the gateway's end-to-end tests: the
 * kernel's configured models are the simulator's OpenAI and Anthropic dialects over loopback HTTP, so every
 * call the gateway forwards is a real HTTP call the test can count at the simulator.
 *
 * Storage: embedded (memory://) by default; `storage: 'postgres'` — or AOS_TEST_GATEWAY_STORAGE=postgres
 * for every gateway test — runs the kernel on a fresh schema of the test server (AOS_TEST_PG_URL), which
 * makes it a cluster node (its model-call rows are written before its step commits), dropped at close.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { type ApiServer, createServer } from '../../src/api/server.js';
import type { AosConfigInput } from '../../src/config/schema.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { PG_URL } from './aos-start.js';

export interface GatewayFixture {
  sim: SimulatorHandle;
  kernel: Kernel;
  server: ApiServer;
  admin: string;
  dir: string;
  /** A new token (optionally a tenant's gateway key). */
  token(o?: { role?: 'viewer' | 'operator' | 'admin'; tenant?: string }): Promise<string>;
  /**
   * Waits until process `pid` has committed `steps` steps. A gateway call's answer goes out before its step
   * commits (docs/gateway.md): on PGlite the commit is queued ahead of any later read, on PostgreSQL's pool a
   * read can overtake it, so a test that reads the step log or the audit right after an answer waits here.
   */
  committed(pid: number, steps: number): Promise<void>;
  close(): Promise<void>;
}

export async function gatewayFixture(
  o: {
    gateway?: AosConfigInput['gateway'];
    scheduler?: AosConfigInput['scheduler'];
    sim?: Parameters<typeof createSimulator>[0];
    /** The provider client's retry and circuit settings (llms.retry, llms.circuit). */
    resilience?: Pick<NonNullable<AosConfigInput['llms']>, 'retry' | 'circuit'>;
    storage?: 'memory' | 'postgres';
    /** More configured models, each on the simulator's dialect of its provider (e.g. deepseek). */
    models?: Array<{ name: string; provider: string }>;
  } = {},
): Promise<GatewayFixture> {
  const sim = await createSimulator(o.sim ?? {});
  const dir = mkdtempSync(join(tmpdir(), 'aos-gw-'));
  const onPg = (o.storage ?? process.env.AOS_TEST_GATEWAY_STORAGE) === 'postgres';
  const schema = onPg ? `aos_gw_${process.pid}_${Date.now().toString(36)}_${++fixtures}` : null;
  const kernel = await createKernel({
    storage: schema ? `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}` : 'memory://',
    plugins: false,
    config: {
      data_dir: dir,
      default_model: 'gpt-sim',
      llms: {
        models: [
          {
            name: 'gpt-sim',
            provider: 'openai',
            base_url: sim.urlFor('openai'),
            api_key: 'sk-provider-secret',
          },
          {
            name: 'claude-sim',
            provider: 'anthropic',
            base_url: sim.urlFor('anthropic'),
            api_key: 'sk-ant-provider-secret',
          },
          ...(o.models ?? []).map((m) => ({
            ...m,
            base_url: sim.urlFor(m.provider),
            api_key: 'sk-provider-secret',
          })),
        ],
        ...o.resilience,
      },
      security: { sandbox: 'none', workspace: join(dir, 'workspace') },
      server: { demo_agents: false },
      ...(o.gateway ? { gateway: o.gateway } : {}),
      ...(o.scheduler ? { scheduler: o.scheduler } : {}),
    },
  });
  const server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
  const admin = readFileSync(server.adminTokenFile, 'utf8').trim();
  let n = 0;
  return {
    sim,
    kernel,
    server,
    admin,
    dir,
    async token(t = {}) {
      const { token } = await server.tokens.create({
        name: `test-${++n}`,
        role: t.role ?? 'operator',
        ...(t.tenant ? { tenant: t.tenant } : {}),
      });
      return token;
    },
    async committed(pid, steps) {
      for (let i = 0; i < 500; i++) {
        if ((await kernel.get(pid)).stepNo >= steps) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`pid ${pid} did not commit ${steps} steps in 10 s`);
    },
    async close() {
      await server.close();
      await kernel.shutdown();
      await sim.close();
      if (schema) {
        const pg = await import('pg');
        const c = new pg.default.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    },
  };
}

let fixtures = 0;

/** The official `openai` client on the fixture's gateway, no retries, in session `session`. */
export function openaiClient(f: GatewayFixture, key: string, session: string): OpenAI {
  return new OpenAI({
    baseURL: `${f.server.url}/v1`,
    apiKey: key,
    maxRetries: 0,
    defaultHeaders: { 'x-aos-session': session },
  });
}

export const calculatorTool = {
  type: 'function' as const,
  function: {
    name: 'calculator',
    description: 'Evaluates an arithmetic expression',
    parameters: {
      type: 'object',
      properties: { expression: { type: 'string' } },
      required: ['expression'],
    },
  },
};
