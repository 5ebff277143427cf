import { describe, expect, it } from 'vitest';
import { AppendOnlyReplacer, SeedsReplacer } from './replacer.js';
import { runWorkload } from './workload.js';

// The bench (`aos bench context`) runs the full grid; this pins the ordering of the policies on one
// seeded configuration so a regression in layout or hysteresis fails the suite.
describe('synthetic long-run workload (seeded)', () => {
  it('keeps the prefix cache hot where the seeds policy destroys it, without overflowing', async () => {
    const ours = await runWorkload({ steps: 50, contextWindow: 32_000, seed: 11 });
    const seeds = await runWorkload({
      steps: 50,
      contextWindow: 32_000,
      seed: 11,
      replacer: new SeedsReplacer(),
    });
    const append = await runWorkload({
      steps: 50,
      contextWindow: 32_000,
      seed: 11,
      replacer: new AppendOnlyReplacer(),
    });
    for (const r of [ours, seeds, append]) {
      expect(r.overflow).toBe(false);
      expect(r.maxTokens).toBeLessThanOrEqual(r.budget);
    }
    expect(ours.hitRatio).toBeGreaterThan(0.8);
    expect(ours.hitRatio).toBeLessThanOrEqual(ours.ceilingHitRatio + 1e-9);
    expect(seeds.hitRatio).toBeLessThan(0.2);
    expect(ours.hitRatio).toBeGreaterThan(append.hitRatio);
    expect(ours.relativeInputCost).toBeLessThan(seeds.relativeInputCost / 2);
    expect(ours.evictionEvents).toBeLessThan(append.evictionEvents);
  }, 60_000);
});
