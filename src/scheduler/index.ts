/**
 * `agent-os-kernel/scheduler`: the run queue and its policies, rate limits, budgets and the dispatcher.
 */

export {
  type Budget,
  type BudgetAction,
  type BudgetExceeded,
  type BudgetKind,
  type BudgetUsage,
  budgetHeadroom,
  checkBudget,
  emptyUsage,
  parseBudget,
} from './budget.js';
export { schedulerOptionsFromConfig } from './config.js';
export { Dispatcher, type SetTimer } from './dispatcher.js';
export { FairPolicy } from './policies/fair-policy.js';
export { FifoPolicy } from './policies/fifo-policy.js';
export { RoundRobinPolicy } from './policies/round-robin-policy.js';
export type { Clock, Pid, Rank, RunQueue, SchedPolicy, SchedRecord } from './policy.js';
export { type RateLimit, RateLimiter, RateLimits } from './ratelimit.js';
export {
  type CallUsage,
  createPolicy,
  type DispatchSample,
  type Grant,
  type QuotaDenial,
  type SchedEntity,
  Scheduler,
  type SchedulerHooks,
  type SchedulerOptions,
  type SchedulerStats,
} from './scheduler.js';
