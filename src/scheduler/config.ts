/** config.yaml's `scheduler:` section (and per-model `max_concurrency`) → SchedulerOptions. */
import type { AosConfig } from '../config/schema.js';
import { RATE_SKEW_MS, RATE_WINDOW_MS } from '../param.js';
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
    // Pace over a slightly longer window than the provider's: the request reaches the provider a little after
    // the kernel admits it, and that skew must never tip the provider's own sliding minute over the limit.
    rateLimiter: { windowMs: RATE_WINDOW_MS + RATE_SKEW_MS },
  };
}
