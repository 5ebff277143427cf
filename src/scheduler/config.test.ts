import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/load.js';
import { schedulerOptionsFromConfig } from './config.js';
import { Scheduler } from './scheduler.js';

describe('scheduler config', () => {
  it('maps config.yaml to a working scheduler (slots per model, rate limits incl. global)', () => {
    const { config } = parseConfigText(
      `
llms:
  models:
    - { name: fast, provider: deepseek, max_concurrency: 2 }
scheduler:
  policy: round_robin
  slots_per_model: 3
  time_slice_steps: 2
  rate_limits:
    deepseek: { rpm: 1000, tpm: 500000 }
    global: { rpm: 1200 }
`,
      'config.yaml',
      {},
    );
    const opts = schedulerOptionsFromConfig(config);
    expect(opts).toMatchObject({
      policy: 'round_robin',
      slotsPerModel: 3,
      slots: { fast: 2 },
      timeSliceSteps: 2,
      agingMs: 5_000,
    });
    const s = new Scheduler({ ...opts, clock: () => 0 });
    for (let pid = 1; pid <= 4; pid++)
      s.enqueue({ pid, priority: 50, model: 'fast', provider: 'deepseek', estTokens: 100 });
    const grants = [s.dispatch(), s.dispatch(), s.dispatch()];
    expect(grants.map((g) => g?.pid ?? null)).toEqual([1, 2, null]);
    expect(Object.keys(s.stats().rateLimits).sort()).toEqual(['deepseek.rpm', 'deepseek.tpm', 'global.rpm']);
    expect(s.policy.name).toBe('round_robin');
  });
});
