/**
 * Bench suite `stream`: what streaming agent steps give and cost, measured on the user's path — the
 * built-in ReAct agent, its tools and context, the official `openai` SDK over loopback HTTP to the
 * simulator. One kernel holds two model entries on the same simulator, one with `stream: false`; agents
 * on each run alternately in the same run, so drift hits both alike.
 * - time to first token a user sees: non-stream = the whole call (nothing shows until it returns),
 *   stream = request to first delta (`aos_llm_ttft_seconds` measures the same), with a model that takes
 *   `ttft` to start and `perToken` per output token;
 * - cost per step with a zero-latency model: step-to-step time, streamed vs not (the price of parsing
 *   SSE chunks, assembling deltas and emitting `llm.delta` for a watcher).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createKernel, type Kernel } from '../../kernel/kernel.js';
import type { ScriptedTurn, SimRequest } from '../../llm/simulated/scenario.js';
import { createSimulator, type SimulatorHandle } from '../../llm/simulated/server.js';
import { type BenchCase, defineBench } from '../harness.js';

const ANSWER =
  'The notes say the launch window opens at dawn, the crew is ready, fuel is loaded and the weather ' +
  'holds; every check on the list has passed and the countdown can begin as planned.';

/** `steps` reads of notes.txt, then a prose answer (text deltas, like a real model's final turn). */
function scenario(steps: number) {
  return (req: SimRequest): ScriptedTurn => {
    const done = req.messages.filter((m) => m.role === 'tool').length;
    return done < steps
      ? {
          text: 'Reading the notes again.',
          toolCalls: [{ name: 'read_file', arguments: { path: 'notes.txt' } }],
        }
      : { text: ANSWER };
  };
}

async function kernelOn(sim: SimulatorHandle, dir: string): Promise<Kernel> {
  const entry = (name: string, stream: boolean) => ({
    name,
    provider: 'openai',
    base_url: sim.urlFor('openai'),
    api_key: 'sk-bench',
    stream,
  });
  return createKernel({
    storage: 'memory://',
    plugins: false,
    recover: false,
    config: {
      data_dir: join(dir, 'data'),
      llms: { models: [entry('bench-plain', false), entry('bench-streamed', true)] },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      server: { demo_agents: false },
    },
  });
}

interface Run {
  /** ms from one committed step to the next (the first step, which pays for context set-up, dropped). */
  stepMs: number[];
  /** ms from the model call's start to the first token a watcher can show. */
  firstTokenMs: number[];
}

async function runAgent(k: Kernel, model: string, steps: number): Promise<Run> {
  const out: Run = { stepMs: [], firstTokenMs: [] };
  let pid = 0;
  let last = 0;
  let callStart = 0;
  let shown = false;
  const offs = [
    k.hooks.on('llm.chat.before', (e) => {
      if (e.pid !== pid) return;
      callStart = performance.now();
      shown = false;
    }),
    // a watcher on the stream, as the SSE hub or `aos run` is: deltas are emitted only when one listens
    k.hooks.on('llm.delta', (e) => {
      if (e.pid !== pid || shown) return;
      shown = true;
      out.firstTokenMs.push(performance.now() - callStart);
    }),
    k.hooks.on('llm.chat.after', (e) => {
      if (e.pid !== pid || shown) return;
      out.firstTokenMs.push(performance.now() - callStart); // non-stream: the answer is the first token
    }),
    k.hooks.on('proc.step', (e) => {
      if (e.pid !== pid) return;
      const now = performance.now();
      if (last && e.stepNo > 1) out.stepMs.push(now - last);
      last = now;
    }),
  ];
  try {
    pid = await k.spawn({
      name: model,
      task: 'Read notes.txt and report.',
      model,
      args: { maxSteps: steps + 2 },
    });
    const st = await k.wait(pid);
    if (st.exitReason) throw new Error(`bench agent on ${model} failed: ${st.exitReason}`);
  } finally {
    for (const off of offs) off();
  }
  return out;
}

async function pairedRuns(
  latency: { ttftMs: number; perTokenMs: number },
  rounds: number,
  steps: number,
): Promise<{ plain: Run; streamed: Run }> {
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-stream-'));
  mkdirSync(join(dir, 'ws'), { recursive: true });
  writeFileSync(join(dir, 'ws', 'notes.txt'), `${ANSWER}\n`);
  const sim = await createSimulator({ latency, scenario: scenario(steps) });
  const k = await kernelOn(sim, dir);
  const plain: Run = { stepMs: [], firstTokenMs: [] };
  const streamed: Run = { stepMs: [], firstTokenMs: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      // alternate which goes first so warm-up and GC favour neither
      const order =
        r % 2 === 0
          ? (['bench-plain', 'bench-streamed'] as const)
          : (['bench-streamed', 'bench-plain'] as const);
      for (const model of order) {
        const got = await runAgent(k, model, steps);
        const into = model === 'bench-plain' ? plain : streamed;
        into.stepMs.push(...got.stepMs);
        into.firstTokenMs.push(...got.firstTokenMs);
      }
    }
  } finally {
    await k.shutdown();
    await sim.close();
  }
  return { plain, streamed };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

export const streamBench = defineBench({
  name: 'stream',
  subsystem: 'llm',
  async run(ctx) {
    const cases: BenchCase[] = [];
    const steps = ctx.quick ? 5 : 10;
    const latency = { ttftMs: 200, perTokenMs: 10 };
    ctx.log(
      `time to first token: ReAct agent over HTTP, model ${latency.ttftMs} ms + ${latency.perTokenMs} ms/token`,
    );
    const slow = await pairedRuns(latency, ctx.quick ? 2 : 4, steps);
    const ttftRatio = median(slow.streamed.firstTokenMs) / median(slow.plain.firstTokenMs);
    cases.push({
      name: `time to first token a user sees, ${latency.ttftMs} ms + ${latency.perTokenMs} ms/token model`,
      unit: 'ms',
      baseline: {
        label: 'non-stream step: nothing until the call returns',
        samples: slow.plain.firstTokenMs,
      },
      ours: { label: 'streamed step: request → first llm.delta', samples: slow.streamed.firstTokenMs },
      notes: `median ratio streamed/non-stream ${ttftRatio.toFixed(3)}; aos_llm_ttft_seconds observes the streamed figure`,
    });
    ctx.log('cost per step: zero-latency model, streamed vs not, same run');
    const fast = await pairedRuns({ ttftMs: 0, perTokenMs: 0 }, ctx.quick ? 6 : 20, steps);
    const costRatio = median(fast.streamed.stepMs) / median(fast.plain.stepMs);
    cases.push({
      name: 'agent step over HTTP, zero-latency model: streamed vs non-stream',
      unit: 'ms per step',
      baseline: { label: 'non-stream step (chat completion)', samples: fast.plain.stepMs },
      ours: { label: 'streamed step (SSE chunks, deltas to a watcher)', samples: fast.streamed.stepMs },
      notes: `median ratio streamed/non-stream ${costRatio.toFixed(3)} (${(median(fast.streamed.stepMs) - median(fast.plain.stepMs)).toFixed(3)} ms per step)`,
    });
    ctx.record('ratios', { ttftStreamedOverPlain: ttftRatio, stepCostStreamedOverPlain: costRatio });
    return cases;
  },
});
