/**
 * A seeded synthetic long-running agent workload for the context manager: a tool-calling loop whose
 * observation sizes are skewed like real agent runs (lognormal body, occasional huge outputs, some
 * parallel calls, occasional recalls). Drives a ContextManager exactly as the kernel's ReAct program does
 * (append → prepare → render) and reports cache, cost, utilisation and fault figures. Used by the bench
 * suite `context` and by the tests; deterministic for a given seed.
 */
import type { ToolSpec } from '../llm/model.js';
import { mulberry32 } from '../util/random.js';
import { ContextManager, type RenderResult } from './manager.js';
import type { ContextMetrics } from './metrics.js';
import type { Replacer } from './replacer.js';
import type { PageStore } from './store.js';

export { mulberry32 };

export const VOCAB = (
  'table index query schema column migration vector page cache token budget process kernel scheduler ' +
  'agent tool result error retry timeout lease epoch fence audit chain hash signature anchor policy sandbox ' +
  'file path read write directory config yaml json parse render prompt model provider usage cost price ' +
  'latency throughput fairness priority queue worker slot node cluster storage driver postgres pglite test ' +
  'function class module import export return value string number array object promise async await stream'
).split(' ');

export function words(rnd: () => number, n: number, topic: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const w = rnd() < 0.3 ? topic[Math.floor(rnd() * topic.length)] : VOCAB[Math.floor(rnd() * VOCAB.length)];
    out.push(w ?? 'x');
    if (i % 12 === 11) out.push(rnd() < 0.5 ? '.\n' : ';');
  }
  return out.join(' ');
}

/** Lognormal token count: median `median`, shape `sigma`. */
export function lognormal(rnd: () => number, median: number, sigma: number): number {
  const u = Math.max(1e-12, rnd());
  const v = rnd();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.max(5, Math.round(median * Math.exp(sigma * z)));
}

export const WORKLOAD_TOOLS: ToolSpec[] = [
  'read_file',
  'write_file',
  'run_shell',
  'search_code',
  'http_get',
  'sql_query',
  'recall',
  'list_dir',
].map((name) => ({
  name,
  description: `${name.replace('_', ' ')}: performs the operation and returns its output as text.`,
  parameters: {
    type: 'object',
    properties: { arg: { type: 'string', description: 'the argument' } },
    required: ['arg'],
  },
}));

const ACTION_TOOLS = WORKLOAD_TOOLS.map((t) => t.name).filter((n) => n !== 'recall');

export interface WorkloadOptions {
  steps: number;
  contextWindow: number;
  seed: number;
  replacer?: Replacer;
  store?: PageStore;
  /** Median observation size in tokens (default 350). */
  medianObservation?: number;
  /** Chance a step's output is huge (20k–120k tokens; default 0.03). */
  hugeChance?: number;
  /** Chance a step recalls an earlier page by query (default 0.04). */
  recallChance?: number;
  pid?: number;
  /** Sees every rendered prompt (e.g. to replay it against the simulator's cache). */
  onRender?: (r: RenderResult) => void;
}

export interface WorkloadResult {
  policy: string;
  steps: number;
  contextWindow: number;
  hitRatio: number;
  /** Hit ratio had no prompt ever changed before its end (new tokens per step are always a miss). */
  ceilingHitRatio: number;
  anthropicHitRatio: number;
  vllmHitRatio: number;
  relativeInputCost: number;
  meanUtilisation: number;
  maxTokens: number;
  budget: number;
  overflow: boolean;
  faultRate: number;
  evictionEvents: number;
  cacheBreaks: number;
  metrics: ContextMetrics;
}

export async function runWorkload(opts: WorkloadOptions): Promise<WorkloadResult> {
  const rnd = mulberry32(opts.seed);
  const cm = new ContextManager({
    ...(opts.replacer ? { replacer: opts.replacer } : {}),
    ...(opts.store ? { store: opts.store } : {}),
  });
  const pid = opts.pid ?? 1;
  const median = opts.medianObservation ?? 350;
  const huge = opts.hugeChance ?? 0.03;
  const recallChance = opts.recallChance ?? 0.04;
  const sys = `You are a careful software agent. ${words(rnd, 600, VOCAB)}`;
  cm.open(pid, {
    contextWindow: opts.contextWindow,
    system: sys,
    tools: WORKLOAD_TOOLS,
    task: `Task: ${words(rnd, 80, VOCAB)}`,
  });
  let maxTokens = 0;
  let overflow = false;
  const topics: string[][] = [];
  let callId = 0;
  for (let step = 0; step < opts.steps; step++) {
    const topic = Array.from({ length: 4 }, () => `t${Math.floor(rnd() * 40)}x${Math.floor(rnd() * 7)}`);
    topics.push(topic);
    await cm.prepare(pid, { currentStep: `step ${step}: ${topic.join(' ')}` });
    try {
      const r = cm.render(pid);
      opts.onRender?.(r);
      maxTokens = Math.max(maxTokens, r.tokens);
      if (r.tokens > r.stats.budget) overflow = true;
    } catch {
      overflow = true;
      break;
    }
    const recall = step > 5 && rnd() < recallChance;
    const calls = recall ? 1 : rnd() < 0.15 ? 2 + Math.floor(rnd() * 3) : 1;
    const toolCalls = Array.from({ length: calls }, (_, i) => ({
      id: `call_${++callId}`,
      name: recall ? 'recall' : (ACTION_TOOLS[Math.floor(rnd() * ACTION_TOOLS.length)] ?? 'read_file'),
      arguments: JSON.stringify({ arg: `${topic[i % topic.length]} ${step}` }),
    }));
    cm.append(pid, { kind: 'assistant', content: words(rnd, 20 + Math.floor(rnd() * 80), topic), toolCalls });
    for (const c of toolCalls) {
      let output: string;
      if (c.name === 'recall') {
        const old = topics[Math.floor(rnd() * (topics.length - 1))] ?? topic;
        output = await cm.recall(pid, { query: old.join(' ') });
      } else {
        const n = rnd() < huge ? 20_000 + Math.floor(rnd() * 100_000) : lognormal(rnd, median, 1.1);
        output = words(rnd, Math.round(n * 0.8), topic);
      }
      cm.appendToolResult(pid, { toolCallId: c.id, name: c.name, output });
    }
  }
  const m = cm.metrics(pid);
  await cm.close(pid);
  return {
    policy: cm.replacer.name,
    steps: opts.steps,
    contextWindow: opts.contextWindow,
    hitRatio: m.cache.openaiHitRatio,
    ceilingHitRatio: m.cache.ceilingHitRatio,
    anthropicHitRatio: m.cache.anthropicHitRatio,
    vllmHitRatio: m.cache.vllmHitRatio,
    relativeInputCost: m.cost.relative,
    meanUtilisation: m.meanUtilisation,
    maxTokens,
    budget: m.budget,
    overflow,
    faultRate: m.faultRate,
    evictionEvents: m.evictionEvents,
    cacheBreaks: m.cache.cacheBreaks,
    metrics: m,
  };
}
