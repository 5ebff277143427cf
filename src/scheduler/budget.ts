/**
 * Per-process budgets: tokens, money, steps, wall time. Pure functions — the kernel checks a process's
 * accounting between steps and suspends or ends it with the exit reason returned here.
 *
 * Default action per kind: tokens and cost SUSPEND (a person may raise the budget and resume: the work so
 * far is not lost); steps and wall time TERMINATE (running longer would not change the answer). A budget
 * may override it with `onExceed`.
 */
import { newUsage, type ProcessUsage } from '../abi.js';
import { KernelError } from '../errors.js';

export interface Budget {
  /** Input (cached included) + output tokens. */
  maxTokens?: number;
  maxCostUsd?: number;
  maxSteps?: number;
  maxWallMs?: number;
  /** Overrides the per-kind default action. */
  onExceed?: BudgetAction;
}

/**
 * A process's accounting as budgets see it: the one usage shape (src/abi.ts; `tokensCached` is the cached
 * part of `tokensIn`, not in addition to it) plus its steps and start time.
 */
export interface BudgetUsage extends ProcessUsage {
  steps: number;
  /** Clock ms when the process started (wall-time budgets count from here). */
  startedAt: number;
}

export type BudgetKind = 'tokens' | 'cost' | 'steps' | 'wall';
export type BudgetAction = 'suspend' | 'terminate';

export interface BudgetExceeded {
  kind: BudgetKind;
  limit: number;
  used: number;
  action: BudgetAction;
  /** Exit reason for the PCB and the user, e.g. "budget exhausted: tokens 10234 of 10000 (maxTokens) — suspended; raise maxTokens and resume". */
  reason: string;
}

export const DEFAULT_BUDGET_ACTION: Readonly<Record<BudgetKind, BudgetAction>> = Object.freeze({
  tokens: 'suspend',
  cost: 'suspend',
  steps: 'terminate',
  wall: 'terminate',
});

const FIELD: Record<BudgetKind, keyof Budget> = {
  cost: 'maxCostUsd',
  tokens: 'maxTokens',
  steps: 'maxSteps',
  wall: 'maxWallMs',
};

/** Checked in this order, so the reason names the most consequential limit first. */
const ORDER: readonly BudgetKind[] = ['cost', 'tokens', 'steps', 'wall'];

export function emptyUsage(startedAt: number): BudgetUsage {
  return { ...newUsage(), steps: 0, startedAt };
}

/** What the process has used of each budgeted kind at `now`. */
export function budgetUsed(usage: BudgetUsage, now: number): Record<BudgetKind, number> {
  return {
    tokens: usage.tokensIn + usage.tokensOut,
    cost: usage.cost,
    steps: usage.steps,
    wall: Math.max(0, now - usage.startedAt),
  };
}

/** null while every limit holds; otherwise the first exhausted one (used ≥ limit) and what to do. */
export function checkBudget(budget: Budget, usage: BudgetUsage, now: number): BudgetExceeded | null {
  const used = budgetUsed(usage, now);
  for (const kind of ORDER) {
    const limit = budget[FIELD[kind]] as number | undefined;
    if (limit === undefined || used[kind] < limit) continue;
    const action = budget.onExceed ?? DEFAULT_BUDGET_ACTION[kind];
    const field = FIELD[kind];
    const next = action === 'suspend' ? `suspended; raise ${field} and resume to continue` : 'terminated';
    return {
      kind,
      limit,
      used: used[kind],
      action,
      reason: `budget exhausted: ${kind} ${fmt(kind, used[kind])} of ${fmt(kind, limit)} (${field}) — ${next}`,
    };
  }
  return null;
}

/**
 * What is left of each limit (undefined = unlimited), so the kernel can cap the next call's
 * `maxOutputTokens` instead of overshooting a token budget by a whole answer.
 */
export function budgetHeadroom(
  budget: Budget,
  usage: BudgetUsage,
  now: number,
): Partial<Record<BudgetKind, number>> {
  const used = budgetUsed(usage, now);
  const out: Partial<Record<BudgetKind, number>> = {};
  for (const kind of ORDER) {
    const limit = budget[FIELD[kind]] as number | undefined;
    if (limit !== undefined) out[kind] = Math.max(0, limit - used[kind]);
  }
  return out;
}

/** Validates a budget from user input (spawn options, config); throws EINVAL naming the bad field. */
export function parseBudget(input: unknown): Budget {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new KernelError('EINVAL', 'budget must be an object like { maxTokens: 100000, maxCostUsd: 1.5 }');
  }
  const src = input as Record<string, unknown>;
  const out: Budget = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === 'onExceed') {
      if (v !== 'suspend' && v !== 'terminate')
        throw new KernelError(
          'EINVAL',
          `budget.onExceed must be "suspend" or "terminate", got ${JSON.stringify(v)}`,
        );
      out.onExceed = v;
      continue;
    }
    if (!(Object.values(FIELD) as string[]).includes(k)) {
      throw new KernelError(
        'EINVAL',
        `unknown budget field "${k}": use maxTokens, maxCostUsd, maxSteps, maxWallMs or onExceed`,
      );
    }
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new KernelError('EINVAL', `budget.${k} must be a positive number, got ${JSON.stringify(v)}`, {
        details: { field: k },
      });
    }
    (out as Record<string, number>)[k] = v;
  }
  return out;
}

function fmt(kind: BudgetKind, n: number): string {
  if (kind === 'cost') return `$${n.toFixed(4)}`;
  if (kind === 'wall') return `${Math.round(n)} ms`;
  return String(Math.round(n * 100) / 100);
}
