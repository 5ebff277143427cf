/**
 * "Resume after kill -9" for an unmodified agent: a LangGraph.js agent runs through the gateway of a real
 * `aos start` (a child process, embedded PGlite on disk); mid-run, once the journal holds its finished calls,
 * the kernel is killed with SIGKILL. The kernel is started again on the same data directory and the agent is
 * re-run from scratch: its finished calls are answered from the journal — ZERO provider calls for them,
 * counted at the simulator — and only the unfinished call reaches the model.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from '@langchain/core/tools';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { simConfig, startAos } from './aos-start.js';

let sim: SimulatorHandle;
let dir: string;
let config: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  sim = await createSimulator();
  dir = mkdtempSync(join(tmpdir(), 'aos-gw-replay-'));
  config = simConfig(dir, sim.urlFor('openai'), { storage: `pglite://${join(dir, 'db')}` });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sim?.close();
});

/** The agent under test: plain LangGraph code; `onRead` lets the test act in the middle of the run. */
function agentFor(url: string, key: string, onRead: () => Promise<void>) {
  const calculator = tool(async ({ expression }) => String(Function(`return (${expression})`)()), {
    name: 'calculator',
    description: 'Evaluates an arithmetic expression',
    schema: z.object({ expression: z.string() }),
  });
  const readFile = tool(
    async ({ path }) => {
      await onRead();
      return `contents of ${path}: the launch code is 0000`;
    },
    { name: 'read_file', description: 'Reads a file', schema: z.object({ path: z.string() }) },
  );
  const llm = new ChatOpenAI({
    model: 'gpt-sim',
    apiKey: key,
    maxRetries: 0,
    configuration: {
      baseURL: `${url}/v1`,
      defaultHeaders: { 'x-aos-session': 'crash-run', 'x-aos-replay': '1' },
    },
  });
  return createReactAgent({ llm, tools: [calculator, readFile] });
}

const TASK = {
  messages: [{ role: 'user', content: 'Compute 12 * 7, then read notes.txt and report both.' }],
};

describe('gateway: journal replay after kill -9', () => {
  it('replays the finished calls of a re-run agent with zero provider calls', async () => {
    const first = await startAos(config, children);
    const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const journaled = async (url: string) => {
      const r = await fetch(`${url}/api/v1/gateway/sessions`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      const body = (await r.json()) as {
        items: Array<{ session: string; journal: { calls: number; replayed: number } }>;
      };
      return body.items.find((s) => s.session === 'crash-run')?.journal ?? { calls: 0, replayed: 0 };
    };
    const killedAt = sim.engine.stats.requests;
    // Run 1: calculator call, then read_file call; inside read_file — once both calls are journaled — SIGKILL.
    const run1 = agentFor(first.url, admin, async () => {
      for (let i = 0; i < 1000 && (await journaled(first.url)).calls < 2; i++)
        await new Promise((r) => setTimeout(r, 20));
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
    });
    await expect(run1.invoke(TASK)).rejects.toThrow();
    const callsInRun1 = sim.engine.stats.requests - killedAt;
    expect(callsInRun1).toBe(2);

    // Run 2: a fresh kernel on the same data directory, the same agent from scratch.
    const second = await startAos(config, children);
    const before = sim.engine.stats.requests;
    const run2 = agentFor(second.url, admin, async () => undefined);
    const out = await run2.invoke(TASK);
    expect(String(out.messages.at(-1)!.content)).toContain('launch code');
    // The two finished calls came from the journal; only the third (never answered) reached the model.
    expect(sim.engine.stats.requests - before).toBe(1);
    const j = await journaled(second.url);
    expect(j.replayed).toBe(2);
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  }, 180_000);
});
