/**
 * Learning bench: does experience make the next run cheaper, what does it cost, and does retrieval pick
 * the right lessons. Honest about what it measures: the model is the project's rule-based simulator, which
 * follows explicit instructions in its context (an instruction-following stand-in, not a real model).
 *
 * - family off/on: one task family whose first attempts hit a real obstacle — the task names
 *   notes/inventory-<n>.txt, the file lives in data/ — run as 20 tasks in order on a fresh kernel with
 *   learning off, then on a fresh kernel with learning on (same tasks, same workspace layout, same
 *   simulator). Off, every run finds the file by listing directories; on, a lesson distilled from the
 *   first run ("read_file: use data/ instead of notes/") reaches the next runs' system prompt.
 *   Per task: success (answer names the right number), steps, tokens, cost.
 * - overhead: what learning adds per process — lesson retrieval at spawn (ms, and the lesson page's
 *   tokens in the prompt) and lesson extraction at exit (ms), measured by calling the same functions the
 *   kernel calls at spawn and exit; and, with the model served over HTTP (so the kernel asks it to write
 *   lessons at exit), that call's tokens and time from the process's audit stream.
 * - retrieval precision: 50 labelled task pairs (25 similar: same family, other parameters or a
 *   paraphrase; 25 dissimilar: different families), one lesson stored from the first task of a pair,
 *   retrieval asked for the second with the default threshold. Precision and recall of "a lesson came
 *   back" against the label.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Kernel } from '../../kernel/kernel.js';
import { lessonsPage } from '../../learning/lessons.js';
import type { Trajectory } from '../../learning/trajectory.js';
import { countTokens } from '../../llm/tokenizer.js';
import { type BenchCase, defineBench } from '../harness.js';

interface TaskRun {
  success: number;
  steps: number;
  tokens: number;
  cost: number;
  retrieveMs: number;
  pageTokens: number;
}

const apples = (n: number) => 10 + n;

function plant(workspace: string, n: number): string {
  mkdirSync(join(workspace, 'data'), { recursive: true });
  writeFileSync(join(workspace, 'data', `inventory-${n}.txt`), `apples: ${apples(n)}\npears: ${n}\n`);
  return `Read notes/inventory-${n}.txt and report how many apples it lists.`;
}

async function boot(enabled: boolean, dir: string, modelUrl?: string): Promise<Kernel> {
  const { createKernel } = await import('../../kernel/kernel.js');
  return createKernel({
    storage: 'memory://',
    config: {
      ...(modelUrl
        ? {
            default_model: 'gpt-sim',
            llms: {
              models: [{ name: 'gpt-sim', provider: 'openai', base_url: modelUrl, api_key: 'sk-bench' }],
            },
          }
        : {}),
      data_dir: join(dir, 'data'),
      security: { sandbox: 'none', workspace: join(dir, 'ws'), default_policy: { ask_tools: [] } },
      learning: { enabled },
    },
    plugins: false,
  });
}

async function runFamily(
  enabled: boolean,
  n: number,
  modelUrl?: string,
): Promise<{
  runs: TaskRun[];
  extractMs: number[];
  lessons: number;
  writeTokens: number[];
  writeMs: number[];
}> {
  const dir = mkdtempSync(join(tmpdir(), `aos-bench-learn-${enabled ? 'on' : 'off'}-`));
  const k = await boot(enabled, dir, modelUrl);
  const runs: TaskRun[] = [];
  const extractMs: number[] = [];
  const writeTokens: number[] = [];
  const writeMs: number[] = [];
  try {
    for (let i = 1; i <= n; i++) {
      const task = plant(join(dir, 'ws'), i);
      // What the kernel does at spawn when learning is on (read-only): timed here, then done again by spawn.
      let retrieveMs = 0;
      let pageTokens = 0;
      if (enabled) {
        const t0 = performance.now();
        const found = await k.learning.lessonsFor(task, {
          k: k.config.learning.lessons_k,
          maxChars: k.config.learning.max_chars,
          minSimilarity: k.config.learning.min_similarity,
        });
        retrieveMs = performance.now() - t0;
        pageTokens = found.length ? countTokens(lessonsPage(found)) : 0;
      }
      const pid = await k.spawn({ name: 'inventory', task, budgets: { maxSteps: 12 } });
      const st = await k.wait(pid, 120_000);
      const t = await k.learning.trajectory(pid);
      runs.push({
        success: st.exitReason === null && String(t.result).includes(String(apples(i))) ? 1 : 0,
        steps: t.totals.steps,
        tokens: t.totals.tokensIn + t.totals.tokensOut,
        cost: t.totals.cost,
        retrieveMs,
        pageTokens,
      });
      if (modelUrl) {
        // The lesson-writing call the kernel made at exit, from the process's audit stream.
        for (const e of await k.storage.audit.list({ stream: `proc:${pid}`, limit: 1000 })) {
          const p = e.payload as {
            purpose?: string;
            ms?: number;
            result?: { usage?: Record<string, number> };
          };
          if (e.kind !== 'llm.chat' || p.purpose !== 'learning') continue;
          writeTokens.push((p.result?.usage?.input ?? 0) + (p.result?.usage?.output ?? 0));
          writeMs.push(p.ms ?? 0);
        }
      }
      if (enabled && !modelUrl) {
        // What the kernel does at exit, into a tenant of its own so the family's lessons stay as they are.
        const t0 = performance.now();
        await k.learning.onExit(pid, { tenant: 'bench-overhead' });
        extractMs.push(performance.now() - t0);
      }
    }
    const lessons = (await k.learning.lessons.list({ limit: 500 })).length;
    return { runs, extractMs, lessons, writeTokens, writeMs };
  } finally {
    await k.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ── retrieval precision over labelled pairs ──

type Tpl = [(n: number) => string, (n: number) => string];
const FAMILIES: Tpl[] = [
  [
    (n) => `Read notes/inventory-${n}.txt and report how many apples it lists.`,
    (n) => `How many apples are listed in notes/inventory-${n}.txt?`,
  ],
  [(n) => `What is ${n} * ${n + 6} + 4?`, (n) => `Compute ${n} times ${n + 6} plus 4.`],
  [
    (n) => `Summarise docs/report-${n}.md in three bullet points.`,
    (n) => `Give a three-bullet summary of docs/report-${n}.md.`,
  ],
  [
    (n) => `Fetch https://example.com/page-${n} and count the links on it.`,
    (n) => `How many links does https://example.com/page-${n} contain?`,
  ],
  [
    (n) => `Find the largest file in logs/day-${n}/ and print its name.`,
    (n) => `Which file in logs/day-${n}/ is the biggest?`,
  ],
  [
    (n) => `Show the last ${n} commits of the repository and who made them.`,
    (n) => `List the authors of the ${n} most recent commits.`,
  ],
  [
    (n) => `读取 notes/inventory-${n}.txt 并报告苹果的数量。`,
    (n) => `notes/inventory-${n}.txt 里有多少个苹果？`,
  ],
  [
    (n) => `Parse data/orders-${n}.json and total the order amounts.`,
    (n) => `Sum the amounts of all orders in data/orders-${n}.json.`,
  ],
];

/** 25 similar pairs (same family: other parameters, or a paraphrase) and 25 dissimilar ones. */
export function labelledPairs(): Array<{ a: string; b: string; similar: boolean }> {
  const out: Array<{ a: string; b: string; similar: boolean }> = [];
  for (let i = 0; out.length < 25; i++) {
    const f = FAMILIES[i % FAMILIES.length]!;
    const paraphrase = Math.floor(i / FAMILIES.length) % 2 === 1;
    out.push({ a: f[0](3 + i), b: (paraphrase ? f[1] : f[0])(40 + i), similar: true });
  }
  for (let i = 0; out.length < 50; i++) {
    const f = FAMILIES[i % FAMILIES.length]!;
    const g = FAMILIES[(i + 1 + (i % 5)) % FAMILIES.length]!;
    if (f === g) continue;
    out.push({ a: f[0](3 + i), b: (i % 2 ? g[1] : g[0])(40 + i), similar: false });
  }
  return out;
}

