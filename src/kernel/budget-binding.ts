/**
 * The syscall layer's side of kernel-wide and tenant budgets (./budgets.ts): a model call reserves its
 * estimate before it is made — an exhausted budget pauses the process in waiting(budget), or refuses a
 * gateway session's call with EQUOTA — and its spend is written with its journal row (./call-journal.ts)
 * or, for a call outside a step in flight, on its own.
 */
import type { LlmUsage } from '../llm/model.js';
import type { BudgetSpend } from '../storage/coordination/budget-grants.js';
import type { JournalSlot } from './call-journal.js';
import type { KernelCore } from './core.js';
import type { Pcb } from './pcb.js';

/** What a call spent as budgets count it: input (cached included) + output tokens, and its cost. */
export function budgetSpend(u: LlmUsage, costUsd: number): { tokens: number; costUsd: number } {
  return { tokens: u.input + u.output, costUsd };
}

export function budgetBinding(k: KernelCore) {
  /** Reserves a call's estimate of its budgets; an exhausted one pauses the process in waiting(budget). */
  async function reserveBudget(pcb: Pcb, est: { tokens: number; costUsd: number }, signal: AbortSignal) {
    const pc = k.procs.live(pcb.pid);
    // A gateway caller is answered EQUOTA at once, as for the gateway's own quotas; a process pauses.
    const refuse = pcb.program === 'gateway';
    return k.cpu.budgets.reserve(pcb, est, {
      signal,
      refuse,
      onWait: (pool, reason) => {
        if (pcb.state !== 'running') return;
        k.procs.setState(pc, 'waiting', { on: 'budget', pool, reason });
      },
      onResume: () => {
        if (pcb.state === 'waiting' && pcb.waitOn?.on === 'budget') k.procs.setState(pc, 'running');
      },
    });
  }

  /** A journaled call's spend is written with its journal row; any other call's on its own. */
  async function recordSpend(slot: JournalSlot, spent: BudgetSpend[], record: () => Promise<void>) {
    await record();
    if (!slot.journaled && spent.length) await k.cpu.budgets.spendDirect(spent);
  }

  return { reserveBudget, recordSpend };
}
