/**
 * Traces recorded from real runs through the kernel: a ReAct agent, driven by a scripted simulator scenario,
 * runs for N steps in a workspace of generated files whose sizes are lognormal (with a few huge ones); its
 * tool calls (read_file, list_dir, search, calculator, recall) return what the real tools return. Every
 * request the kernel sends is recorded by wrapping the Model, with the simulator's reported usage, and the
 * context manager's own metrics are snapshotted after every step. Used by the bench suite `context` and by
 * test/e2e/context-traces.test.ts to check that the kernel's computed hit ratio matches what the simulator
 * reports. It lives with the benches because it drives the whole kernel.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContextMetrics } from '../context/metrics.js';
import { lognormal, mulberry32, VOCAB, words } from '../context/workload.js';
import { createKernel, type Kernel } from '../kernel/kernel.js';
import { type ModelResolver, resolverFromProvider } from '../kernel/model-resolver.js';
import type { ChatMessage, ChatRequest, LlmUsage, Model, ToolSpec } from '../llm/model.js';
import type { ScriptedTurn, SimRequest } from '../llm/simulated/scenario.js';
import { SimulatedProvider } from '../llm/simulated/simulated-provider.js';
import { CTX_CACHED_PRICE_RATIO } from '../param.js';

export type ReplacerName = 'scored' | 'seeds' | 'append-only';

export interface TraceOptions {
  /** Tool-calling steps before the final answer (the run makes steps + 1 model calls). */
  steps: number;
  contextWindow: number;
  replacer: ReplacerName;
  seed: number;
  /** Files generated in the workspace (default 48). */
  files?: number;
  /** Median file size in tokens (default 350; lognormal, σ 1.1). */
  medianFileTokens?: number;
  /** Share of files that are huge: 20k–120k tokens (default 0.03, at least one file). */
  hugeShare?: number;
  /** Storage URL (default memory://, i.e. PGlite in memory). */
  storage?: string;
  /** Sees every request the kernel sent, with what the simulator answered. */
  onCall?: (call: TraceCall) => void;
}

export interface TraceCall {
  index: number;
  messages: ChatMessage[];
  tools: ToolSpec[];
  usage: LlmUsage;
}

export interface TraceResult {
  replacer: ReplacerName;
  steps: number;
  contextWindow: number;
  calls: number;
  /** Final state of the process and why it ended. */
  state: string;
  exitReason: string | null;
  /** The context manager's metrics after the last step (the kernel's own view). */
  kernel: ContextMetrics;
  /** What the simulator reported, summed over the run's calls (OpenAI rule, real token ids of the wire JSON). */
  simulator: { input: number; cachedInput: number; hitRatio: number; maxInput: number };
  /** Tool calls the scenario made, by tool name. */
  toolCalls: Record<string, number>;
  /** Largest rendered prompt, in the kernel's calibrated tokens, and the budget it must stay under. */
  maxRenderedTokens: number;
  budget: number;
  /** Cost relative to no caching with cached input at 0.1×, from the simulator's reports. */
  simulatorRelativeCost: number;
  wallMs: number;
}

const TOPICS = ['scheduler', 'storage', 'context', 'audit', 'sandbox', 'provider', 'budget', 'cache'];

/** The agent's workspace: `src/<topic>/<name>.ts|md` files of lognormal token sizes (path → content). */
export function generateWorkspace(rnd: () => number, o: TraceOptions): Record<string, string> {
  const n = o.files ?? 48;
  const median = o.medianFileTokens ?? 350;
  const hugeShare = o.hugeShare ?? 0.03;
  const hugeIndex = Math.floor(rnd() * n);
  const files: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const topic = TOPICS[i % TOPICS.length] ?? 'misc';
    const rel = `src/${topic}/${topic}_${i}.${i % 3 === 0 ? 'md' : 'ts'}`;
    const huge = i === hugeIndex || rnd() < hugeShare;
    const tokens = huge ? 20_000 + Math.floor(rnd() * 100_000) : lognormal(rnd, median, 1.1);
    // ~0.8 words per token for this vocabulary; a header line makes files distinguishable.
    files[rel] =
      `// ${rel}: ${topic} notes\n${words(rnd, Math.round(tokens * 0.8), [topic, `${topic}_${i}`])}\n`;
  }
  return files;
}

