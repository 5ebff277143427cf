/**
 * Trajectories: a read-only view over the step log (no second copy). One trajectory per process: its
 * ordered steps split into phases (think → act → observe → answer), the model's reasoning, tool calls with
 * arguments and results, tokens, cost, cache hit, latency, errors, and the outcome. `toJsonl` is the export
 * format (one line per step, schema in docs/learning.md) for offline analysis or fine-tuning.
 */
import type { ProcessRow, StepRow } from '../storage/state/types.js';
import { sha256Hex } from '../util/canonical.js';

export type Phase = 'think' | 'act' | 'observe' | 'answer' | 'error' | 'note';
export type Outcome = 'done' | 'failed' | 'killed' | 'running';

export interface TrajectoryToolCall {
  name: string;
  arguments: unknown;
  ok: boolean;
  output: string;
  /** The error code of a failed call (`ENOENT`, `EPERM`, …), parsed from `error CODE: message`. */
  errorCode: string | null;
}

export interface TrajectoryStep {
  stepNo: number;
  phases: Phase[];
  thought: string | null;
  text: string | null;
  toolCalls: TrajectoryToolCall[];
  tokensIn: number;
  tokensCached: number;
  tokensOut: number;
  cost: number;
  llmMs: number;
  /** Cached share of this step's input tokens (null when the step made no model call). */
  cacheHit: number | null;
  error: string | null;
  at: string;
}

export interface Trajectory {
  pid: number;
  agent: string;
  program: string;
  task: string;
  model: string | null;
  profile: string | null;
  outcome: Outcome;
  success: boolean;
  result: unknown;
  exitReason: string | null;
  /** The failure class of the exit reason (`step_limit`, `budget`, `provider`, …), null on success. */
  failureMode: FailureMode | null;
  maxSteps: number | null;
  systemHash: string | null;
  steps: TrajectoryStep[];
  totals: {
    steps: number;
    tokensIn: number;
    tokensCached: number;
    tokensOut: number;
    cost: number;
    llmMs: number;
  };
  createdAt: string;
  /** Annotations added by a program through TrajectoryRecorder.addStep (seeds' API). */
  notes: Array<{ phase: string; thought?: string; action?: string; observation?: string; at: string }>;
}

export type FailureMode =
  | 'step_limit'
  | 'budget'
  | 'provider'
  | 'malformed_tool_calls'
  | 'output_limit'
  | 'policy'
  | 'tool_error'
  | 'killed'
  | 'other';

const LIVE = new Set(['new', 'ready', 'running', 'waiting', 'suspended']);

/** The outcome of a process row: done when it exited without a reason, else from the reason's prefix. */
export function outcomeOf(row: Pick<ProcessRow, 'state' | 'exitReason'>): Outcome {
  if (LIVE.has(row.state)) return 'running';
  if (row.exitReason === null || row.exitReason === '') return 'done';
  if (row.exitReason.startsWith('killed')) return 'killed';
  return 'failed';
}

/** Names the cause behind an exit reason; the analysis ranks these. */
export function classifyFailure(reason: string | null, outcome: Outcome): FailureMode | null {
  if (outcome === 'done' || outcome === 'running') return null;
  if (outcome === 'killed') return 'killed';
  const r = (reason ?? '').toLowerCase();
  if (/step limit|max_steps|maxsteps|budget exceeded: steps/.test(r)) return 'step_limit';
  if (/budget|equota|token limit|cost limit|wall/.test(r)) return 'budget';
  if (/eratelimit|ebackend|eprovider|provider|circuit|429|5\d\d|econnrefused/.test(r)) return 'provider';
  if (/malformed|tool-call json|invalid json/.test(r)) return 'malformed_tool_calls';
  if (/output limit/.test(r)) return 'output_limit';
  if (/eperm|denied|policy/.test(r)) return 'policy';
  if (/etool|tool/.test(r)) return 'tool_error';
  return 'other';
}

const ERR = /^error ([A-Z][A-Z0-9_]+):/;