/** A finished run of `task` that solved it with one tool call: distils to one recipe lesson. */
function solvedRun(pid: number, task: string): Trajectory {
  const at = new Date().toISOString();
  const step = (stepNo: number, name: string, args: unknown, output: string) => ({
    stepNo,
    phases: ['act' as const, 'observe' as const],
    thought: null,
    text: null,
    toolCalls: [{ name, arguments: args, ok: true, output, errorCode: null }],
    tokensIn: 100,
    tokensCached: 0,
    tokensOut: 20,
    cost: 0,
    llmMs: 1,
    cacheHit: 0,
    error: null,
    at,
  });
  const steps = [
    step(1, 'read_file', { path: `input-${pid}.txt` }, 'ok'),
    step(2, 'final_answer', {}, 'done'),
  ];
  return {
    pid,
    agent: 'pairs',
    program: 'react',
    task,
    model: 'sim',
    profile: null,
    outcome: 'done',
    success: true,
    result: 'done',
    exitReason: null,
    failureMode: null,
    maxSteps: 20,
    systemHash: null,
    steps,
    totals: { steps: 2, tokensIn: 200, tokensCached: 0, tokensOut: 40, cost: 0, llmMs: 2 },
    createdAt: at,
    notes: [],
  };
}

async function retrievalPrecision(): Promise<{ tp: number; fp: number; fn: number; tn: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-learn-pairs-'));
  const k = await boot(true, dir);
  const r = { tp: 0, fp: 0, fn: 0, tn: 0 };
  try {
    const pairs = labelledPairs();
    for (const [i, p] of pairs.entries()) {
      const tenant = `pair-${i}`; // one pair per tenant: nothing else can answer
      const stored = await k.learning.lessons.learn(solvedRun(1000 + i, p.a), tenant);
      if (stored.length === 0) throw new Error(`pair ${i}: the solved run distilled to no lesson`);
      const got = await k.learning.lessonsFor(p.b, {
        tenant,
        minSimilarity: k.config.learning.min_similarity,
      });
      const hit = got.length > 0;
      if (hit && p.similar) r.tp++;
      else if (hit) r.fp++;
      else if (p.similar) r.fn++;
      else r.tn++;
    }
    return r;
  } finally {
    await k.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

const col = <K extends keyof TaskRun>(rs: readonly TaskRun[], key: K) => rs.map((r) => r[key] as number);

export const learningBench = defineBench({
  name: 'learning',
  subsystem: 'learning',
  async run(ctx) {
    const n = ctx.quick ? 8 : 20;
    ctx.log(`inventory family, ${n} tasks in order: learning off, then on (simulator, memory://)`);
    const off = await runFamily(false, n);
    const on = await runFamily(true, n);
    ctx.log('the same family with learning on, the model served over HTTP (it also writes lessons at exit)');
    const { createSimulator } = await import('../../llm/simulated/server.js');
    const sim = await createSimulator();
    let model: Awaited<ReturnType<typeof runFamily>>;
    try {
      model = await runFamily(true, n, sim.urlFor('openai'));
    } finally {
      await sim.close();
    }
    ctx.log('retrieval over 50 labelled pairs');
    const pr = await retrievalPrecision();
    const family = (name: string, unit: string, key: keyof TaskRun, notes: string): BenchCase => ({
      name,
      unit,
      ours: { label: 'learning on', samples: col(on.runs, key) },
      baseline: { label: 'learning off', samples: col(off.runs, key) },
      notes,
    });
    const precision = pr.tp + pr.fp ? pr.tp / (pr.tp + pr.fp) : 0;
    const recall = pr.tp + pr.fn ? pr.tp / (pr.tp + pr.fn) : 0;
    return [
      family(
        'family success',
        'share',
        'success',
        `1 = the answer names the file's apple count; mean is the success rate over ${n} tasks`,
      ),
      family('family steps', 'steps', 'steps', 'steps per task (ratio > 1: learning saves steps)'),
      family('family tokens', 'tokens', 'tokens', 'input + output tokens per task, every step'),
      family('family cost', 'usd', 'cost', "the simulator's catalogue price (0 when it has none)"),
      {
        name: 'overhead retrieve',
        unit: 'ms',
        ours: { label: 'lessonsFor(task) at spawn', samples: col(on.runs, 'retrieveMs') },
        notes: `${on.lessons} lessons in the book after ${n} runs`,
      },
      {
        name: 'overhead prompt',
        unit: 'tokens',
        ours: { label: 'lesson page in the system prompt', samples: col(on.runs, 'pageTokens') },
        notes: 'tokens the lessons add to each prompt (stable prefix: cached after the first step)',
      },
      {
        name: 'family steps, model writes lessons',
        unit: 'steps',
        ours: { label: 'learning on, model over HTTP', samples: col(model.runs, 'steps') },
        baseline: { label: 'learning off', samples: col(off.runs, 'steps') },
        notes: `success ${col(model.runs, 'success').filter(Boolean).length}/${n}; ${model.lessons} lessons (extractive + model-written)`,
      },
      {
        name: 'overhead write tokens',
        unit: 'tokens',
        ours: { label: "lesson-writing call at exit (process's model)", samples: model.writeTokens },
        notes: "input + output tokens of the llm.chat with purpose 'learning', charged to the process",
      },
      {
        name: 'overhead write ms',
        unit: 'ms',
        ours: { label: 'lesson-writing call at exit', samples: model.writeMs },
        notes: 'its wall time in the gate (slot wait included), over loopback to the simulator',
      },
      {
        name: 'overhead extract',
        unit: 'ms',
        ours: { label: 'onExit: trajectory, distil, embed, store', samples: on.extractMs },
      },
      {
        name: 'retrieval precision',
        unit: 'share',
        ours: { label: '50 labelled pairs', samples: [precision] },
        notes: `tp ${pr.tp}, fp ${pr.fp}, fn ${pr.fn}, tn ${pr.tn}; recall ${recall.toFixed(2)} (the hashing embedder is lexical: paraphrases with other words can miss)`,
      },
      {
        name: 'retrieval recall',
        unit: 'share',
        ours: { label: '50 labelled pairs', samples: [recall] },
      },
    ];
  },
});
