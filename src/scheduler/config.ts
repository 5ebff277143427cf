/** config.yaml's `scheduler:` section (and per-model `max_concurrency`) → SchedulerOptions. */
import type { AosConfig } from '../config/schema.js';
import type { SchedulerOptions } from './Scheduler.js';

export function schedulerOptionsFromConfig(config: AosConfig): SchedulerOptions {
  const s = config.scheduler;
  const slots: Record<string, number> = {};
  for (const m of config.llms.models) if (m.max_concurrency !== undefined) slots[m.name] = m.max_concurrency;
  return {
    policy: s.policy,
    slotsPerModel: s.slots_per_model,
    slots,
    timeSliceSteps: s.time_slice_steps,
    timeSliceTokens: s.time_slice_tokens,
    agingMs: s.aging_ms,
    rateLimits: s.rate_limits,
  };
}
