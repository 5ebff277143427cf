/**
 * A restartable stream cut after its first delta and made again as a whole call (ResilientModel) was billed
 * twice by the provider — the cut attempt's whole prompt and what it generated, then the whole answer — but
 * only the final attempt's usage reached the kernel: the process, its budgets and its cost showed one clean
 * answer. Now each cut attempt's estimate (the rule of a stream that fails after its first delta: the
 * kernel's tokenizer over the prompt and what streamed) is added to the call's usage and cost, and the
 * response says which part is estimated. Through the built-in agent, the official `openai` SDK and the
 * simulator over loopback HTTP, its fault script cutting the first attempt mid-way.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import type { ScriptedTurn } from '../../src/llm/simulated/scenario.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';

let sim: SimulatorHandle;
let kernel: Kernel;
const MODEL = 'gpt-4o'; // priced in the catalogue: cost is not 0

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-cut-usage-'));
  mkdirSync(join(dir, 'ws'), { recursive: true });
  sim = await createSimulator({ latency: { ttftMs: 0, perTokenMs: 1 } });
  kernel = await createKernel({
    recover: false,
    plugins: false,
    config: {
      data_dir: join(dir, 'data'),
      storage: { url: 'memory://' },
      default_model: MODEL,
      llms: {
        models: [{ name: MODEL, provider: 'openai', base_url: sim.urlFor('openai'), api_key: 'sk-cut' }],
        retry: { max_retries: 2, base_ms: 5, max_ms: 20 },
      },
      // A kernel-wide budget, so the call's spend is recorded in its pools.
      scheduler: {
        budget: { max_tokens: 10_000_000, max_cost_usd: 1000 },
        provider_retry_base_ms: 20,
        provider_retry_max_ms: 100,
      },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      server: { demo_agents: false },
    },
  });
}, 60_000);
afterAll(async () => {
  await kernel?.shutdown();
  await sim?.close();
});

const ANSWER =
  'The tide tables for the harbour say high water comes at dawn and again a little after dusk, so the boats leave early.';

async function run(turns: ScriptedTurn[]) {
  sim.engine.script(turns);
  const requests = sim.stats.requests;
  const pid = await kernel.spawn({ name: 'tides', task: 'When is high water in the harbour?' });
  const st = await kernel.wait(pid);
  expect(st.exitReason).toBeNull();
  expect(st.result).toBe(ANSWER);
  const proc = await kernel.get(pid);
  const calls = await kernel.storage.driver.query<{
    response: Record<string, unknown> | null;
    usage: { input: number; output: number };
  }>('SELECT response, usage FROM llm_calls WHERE pid = $1 ORDER BY attempt', [pid]);
  return { usage: proc.usage, requests: sim.stats.requests - requests, calls: calls.rows };
}

const spentTokens = async () =>
  (await kernel.cpu.budgets.store.pools()).find((p) => p.name === 'kernel:tokens')?.spent ?? 0;

it('a stream cut mid-way and made again is charged both attempts: usage, cost and budgets', async () => {
  const clean = await run([{ text: ANSWER }]);
  expect(clean.requests).toBe(1);

  const spentBefore = await spentTokens();
  const cut = await run([{ text: ANSWER, cut: true }, { text: ANSWER }]);
  const spent = (await spentTokens()) - spentBefore;
  expect(cut.requests).toBe(2);

  // The cut attempt was billed its whole prompt (about the clean call's) and about half the answer.
  const u = cut.usage;
  expect(u.tokensIn).toBeGreaterThan(clean.usage.tokensIn * 1.8);
  expect(u.tokensIn).toBeLessThan(clean.usage.tokensIn * 2.2);
  expect(u.tokensOut).toBeGreaterThan(clean.usage.tokensOut * 1.2);
  expect(u.tokensOut).toBeLessThan(clean.usage.tokensOut * 2);
  expect(u.cost).toBeGreaterThan(clean.usage.cost);
  // The kernel's budget saw the same: every token the process was charged.
  expect(spent).toBe(u.tokensIn + u.tokensOut);
  // The call's record says which part is the kernel's estimate (one cut attempt) and which was reported.
  expect(cut.calls).toHaveLength(1);
  const est = cut.calls[0]!.response!.estimated as {
    usage: { input: number; output: number };
    costUsd: number;
    attempts: number;
  };
  expect(est.attempts).toBe(1);
  expect(est.usage.input + est.usage.output).toBe(
    u.tokensIn + u.tokensOut - (clean.usage.tokensIn + clean.usage.tokensOut),
  );
  // Priced like a clean call's prompt and half its answer, without a cache discount (the final attempt's
  // prompt was served from the simulator's prefix cache: what it reported is cheaper than the clean call).
  expect(est.costUsd).toBeGreaterThan(clean.usage.cost * 0.7);
  expect(est.costUsd).toBeLessThan(clean.usage.cost * 1.1);
  expect(u.cost - est.costUsd).toBeGreaterThan(0);
  expect(cut.calls[0]!.response!.costUsd).toBeCloseTo(u.cost, 10);
}, 60_000);

it('cuts past the retry budget: the failed call is charged every cut attempt, once', async () => {
  const clean = await run([{ text: ANSWER }]);
  const spentBefore = await spentTokens();
  // max_retries 2: three cut attempts fail the call (the process parks on the provider); the step's re-run
  // makes the call again and is answered.
  const cut = await run([
    { text: ANSWER, cut: true },
    { text: ANSWER, cut: true },
    { text: ANSWER, cut: true },
    { text: ANSWER },
  ]);
  const spent = (await spentTokens()) - spentBefore;
  expect(cut.requests).toBe(4);
  // The failed call's row: the estimate of all three cut attempts (before: of its last one only).
  expect(cut.calls).toHaveLength(2);
  const failed = cut.calls[0]!;
  expect(failed.response).toBeNull();
  expect(failed.usage.input).toBeGreaterThan(clean.usage.tokensIn * 2.7);
  expect(failed.usage.input).toBeLessThan(clean.usage.tokensIn * 3.3);
  // The process is charged that row once — when the call failed — and the re-run's answer: the re-run
  // read the row back and charged it again before (13547 input tokens for these ~7800, 3 api calls).
  const u = cut.usage;
  expect(u.apiCalls).toBe(2);
  expect(u.tokensIn).toBe(failed.usage.input + (cut.calls[1]!.usage.input ?? 0));
  expect(u.tokensOut).toBe(failed.usage.output + (cut.calls[1]!.usage.output ?? 0));
  expect(spent).toBe(u.tokensIn + u.tokensOut);
}, 60_000);
