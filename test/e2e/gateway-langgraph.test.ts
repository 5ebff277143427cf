/**
 * A real agent framework, unmodified, pointed at the gateway: LangGraph.js's prebuilt ReAct agent over
 * @langchain/openai's ChatOpenAI. Its multi-step tool-using run must appear as ONE kernel process (program
 * `gateway`), its model calls as that process's steps — scheduled through the kernel's slots, accounted,
 * audited (the chain verifies) — and `aos ps` must show it, to the tenant whose key it used.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tool } from '@langchain/core/tools';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

let f: GatewayFixture;
beforeAll(async () => {
  f = await gatewayFixture();
}, 60_000);
afterAll(async () => {
  await f?.close();
});

const root = new URL('../../', import.meta.url).pathname;

describe('gateway: LangGraph.js agent', () => {
  it('runs a multi-step tool-using agent as one scheduled, accounted, audited kernel process', async () => {
    const key = await f.token({ tenant: 'acme' });
    const calculator = tool(async ({ expression }) => String(Function(`return (${expression})`)()), {
      name: 'calculator',
      description: 'Evaluates an arithmetic expression',
      schema: z.object({ expression: z.string() }),
    });
    const readFile = tool(async ({ path }) => `contents of ${path}: the launch code is 0000`, {
      name: 'read_file',
      description: 'Reads a file',
      schema: z.object({ path: z.string() }),
    });
    const llm = new ChatOpenAI({
      model: 'gpt-sim',
      apiKey: key,
      maxRetries: 0,
      configuration: {
        baseURL: `${f.server.url}/v1`,
        defaultHeaders: { 'x-aos-session': 'langgraph-run-1' },
      },
    });
    const agent = createReactAgent({ llm, tools: [calculator, readFile] });
    const dispatchesBefore = f.kernel.cpu.snapshot().dispatches;
    const simBefore = f.sim.engine.stats.requests;
    const out = await agent.invoke({
      messages: [{ role: 'user', content: 'Compute 12 * 7, then read notes.txt and report both.' }],
    });
    const last = out.messages.at(-1)!;
    expect(String(last.content)).toContain('84');
    expect(String(last.content)).toContain('launch code');
    const modelCalls = f.sim.engine.stats.requests - simBefore;
    expect(modelCalls).toBe(3); // calculator round, read_file round, answer

    // One process, program gateway, its calls its steps.
    const mine = f.server.gateway!.listSessions('acme').filter((s) => s.session === 'langgraph-run-1');
    expect(mine).toHaveLength(1);
    const pid = mine[0]!.pid;
    await f.committed(pid, 3);
    const info = await f.kernel.get(pid);
    expect(info.program).toBe('gateway');
    expect(info.stepNo).toBe(3);
    expect(info.usage.apiCalls).toBe(3);
    expect(info.usage.tokensIn).toBeGreaterThan(0);
    const steps = await f.kernel.steps(pid);
    expect(steps.map((s) => s.kind)).toEqual(['gateway.call', 'gateway.call', 'gateway.call']);
    // Scheduled: every call took an LLM slot from the kernel's scheduler.
    expect(f.kernel.cpu.snapshot().dispatches - dispatchesBefore).toBe(3);
    // Audited: one llm.chat entry per call, and the chain verifies.
    const audit = await f.kernel.storage.audit.list({ stream: `proc:${pid}` });
    expect(audit.filter((e) => e.kind === 'llm.chat')).toHaveLength(3);
    const verify = await f.kernel.storage.audit.verify();
    expect(verify.ok).toBe(true);

    // `aos ps` (the real CLI, over the API) shows it — to the tenant whose key ran it.
    // (async: the server runs in this process and must keep answering while the CLI runs)
    const ps = await promisify(execFile)(process.execPath, [`${root}dist/cli/main.js`, 'ps', '--json'], {
      encoding: 'utf8',
      cwd: f.dir,
      env: { ...process.env, AOS_URL: f.server.url, AOS_TOKEN: key, NO_COLOR: '1', AOS_LOG: 'warn' },
      timeout: 60_000,
    });
    const listed = JSON.parse(ps.stdout) as {
      items: Array<{ pid: number; program: string; stepNo: number }>;
    };
    expect(listed.items.map((p) => p.pid)).toEqual([pid]);
    expect(listed.items[0]!.program).toBe('gateway');
  }, 120_000);
});