function parseArgs(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw ?? {};
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

/** One trajectory from a process row and its step rows (ordered by step number). */
export function buildTrajectory(
  row: ProcessRow,
  steps: readonly StepRow[],
  notes: Trajectory['notes'] = [],
): Trajectory {
  const outcome = outcomeOf(row);
  const totals = { steps: steps.length, tokensIn: 0, tokensCached: 0, tokensOut: 0, cost: 0, llmMs: 0 };
  const out: TrajectoryStep[] = [];
  for (const s of steps) {
    const rec = (s.record ?? {}) as Record<string, unknown>;
    const calls = Array.isArray(rec.toolCalls) ? (rec.toolCalls as Array<Record<string, unknown>>) : [];
    const toolCalls: TrajectoryToolCall[] = calls.map((c) => {
      const output = typeof c.output === 'string' ? c.output : '';
      const ok = c.ok !== false;
      return {
        name: String(c.name ?? 'tool'),
        arguments: parseArgs(c.arguments),
        ok,
        output,
        errorCode: ok ? null : (ERR.exec(output)?.[1] ?? 'ETOOL'),
      };
    });
    const u = s.usage ?? {};
    const tokensIn = u.tokensIn ?? 0;
    const tokensCached = u.tokensCached ?? 0;
    const phases: Phase[] = [];
    const thought = str(rec.thought);
    if (thought) phases.push('think');
    if (toolCalls.some((c) => c.name !== 'final_answer')) phases.push('act', 'observe');
    if (s.kind === 'answer' || s.kind === 'done') phases.push('answer');
    if (s.kind === 'fail') phases.push('error');
    if (phases.length === 0) phases.push('note');
    out.push({
      stepNo: s.stepNo,
      phases,
      thought,
      text: str(rec.text),
      toolCalls,
      tokensIn,
      tokensCached,
      tokensOut: u.tokensOut ?? 0,
      cost: u.cost ?? 0,
      llmMs: u.llmMs ?? 0,
      cacheHit: tokensIn > 0 ? tokensCached / tokensIn : null,
      error: s.kind === 'fail' ? (str(rec.error) ?? row.exitReason) : null,
      at: s.createdAt.toISOString(),
    });
    totals.tokensIn += tokensIn;
    totals.tokensCached += tokensCached;
    totals.tokensOut += u.tokensOut ?? 0;
    totals.cost += u.cost ?? 0;
    totals.llmMs += u.llmMs ?? 0;
  }
  const ps = (row.programState ?? {}) as Record<string, unknown>;
  const policy = row.policy ?? {};
  return {
    pid: row.pid,
    agent: row.name,
    program: row.program,
    task: row.task,
    model: row.model,
    profile:
      typeof policy.profile === 'string'
        ? policy.profile
        : typeof ps.profile === 'string'
          ? ps.profile
          : null,
    outcome,
    success: outcome === 'done',
    result: row.result,
    exitReason: row.exitReason,
    failureMode: classifyFailure(row.exitReason, outcome),
    maxSteps: typeof ps.maxSteps === 'number' ? ps.maxSteps : null,
    systemHash: typeof ps.system === 'string' ? sha256Hex(ps.system).slice(0, 12) : null,
    steps: out,
    totals,
    createdAt: row.createdAt.toISOString(),
    notes,
  };
}

/** JSONL export: one line per step, each line self-contained (process fields repeated). */
export function toJsonl(trajectories: readonly Trajectory[]): string {
  const lines: string[] = [];
  for (const t of trajectories) {
    const head = {
      pid: t.pid,
      agent: t.agent,
      program: t.program,
      model: t.model,
      task: t.task,
      outcome: t.outcome,
      success: t.success,
    };
    for (const s of t.steps) lines.push(JSON.stringify({ schema: 'aos.trajectory.step/1', ...head, ...s }));
    if (t.steps.length === 0)
      lines.push(
        JSON.stringify({ schema: 'aos.trajectory.step/1', ...head, stepNo: 0, phases: [], notes: t.notes }),
      );
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
