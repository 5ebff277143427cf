import { describe, expect, it } from 'vitest';
import { recordTrace } from '../../src/bench/traces.js';

// A ReAct agent run end to end through the kernel (PGlite in memory, real tools on a generated workspace,
// the simulator scripted to call them): the hit ratio the context manager computes from its own renders
// must agree with the cached tokens the simulator reports for the same requests, and no prompt may exceed
// the budget or the window.
describe('context manager on a recorded kernel run', () => {
  for (const replacer of ['scored', 'seeds'] as const) {
    it(`${replacer}: kernel-computed hit ratio matches the simulator's cached tokens; no overflow`, async () => {
      let messagesSeen = 0;
      const r = await recordTrace({
        steps: 20,
        contextWindow: 8192,
        replacer,
        seed: 1,
        onCall: (c) => {
          messagesSeen = Math.max(messagesSeen, c.messages.length);
        },
      });
      console.info(
        `[context-traces] ${replacer}: kernel ${(r.kernel.cache.openaiHitRatio * 100).toFixed(1)}% vs simulator ${(r.simulator.hitRatio * 100).toFixed(1)}%, ` +
          `${r.kernel.evictionEvents} evictions, max prompt ${r.maxRenderedTokens}/${r.budget} (reported ${r.simulator.maxInput}/${r.contextWindow})`,
      );
      expect(r.state).toBe('terminated');
      expect(r.exitReason).toBeNull();
      expect(r.calls).toBe(21);
      expect(messagesSeen).toBeGreaterThan(4);
      // The run is long enough to page: otherwise agreement would be trivial.
      expect(r.kernel.evictionEvents).toBeGreaterThan(0);
      expect(r.toolCalls.read_file).toBeGreaterThan(5);
      // The usage the kernel fed back (observeUsage) is exactly what the simulator reported.
      expect(r.kernel.reported.input).toBe(r.simulator.input);
      expect(r.kernel.reported.cachedInput).toBe(r.simulator.cachedInput);
      expect(r.simulator.cachedInput).toBeGreaterThan(0);
      expect(Math.abs(r.kernel.cache.openaiHitRatio - r.simulator.hitRatio)).toBeLessThan(0.03);
      expect(r.maxRenderedTokens).toBeLessThanOrEqual(r.budget);
      expect(r.simulator.maxInput).toBeLessThanOrEqual(r.contextWindow);
    }, 180_000); // a hang guard, not a speed bound: the run takes ~2 s on an idle machine
  }
});
