/**
 * Analysis that names causes: success rate and the distributions of steps, tokens, cost and cache hit for
 * a set of trajectories (one agent, program, profile or task family), failure modes ranked, tool errors by
 * tool and code, and suggestions derived from those numbers. Every suggestion carries its evidence and the
 * exact change; there is no suggestion without a number behind it. Pure functions over trajectories.
 */
import type { FailureMode, Trajectory } from './trajectory.js';

export interface Distribution {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  min: number;
  max: number;
}

export interface ToolErrorStat {
  tool: string;
  code: string;
  count: number;
  /** Calls of this tool in the analysed runs, and the share of them that failed with this code. */
  calls: number;
  rate: number;
  /** Up to three distinct argument values (paths, URLs, commands) seen with the error. */
  examples: string[];
}

export interface Suggestion {
  id: string;
  kind: 'max_steps' | 'budget' | 'policy' | 'prompt' | 'prompt_cache' | 'model';
  title: string;
  /** The numbers the suggestion stands on. */
  evidence: Record<string, number | string>;
  /** The exact change to a profile: a key and the value to set (or add, for lists). */
  change: { key: string; op: 'set' | 'add'; value: unknown; from?: unknown };
}

export interface Analysis {
  subject: string;
  runs: number;
  finished: number;
  successes: number;
  successRate: number;
  steps: { all: Distribution; success: Distribution; failed: Distribution };
  tokens: Distribution;
  cost: Distribution;
  /** Cached share of all input tokens over the runs (null when no model call reported usage). */
  cacheHitRatio: number | null;
  failureModes: Array<{ mode: FailureMode; count: number; share: number; example: string | null }>;
  toolErrors: ToolErrorStat[];
  systemPromptVariants: number;
  suggestions: Suggestion[];
}

export function distribution(xs: readonly number[]): Distribution {
  if (xs.length === 0) return { n: 0, mean: 0, p50: 0, p90: 0, min: 0, max: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return {
    n: s.length,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    p50: q(0.5),
    p90: q(0.9),
    min: s[0]!,
    max: s[s.length - 1]!,
  };
}

const pct = (x: number) => `${Math.round(x * 1000) / 10} %`;

function argSummary(a: unknown): string {
  if (typeof a === 'string') return a.slice(0, 120);
  if (a && typeof a === 'object') {
    const o = a as Record<string, unknown>;
    for (const k of ['path', 'url', 'command', 'file', 'dir', 'query'])
      if (typeof o[k] === 'string') return String(o[k]).slice(0, 120);
    const first = Object.values(o).find((v) => typeof v === 'string');
    if (typeof first === 'string') return first.slice(0, 120);
  }
  return JSON.stringify(a ?? null).slice(0, 120);
}

function dirOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i > 0 ? p.slice(0, i) : p;
}

export function analyzeTrajectories(subject: string, all: readonly Trajectory[]): Analysis {
  const runs = all.filter((t) => t.outcome !== 'running');
  const ok = runs.filter((t) => t.success);
  const bad = runs.filter((t) => !t.success);
  const stepsOf = (ts: readonly Trajectory[]) => ts.map((t) => t.totals.steps);
  const tokensIn = runs.reduce((a, t) => a + t.totals.tokensIn, 0);
  const tokensCached = runs.reduce((a, t) => a + t.totals.tokensCached, 0);

  const modes = new Map<FailureMode, { count: number; example: string | null }>();
  for (const t of bad) {
    const m = t.failureMode ?? 'other';
    const e = modes.get(m) ?? { count: 0, example: t.exitReason };
    e.count += 1;
    modes.set(m, e);
  }
  const failureModes = [...modes.entries()]
    .map(([mode, e]) => ({
      mode,
      count: e.count,
      share: runs.length ? e.count / runs.length : 0,
      example: e.example,
    }))
    .sort((a, b) => b.count - a.count || a.mode.localeCompare(b.mode));

  const callsPerTool = new Map<string, number>();
  const errs = new Map<string, ToolErrorStat>();
  for (const t of runs)
    for (const s of t.steps)
      for (const c of s.toolCalls) {
        if (c.name === 'final_answer') continue;
        callsPerTool.set(c.name, (callsPerTool.get(c.name) ?? 0) + 1);
        if (c.ok) continue;
        const key = `${c.name}\u0000${c.errorCode}`;
        const e = errs.get(key) ?? {
          tool: c.name,
          code: c.errorCode ?? 'ETOOL',
          count: 0,
          calls: 0,
          rate: 0,
          examples: [],
        };
        e.count += 1;
        const ex = argSummary(c.arguments);
        if (e.examples.length < 3 && !e.examples.includes(ex)) e.examples.push(ex);
        errs.set(key, e);
      }
  const toolErrors = [...errs.values()]
    .map((e) => {
      const calls = callsPerTool.get(e.tool) ?? e.count;
      return { ...e, calls, rate: calls ? e.count / calls : 0 };
    })
    .sort((a, b) => b.count - a.count || a.tool.localeCompare(b.tool));

  const variants = new Set(runs.map((t) => t.systemHash).filter((h): h is string => h !== null));
  const a: Analysis = {
    subject,
    runs: all.length,
    finished: runs.length,
    successes: ok.length,
    successRate: runs.length ? ok.length / runs.length : 0,
    steps: {
      all: distribution(stepsOf(runs)),
      success: distribution(stepsOf(ok)),
      failed: distribution(stepsOf(bad)),
    },
    tokens: distribution(runs.map((t) => t.totals.tokensIn + t.totals.tokensOut)),
    cost: distribution(runs.map((t) => t.totals.cost)),
    cacheHitRatio: tokensIn > 0 ? tokensCached / tokensIn : null,
    failureModes,
    toolErrors,
    systemPromptVariants: variants.size,
    suggestions: [],
  };
  a.suggestions = suggest(a, runs);
  return a;
}

