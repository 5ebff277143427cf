/**
 * Evals: a suite of tasks with checks on the answer and on the trajectory, run N times at a chosen
 * concurrency through the kernel's scheduler, reported as pass rate, steps, tokens, cost, cache hit and
 * latency, with the previous run of the same suite beside it (regressions marked). Suites are YAML
 * (schema below, documented in docs/learning.md); results append to <data_dir>/evals/<suite>.jsonl.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { KernelError } from '../errors.js';
import { distribution } from './analyze.js';
import type { Learning } from './learning.js';
import type { Trajectory } from './trajectory.js';

const Check = z.union([
  z.object({ exact: z.string() }).strict(),
  z.object({ contains: z.string() }).strict(),
  z.object({ regex: z.string() }).strict(),
  z.object({ number: z.number(), tolerance: z.number().nonnegative().optional() }).strict(),
  z.object({ json_schema: z.record(z.string(), z.unknown()) }).strict(),
  z.object({ js: z.string() }).strict(),
  z.object({ max_steps: z.number().int().positive() }).strict(),
  z.object({ max_tokens: z.number().int().positive() }).strict(),
  z.object({ no_tool: z.string() }).strict(),
  z.object({ uses_tool: z.string() }).strict(),
  z.object({ outcome: z.enum(['done', 'failed', 'killed']) }).strict(),
]);
export type EvalCheck = z.infer<typeof Check>;

/** A suite's name is also its history file's name in <data_dir>/evals. */
const SUITE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

