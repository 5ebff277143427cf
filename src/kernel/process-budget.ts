/** Budget checks between steps: the PCB's accounting against its budgets (rules in src/scheduler/budget.ts). */
import { type BudgetExceeded, checkBudget, parseBudget } from '../scheduler/budget.js';
import type { Pcb } from './pcb.js';

export type BudgetVerdict = BudgetExceeded;

export function checkProcessBudget(pcb: Pcb, wallMs: number): BudgetVerdict | null {
  const budget = parseBudget(pcb.budgets ?? {});
  const now = Date.now();
  return checkBudget(budget, { ...pcb.usage, steps: pcb.stepNo, startedAt: now - wallMs }, now);
}