/** Page ids listed in the stubs of a request ("- <pid>.<seq> …" lines under a "[context: …" head). */
function stubPageIds(messages: readonly ChatMessage[]): string[] {
  const ids: string[] = [];
  for (const m of messages) {
    if (m.role !== 'user' || typeof m.content !== 'string' || !m.content.startsWith('[context: ')) continue;
    for (const match of m.content.matchAll(/^- .*?\b(\d+\.\d+)\b/gm)) if (match[1]) ids.push(match[1]);
  }
  return ids;
}

/**
 * The agent's turns: a skewed mix of tools (popular files are read again, some steps make parallel calls,
 * a few recall a paged-out page by id or by query), then `final_answer` after `steps` steps.
 */
export function traceScenario(o: TraceOptions, files: readonly string[]) {
  const rnd = mulberry32(o.seed * 7919 + 1);
  // Zipf-like popularity: file i is picked with weight 1/(i+1), in a seeded order.
  const order = [...files];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j] as string, order[i] as string];
  }
  const weights = order.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((s, w) => s + w, 0);
  const pick = () => {
    let x = rnd() * total;
    for (const [i, w] of weights.entries()) {
      x -= w;
      if (x <= 0) return order[i] ?? files[0] ?? 'README.md';
    }
    return order[order.length - 1] ?? 'README.md';
  };
  const thought = () =>
    words(rnd, 10 + Math.floor(rnd() * 40), [TOPICS[Math.floor(rnd() * TOPICS.length)] ?? 'x']);
  return (req: SimRequest, index: number): ScriptedTurn => {
    if (index >= o.steps) {
      return { toolCalls: [{ name: 'final_answer', arguments: { answer: `done after ${index} steps` } }] };
    }
    const r = rnd();
    const calls: Array<{ name: string; arguments: Record<string, unknown> }> = [];
    if (r < 0.05 && index > 5) {
      const ids = stubPageIds(req.messages);
      const id = ids[Math.floor(rnd() * ids.length)];
      calls.push({
        name: 'recall',
        arguments: id && rnd() < 0.7 ? { page_id: id } : { query: `${pick()} notes` },
      });
    } else if (r < 0.15) {
      const k = 2 + Math.floor(rnd() * 2);
      for (let i = 0; i < k; i++) calls.push({ name: 'read_file', arguments: { path: pick() } });
    } else if (r < 0.55) {
      calls.push({ name: 'read_file', arguments: { path: pick() } });
    } else if (r < 0.7) {
      const topic = TOPICS[Math.floor(rnd() * TOPICS.length)] ?? 'cache';
      calls.push({
        name: 'list_dir',
        arguments: rnd() < 0.3 ? { path: '.', recursive: true } : { path: `src/${topic}` },
      });
    } else if (r < 0.85) {
      const w = VOCAB[Math.floor(rnd() * VOCAB.length)] ?? 'cache';
      const topic = TOPICS[Math.floor(rnd() * TOPICS.length)] ?? 'cache';
      calls.push({
        name: 'search',
        arguments: { pattern: w, path: `src/${topic}`, max_results: 20 + Math.floor(rnd() * 60) },
      });
    } else {
      const a = 1 + Math.floor(rnd() * 999);
      const b = 1 + Math.floor(rnd() * 99);
      calls.push({ name: 'calculator', arguments: { expression: `(${a} * ${b} + sqrt(${b * b})) / 7` } });
    }
    return { text: thought(), toolCalls: calls };
  };
}

/**
 * Wraps a Model to see each request: `before` runs as the request leaves (the kernel has just rendered it),
 * `after` with the simulator's reported usage.
 */
