/** config.yaml's `scheduler:` section (and per-model `max_concurrency`) → SchedulerOptions. */
import type { AosConfig } from '../config/schema.js';
import type { SchedulerOptions } from './scheduler.js';

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
    // The provider's window as it is: a finished call is dated by its finish (./ratelimit.ts), which covers
    // any delay between the kernel admitting it and the provider seeing it.
  };
}
