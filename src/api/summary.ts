/**
 * The numbers the dashboard's header and charts show, and the SSE `metrics` tick: processes by state,
 * tokens, cost, cache hit ratio, LLM slot use. Totals come from the process table (all processes ever
 * stored), live states from this node's in-memory process table.
 */
import type { Kernel } from '../kernel/kernel.js';
import { PROCESS_STATES, type ProcessState } from '../storage/state/types.js';

export interface Summary {
  nodeId: string;
  uptimeMs: number;
  processes: { total: number; byState: Record<ProcessState, number> };
  tokens: { input: number; cached: number; output: number };
  costUsd: number;
  cacheHitRatio: number;
  context: { modelledHitRatio: number; residentTokens: number; faults: number };
  slots: { busy: number; total: number; byModel: Record<string, { busy: number; total: number }> };
  runQueue: number;
  pendingApprovals: number;
  steps: number;
  /** Kernel-wide and tenant budgets, all nodes together (the cluster's total on any node). */
  budgets: Array<{ name: string; limit: number; used: number; spent: number }>;
}

const bootedAt = new WeakMap<Kernel, number>();

export function noteBoot(k: Kernel): void {
  if (!bootedAt.has(k)) bootedAt.set(k, Date.now());
}

export async function summarize(k: Kernel): Promise<Summary> {
  const byState = Object.fromEntries(PROCESS_STATES.map((s) => [s, 0])) as Record<ProcessState, number>;
  let total = 0;
  let tin = 0;
  let tcached = 0;
  let tout = 0;
  let cost = 0;
  let steps = 0;
  for (const r of await k.storage.state.totalsByState()) {
    total += r.n;
    byState[r.state] = (byState[r.state] ?? 0) + r.n;
    tin += r.tokensIn;
    tcached += r.tokensCached;
    tout += r.tokensOut;
    cost += r.cost;
    steps += r.steps;
  }
  // Stored rows say `ready` for a process that is running or waiting right now; the live table knows.
  const live = await k.storage.state.listProcesses({
    states: ['new', 'ready', 'running', 'waiting'],
    limit: 100_000,
  });
  for (const row of live) {
    if (!k.procs.get(row.pid)) continue;
    const now = (await k.get(row.pid)).state;
    if (now === row.state) continue;
    byState[row.state] -= 1;
    byState[now] += 1;
  }
  const sched = k.cpu.snapshot();
  let busy = 0;
  let slots = 0;
  for (const v of Object.values(sched.slots)) {
    busy += v.busy;
    slots += v.total;
  }
  const ctx = k.context.globalMetrics();
  return {
    nodeId: k.nodeId,
    uptimeMs: Date.now() - (bootedAt.get(k) ?? Date.now()),
    processes: { total, byState },
    tokens: { input: tin, cached: tcached, output: tout },
    costUsd: cost,
    cacheHitRatio: tin > 0 ? tcached / tin : 0,
    context: {
      modelledHitRatio: ctx.cache.openaiHitRatio,
      residentTokens: ctx.residentTokens,
      faults: ctx.faults,
    },
    slots: { busy, total: slots, byModel: sched.slots },
    runQueue: sched.runQueue,
    // every node's (the approvals table on a cluster), as GET /approvals lists them
    pendingApprovals: (await k.approvals.all()).length,
    steps,
    budgets: await k.cpu.budgets.store.pools(),
  };
}