/** Each rule reads the numbers above; a rule that lacks its numbers proposes nothing. */
function suggest(a: Analysis, runs: readonly Trajectory[]): Suggestion[] {
  const out: Suggestion[] = [];
  if (a.finished === 0) return out;
  const mode = (m: FailureMode) => a.failureModes.find((f) => f.mode === m);

  const sl = mode('step_limit');
  if (sl && sl.share >= 0.1) {
    const limits = runs
      .filter((t) => t.failureMode === 'step_limit' && t.maxSteps !== null)
      .map((t) => t.maxSteps!);
    const limit = limits.length ? Math.max(...limits) : a.steps.failed.max;
    const okSteps = a.steps.success;
    const to = Math.max(limit + 1, Math.ceil(Math.max(okSteps.max, limit) * 1.3));
    out.push({
      id: 'raise-max-steps',
      kind: 'max_steps',
      title:
        okSteps.n > 0
          ? `${pct(sl.share)} of runs end at max_steps=${limit} while succeeding runs take ${okSteps.min}–${okSteps.max} steps: raise max_steps to ${to}`
          : `${pct(sl.share)} of runs end at max_steps=${limit} and none succeeded: raise max_steps to ${to} or narrow the task`,
      evidence: {
        runs: a.finished,
        stepLimitFailures: sl.count,
        share: Math.round(sl.share * 1000) / 1000,
        maxSteps: limit,
        successStepsMin: okSteps.min,
        successStepsMax: okSteps.max,
      },
      change: { key: 'budgets.maxSteps', op: 'set', value: to, from: limit },
    });
  }

  const bu = mode('budget');
  if (bu && bu.share >= 0.1) {
    const okTok = a.steps.success.n
      ? distribution(runs.filter((t) => t.success).map((t) => t.totals.tokensIn + t.totals.tokensOut))
      : null;
    const to = okTok ? Math.ceil(okTok.p90 * 1.25) : Math.ceil(a.tokens.max * 2);
    out.push({
      id: 'raise-token-budget',
      kind: 'budget',
      title: okTok
        ? `${pct(bu.share)} of runs stop on their budget while succeeding runs use up to ${okTok.p90} tokens (p90): set maxTokens to ${to}`
        : `${pct(bu.share)} of runs stop on their budget and none succeeded within it: set maxTokens to ${to}`,
      evidence: {
        runs: a.finished,
        budgetFailures: bu.count,
        successTokensP90: okTok?.p90 ?? 0,
        tokensMax: a.tokens.max,
      },
      change: { key: 'budgets.maxTokens', op: 'set', value: to },
    });
  }

  for (const e of a.toolErrors) {
    if (e.count < 2 || e.rate < 0.2) continue;
    const ex = e.examples[0] ?? '';
    if (e.code === 'EPERM' || e.code === 'EACCES') {
      const dir = dirOf(ex);
      out.push({
        id: `allow-${e.tool}-${dir}`,
        kind: 'policy',
        title: `${e.tool} fails ${pct(e.rate)} of its calls with ${e.code} on ${dir}: allow it (allowed_paths) or mount it into the workspace`,
        evidence: {
          tool: e.tool,
          code: e.code,
          errors: e.count,
          calls: e.calls,
          rate: Math.round(e.rate * 1000) / 1000,
          path: ex,
        },
        change: { key: 'policy.allowed_paths', op: 'add', value: dir },
      });
    } else if (e.code === 'ENOENT' || e.code === 'ENOTFOUND') {
      out.push({
        id: `missing-${e.tool}-${ex}`,
        kind: 'prompt',
        title: `${e.tool} fails ${pct(e.rate)} of its calls with ${e.code} (${e.examples.join(', ')}): say in the system prompt where those files are (learned lessons do this per task)`,
        evidence: {
          tool: e.tool,
          code: e.code,
          errors: e.count,
          calls: e.calls,
          rate: Math.round(e.rate * 1000) / 1000,
        },
        change: {
          key: 'system_addendum',
          op: 'add',
          value: `The paths ${e.examples.join(', ')} do not exist; list the workspace before reading.`,
        },
      });
    } else if (e.code === 'EINVAL') {
      out.push({
        id: `args-${e.tool}`,
        kind: 'prompt',
        title: `${e.tool} rejects ${pct(e.rate)} of its calls as invalid arguments: add an example call to the system prompt`,
        evidence: {
          tool: e.tool,
          code: e.code,
          errors: e.count,
          calls: e.calls,
          rate: Math.round(e.rate * 1000) / 1000,
        },
        change: {
          key: 'system_addendum',
          op: 'add',
          value: `Call ${e.tool} with arguments that match its schema exactly.`,
        },
      });
    } else if (e.code === 'ETIMEDOUT') {
      out.push({
        id: `timeout-${e.tool}`,
        kind: 'policy',
        title: `${e.tool} times out on ${pct(e.rate)} of its calls: raise its timeout or narrow the command`,
        evidence: { tool: e.tool, code: e.code, errors: e.count, calls: e.calls },
        change: { key: 'policy.tool_timeout_ms', op: 'set', value: 120_000 },
      });
    }
  }

  const pv = mode('provider');
  if (pv && pv.share >= 0.1) {
    out.push({
      id: 'fallback-model',
      kind: 'model',
      title: `${pct(pv.share)} of runs fail on provider errors (${pv.example ?? ''}): configure a fallback model`,
      evidence: { runs: a.finished, providerFailures: pv.count },
      change: { key: 'fallback_model', op: 'set', value: '<a model on another provider>' },
    });
  }
  const mf = mode('malformed_tool_calls');
  if (mf && mf.count >= 1) {
    out.push({
      id: 'malformed-tool-calls',
      kind: 'model',
      title: `${mf.count} run(s) fail on repeated malformed tool-call JSON: use a model with native tool calling or lower its temperature`,
      evidence: { runs: a.finished, malformedFailures: mf.count },
      change: { key: 'model', op: 'set', value: '<a model with reliable tool calling>' },
    });
  }

  if (a.systemPromptVariants > 1) {
    const byHash = new Map<string, { in: number; cached: number; n: number }>();
    for (const t of runs) {
      if (!t.systemHash) continue;
      const e = byHash.get(t.systemHash) ?? { in: 0, cached: 0, n: 0 };
      e.in += t.totals.tokensIn;
      e.cached += t.totals.tokensCached;
      e.n += 1;
      byHash.set(t.systemHash, e);
    }
    const common = [...byHash.values()].sort((x, y) => y.n - x.n)[0]!;
    const rest = [...byHash.values()].filter((x) => x !== common);
    const restIn = rest.reduce((s, x) => s + x.in, 0);
    const restCached = rest.reduce((s, x) => s + x.cached, 0);
    const hitCommon = common.in ? common.cached / common.in : 0;
    const hitRest = restIn ? restCached / restIn : 0;
    if (hitCommon > hitRest) {
      out.push({
        id: 'stable-system-prompt',
        kind: 'prompt_cache',
        title: `the system prompt changes between runs (${a.systemPromptVariants} variants) and runs off the common one hit the cache ${pct(hitRest)} vs ${pct(hitCommon)}: keep it identical and move per-run data into the task`,
        evidence: {
          variants: a.systemPromptVariants,
          cacheHitCommon: Math.round(hitCommon * 1000) / 1000,
          cacheHitOthers: Math.round(hitRest * 1000) / 1000,
        },
        change: { key: 'system', op: 'set', value: '<one system prompt for every run>' },
      });
    }
  }
  return out;
}