function recording(
  inner: Model,
  before: (req: ChatRequest) => void,
  after: (req: ChatRequest, usage: LlmUsage) => void,
): Model {
  return {
    id: inner.id,
    provider: inner.provider,
    validate: (req) => inner.validate(req),
    async chat(req) {
      before(req);
      const res = await inner.chat(req);
      after(req, res.usage);
      return res;
    },
    async *stream(req) {
      before(req);
      for await (const ev of inner.stream(req)) {
        if (ev.type === 'done') after(req, ev.response.usage);
        yield ev;
      }
    },
  };
}

/** Runs one agent through the kernel end to end and returns the recorded trace's figures. */
export async function recordTrace(o: TraceOptions): Promise<TraceResult> {
  const rnd = mulberry32(o.seed);
  const ws = mkdtempSync(join(tmpdir(), 'aos-ctx-trace-'));
  const t0 = performance.now();
  try {
    // given to the process at spawn: they land in its own workspace (<ws>/proc/<pid>)
    const workspace = generateWorkspace(rnd, o);
    const provider = new SimulatedProvider({
      scenario: traceScenario(o, Object.keys(workspace)),
      latency: { ttftMs: 0, perTokenMs: 0 },
    });
    const base = resolverFromProvider(provider, 'sim-trace');
    const sim = { input: 0, cachedInput: 0, maxInput: 0 };
    let calls = 0;
    let maxRendered = 0;
    let kernelRef: Kernel | null = null;
    const models: ModelResolver = {
      ...base,
      resolve: (name) =>
        recording(
          base.resolve(name),
          (req) => {
            // The render that produced this request is the prompt as it stands right now.
            const pid = Number(req.tags?.pid);
            if (kernelRef?.context.has(pid))
              maxRendered = Math.max(maxRendered, kernelRef.context.metrics(pid).tokens);
          },
          (req, usage) => {
            sim.input += usage.input;
            sim.cachedInput += usage.cachedInput;
            sim.maxInput = Math.max(sim.maxInput, usage.input);
            o.onCall?.({ index: calls, messages: req.messages, tools: req.tools ?? [], usage });
            calls++;
          },
        ),
      describe: (name) => ({ ...base.describe(name), contextWindow: o.contextWindow }),
    };
    const k = await createKernel({
      storage: o.storage ?? 'memory://',
      config: {
        security: { sandbox: 'none', workspace: ws },
        context: { replacer: o.replacer },
      },
      models,
      plugins: false,
    });
    kernelRef = k;
    try {
      let last: ContextMetrics | null = null;
      const toolCalls: Record<string, number> = {};
      k.hooks.on('proc.step', (e) => {
        if (!k.context.has(e.pid)) return;
        last = k.context.metrics(e.pid);
        const rec = e.record as { toolCalls?: Array<{ name: string }> };
        for (const c of rec.toolCalls ?? []) toolCalls[c.name] = (toolCalls[c.name] ?? 0) + 1;
      });
      const pid = await k.spawn({
        name: `trace-${o.replacer}`,
        task: `Survey the workspace's ${TOPICS.join(', ')} notes and report what they say.`,
        args: { maxSteps: o.steps + 5 },
        files: workspace,
      });
      const st = await k.wait(pid);
      const kernel = last as ContextMetrics | null;
      if (!kernel)
        throw new Error(`trace run recorded no step (process ${st.state}: ${st.exitReason ?? ''})`);
      const hitRatio = sim.input ? sim.cachedInput / sim.input : 0;
      return {
        replacer: o.replacer,
        steps: o.steps,
        contextWindow: o.contextWindow,
        calls,
        state: st.state,
        exitReason: st.exitReason,
        kernel,
        simulator: { ...sim, hitRatio },
        toolCalls,
        maxRenderedTokens: maxRendered,
        budget: kernel.budget,
        simulatorRelativeCost: sim.input
          ? (sim.input - sim.cachedInput * (1 - CTX_CACHED_PRICE_RATIO)) / sim.input
          : 1,
        wallMs: performance.now() - t0,
      };
    } finally {
      await k.shutdown();
    }
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}