export const EvalSuiteSchema = z
  .object({
    name: z
      .string()
      .regex(SUITE_NAME, 'a suite name is 1–64 letters, digits, _ . - (not starting with a dot)'),
    description: z.string().optional(),
    model: z.string().optional(),
    concurrency: z.number().int().positive().max(256).default(4),
    repeat: z.number().int().positive().max(100).default(1),
    max_steps: z.number().int().positive().optional(),
    /** Files put in each task run's workspace before it starts (path → content). */
    files: z.record(z.string(), z.string()).default({}),
    tasks: z
      .array(
        z
          .object({
            name: z.string().min(1),
            task: z.string().min(1),
            max_steps: z.number().int().positive().optional(),
            checks: z.array(Check).min(1, 'a task needs at least one check'),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();
export type EvalSuite = z.infer<typeof EvalSuiteSchema>;

export function loadSuite(path: string): EvalSuite {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KernelError('EINVAL', `${path}: cannot read the eval suite: ${(err as Error).message}`);
  }
  const r = EvalSuiteSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new KernelError('EINVAL', `${path}: ${first.path.join('.') || '(top)'}: ${first.message}`);
  }
  return r.data;
}

export interface CheckResult {
  check: string;
  pass: boolean;
  detail: string;
}

export interface EvalRun {
  task: string;
  repetition: number;
  pid: number;
  pass: boolean;
  answer: string;
  checks: CheckResult[];
  steps: number;
  tokens: number;
  cost: number;
  cacheHit: number | null;
  latencyMs: number;
}

export interface EvalSummary {
  passRate: number;
  runs: number;
  stepsMean: number;
  tokensMean: number;
  costTotal: number;
  cacheHit: number | null;
  latencyP50Ms: number;
  latencyP90Ms: number;
}

export interface EvalReport {
  suite: string;
  startedAt: string;
  model: string | null;
  summary: EvalSummary;
  previous: (EvalSummary & { startedAt: string }) | null;
  /** Metrics that got worse than the previous run (pass rate down, or steps/tokens/cost up > 10 %). */
  regressions: string[];
  perTask: Array<{ task: string; passRate: number; stepsMean: number; previousPassRate: number | null }>;
  runs: EvalRun[];
}

/** What eval needs of a kernel: its user verbs and its learning layer. */
export interface EvalHost {
  /** `files` go into the process's workspace before its first step (each task's run sees a fresh copy). */
  spawn(o: {
    name: string;
    task: string;
    model?: string;
    args?: unknown;
    files?: Readonly<Record<string, string>>;
  }): Promise<number>;
  wait(pid: number): Promise<unknown>;
  readonly learning: Learning;
}

function answerText(result: unknown): string {
  if (typeof result === 'string') return result;
  if (result === null || result === undefined) return '';
  return JSON.stringify(result);
}

/** JSON Schema checks use Ajv (the field's validator; already installed with Fastify), loaded on first use. */
let ajv: Promise<{
  compile(s: object): {
    (v: unknown): boolean;
    errors?: Array<{ instancePath: string; message?: string }> | null;
  };
}> | null = null;
function validator() {
  ajv ??= import('ajv').then((m) => {
    const Ajv = (m.default ?? m) as unknown as new (o: object) => { compile(s: object): never };
    return new Ajv({ allErrors: true, strict: false });
  });
  return ajv;
}

export async function runCheck(c: EvalCheck, answer: string, t: Trajectory): Promise<CheckResult> {
  const tools = t.steps.flatMap((s) => s.toolCalls.map((x) => x.name));
  if ('exact' in c)
    return {
      check: `exact ${JSON.stringify(c.exact)}`,
      pass: answer.trim() === c.exact,
      detail: answer.slice(0, 200),
    };
  if ('contains' in c)
    return {
      check: `contains ${JSON.stringify(c.contains)}`,
      pass: answer.toLowerCase().includes(c.contains.toLowerCase()),
      detail: answer.slice(0, 200),
    };
  if ('regex' in c)
    return {
      check: `regex /${c.regex}/`,
      pass: new RegExp(c.regex, 'i').test(answer),
      detail: answer.slice(0, 200),
    };
  if ('number' in c) {
    const nums = (answer.match(/-?\d+(?:\.\d+)?(?:e-?\d+)?/gi) ?? []).map(Number);
    const tol = c.tolerance ?? 1e-9;
    return {
      check: `number ${c.number}`,
      pass: nums.some((n) => Math.abs(n - c.number) <= tol),
      detail: `numbers in answer: ${nums.slice(0, 8).join(', ') || 'none'}`,
    };
  }
  if ('json_schema' in c) {
    let v: unknown;
    try {
      v = JSON.parse(answer);
    } catch {
      return { check: 'json_schema', pass: false, detail: 'the answer is not JSON' };
    }
    const validate = (await validator()).compile(c.json_schema);
    const pass = validate(v);
    const errs = (validate.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message ?? ''}`.trim());
    return { check: 'json_schema', pass, detail: errs.slice(0, 3).join('; ') || 'valid' };
  }
  if ('js' in c) {
    try {
      // The suite file is the operator's own code, run in the CLI's process like a test file.
      const f = new Function('answer', 'trajectory', `return (${c.js})(answer, trajectory);`) as (
        a: string,
        t: Trajectory,
      ) => unknown;
      return { check: `js ${c.js.slice(0, 60)}`, pass: Boolean(f(answer, t)), detail: '' };
    } catch (err) {
      return {
        check: `js ${c.js.slice(0, 60)}`,
        pass: false,
        detail: `predicate threw: ${(err as Error).message}`,
      };
    }
  }
  if ('max_steps' in c)
    return {
      check: `max_steps ${c.max_steps}`,
      pass: t.totals.steps <= c.max_steps,
      detail: `${t.totals.steps} steps`,
    };
  if ('max_tokens' in c) {
    const n = t.totals.tokensIn + t.totals.tokensOut;
    return { check: `max_tokens ${c.max_tokens}`, pass: n <= c.max_tokens, detail: `${n} tokens` };
  }
  if ('no_tool' in c)
    return {
      check: `no_tool ${c.no_tool}`,
      pass: !tools.includes(c.no_tool),
      detail: `tools: ${[...new Set(tools)].join(', ') || 'none'}`,
    };
  if ('uses_tool' in c)
    return {
      check: `uses_tool ${c.uses_tool}`,
      pass: tools.includes(c.uses_tool),
      detail: `tools: ${[...new Set(tools)].join(', ') || 'none'}`,
    };
  return {
    check: `outcome ${c.outcome}`,
    pass: t.outcome === c.outcome,
    detail: `${t.outcome}${t.exitReason ? `: ${t.exitReason}` : ''}`,
  };
}

function summarise(runs: readonly EvalRun[]): EvalSummary {
  const lat = distribution(runs.map((r) => r.latencyMs));
  const hits = runs.filter((r) => r.cacheHit !== null);
  return {
    passRate: runs.length ? runs.filter((r) => r.pass).length / runs.length : 0,
    runs: runs.length,
    stepsMean: distribution(runs.map((r) => r.steps)).mean,
    tokensMean: distribution(runs.map((r) => r.tokens)).mean,
    costTotal: runs.reduce((a, r) => a + r.cost, 0),
    cacheHit: hits.length ? hits.reduce((a, r) => a + (r.cacheHit ?? 0), 0) / hits.length : null,
    latencyP50Ms: lat.p50,
    latencyP90Ms: lat.p90,
  };
}

export interface EvalOptions {
  repeat?: number;
  concurrency?: number;
  model?: string;
  /** Where results accumulate (<dir>/<suite>.jsonl); null keeps no history. */
  historyDir?: string | null;
  onRun?: (r: EvalRun) => void;
}

export async function runEval(host: EvalHost, suite: EvalSuite, o: EvalOptions = {}): Promise<EvalReport> {
  const startedAt = new Date().toISOString();
  // Checked once, before any task runs (each spawn checks them again, src/io/workspaces.ts checkSeedPath).
  for (const rel of Object.keys(suite.files)) {
    if (isAbsolute(rel) || !resolve('/ws', rel).startsWith('/ws/'))
      throw new KernelError('EINVAL', `suite ${suite.name}: file ${rel} is outside the workspace`);
  }
  const files = Object.keys(suite.files).length ? suite.files : undefined;
  const repeat = o.repeat ?? suite.repeat;
  const model = o.model ?? suite.model;
  const jobs: Array<{ task: EvalSuite['tasks'][number]; rep: number }> = [];
  for (let rep = 0; rep < repeat; rep++) for (const task of suite.tasks) jobs.push({ task, rep });
  const runs: EvalRun[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { task, rep } = jobs[next++]!;
      const t0 = performance.now();
      const maxSteps = task.max_steps ?? suite.max_steps;
      const pid = await host.spawn({
        name: `eval:${suite.name}:${task.name}`,
        task: task.task,
        ...(model ? { model } : {}),
        ...(maxSteps ? { args: { maxSteps } } : {}),
        ...(files ? { files } : {}),
      });
      await host.wait(pid);
      const latencyMs = performance.now() - t0;
      const t = await host.learning.trajectory(pid);
      const answer = answerText(t.result);
      const checks = await Promise.all(task.checks.map((c) => runCheck(c, answer, t)));
      const run: EvalRun = {
        task: task.name,
        repetition: rep,
        pid,
        pass: checks.every((c) => c.pass),
        answer: answer.slice(0, 2000),
        checks,
        steps: t.totals.steps,
        tokens: t.totals.tokensIn + t.totals.tokensOut,
        cost: t.totals.cost,
        cacheHit: t.totals.tokensIn ? t.totals.tokensCached / t.totals.tokensIn : null,
        latencyMs: Math.round(latencyMs * 10) / 10,
      };
      runs.push(run);
      o.onRun?.(run);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency ?? suite.concurrency, jobs.length) }, worker),
  );
  runs.sort((a, b) => a.task.localeCompare(b.task) || a.repetition - b.repetition);

  const summary = summarise(runs);
  const histFile = o.historyDir ? join(o.historyDir, `${suite.name}.jsonl`) : null;
  const prevReport = histFile && existsSync(histFile) ? lastLine(histFile) : null;
  const previous = prevReport ? { ...prevReport.summary, startedAt: prevReport.startedAt } : null;
  const regressions: string[] = [];
  if (previous) {
    if (summary.passRate < previous.passRate)
      regressions.push(`pass rate ${pct(previous.passRate)} → ${pct(summary.passRate)}`);
    for (const [k, label] of [
      ['stepsMean', 'steps'],
      ['tokensMean', 'tokens'],
      ['costTotal', 'cost'],
    ] as const) {
      if (previous[k] > 0 && summary[k] > previous[k] * 1.1)
        regressions.push(
          `${label} ${round(previous[k])} → ${round(summary[k])} (+${pct(summary[k] / previous[k] - 1)})`,
        );
    }
  }
  const perTask = suite.tasks.map((t) => {
    const rs = runs.filter((r) => r.task === t.name);
    const prev = prevReport?.perTask.find((p) => p.task === t.name);
    return {
      task: t.name,
      passRate: rs.length ? rs.filter((r) => r.pass).length / rs.length : 0,
      stepsMean: distribution(rs.map((r) => r.steps)).mean,
      previousPassRate: prev ? prev.passRate : null,
    };
  });
  for (const p of perTask)
    if (p.previousPassRate !== null && p.passRate < p.previousPassRate)
      regressions.push(`task ${p.task}: pass rate ${pct(p.previousPassRate)} → ${pct(p.passRate)}`);
  const report: EvalReport = {
    suite: suite.name,
    startedAt,
    model: model ?? null,
    summary,
    previous,
    regressions,
    perTask,
    runs,
  };
  if (histFile) {
    mkdirSync(dirname(histFile), { recursive: true });
    appendFileSync(histFile, `${JSON.stringify({ ...report, runs: undefined })}\n`, { mode: 0o600 });
  }
  return report;
}

function lastLine(file: string): EvalReport | null {
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]!) as EvalReport;
    } catch {
      // A torn last line (killed mid-write) is skipped, not fatal.
    }
  }
  return null;
}

/** The eval history of a suite (oldest first), for charts. */
export function evalHistory(historyDir: string, suite: string): Array<Omit<EvalReport, 'runs'>> {
  // The name comes from a URL or a file: it names a file in historyDir and nothing else.
  if (!SUITE_NAME.test(suite))
    throw new KernelError(
      'EINVAL',
      `eval suite name ${JSON.stringify(suite.slice(0, 80))} is not a plain name (letters, digits, . _ -, not starting with a dot)`,
    );
  const file = join(historyDir, `${suite}.jsonl`);
  if (!existsSync(file)) return [];
  const out: Array<Omit<EvalReport, 'runs'>> = [];
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    if (!l.trim()) continue;
    try {
      out.push(JSON.parse(l) as EvalReport);
    } catch {}
  }
  return out;
}

const pct = (x: number) => `${Math.round(x * 1000) / 10} %`;
const round = (x: number) => Math.round(x * 100) / 100;
