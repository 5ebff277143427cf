import { describe, expect, it } from 'vitest';
import { mulberry32 as rng } from '../../util/random.js';
import { type Grant, Scheduler } from '../scheduler.js';
import { FairPolicy } from './fair-policy.js';
import { NaiveSortPolicy } from './naive-sort-policy.js';

describe('FairPolicy', () => {
  it('dispatches exactly like the sort-everything reference under a random mixed workload', () => {
    for (const seed of [1, 2, 3]) {
      const r = rng(seed);
      const clock = { t: 0 };
      const agingMs = 2_000;
      const opts = { clock: () => clock.t, slotsPerModel: 2, slots: { b: 1 }, timeSliceSteps: 2 };
      const fast = new Scheduler({ ...opts, policy: new FairPolicy({ agingMs }) });
      const ref = new Scheduler({ ...opts, policy: new NaiveSortPolicy({ agingMs }) });
      // f runs once per scheduler: draw random numbers outside it.
      const both = <T>(f: (s: Scheduler) => T): T => {
        const a = f(fast);
        const b = f(ref);
        expect(a).toEqual(b);
        return a;
      };
      const held: { fast: Grant; ref: Grant }[] = [];
      const idle = new Set<number>();
      const waits: [number, number][] = [];
      const spec = (pid: number) => ({
        pid,
        priority: [10, 20, 20, 30, 50][pid % 5] as number,
        weight: 1 + (pid % 3),
        model: pid % 4 === 0 ? 'b' : 'a',
        provider: 'p',
      });
      for (let pid = 1; pid <= 30; pid++) both((s) => s.enqueue(spec(pid)));
      let dispatched = 0;
      for (let i = 0; i < 4_000; i++) {
        clock.t += Math.floor(r() * 400);
        const op = r();
        if (op < 0.35) {
          const a = fast.dispatch();
          const b = ref.dispatch();
          expect(a?.pid).toBe(b?.pid);
          expect(a?.model).toBe(b?.model);
          if (a && b) {
            held.push({ fast: a, ref: b });
            dispatched++;
          }
        } else if (op < 0.65 && held.length) {
          const h = held.splice(Math.floor(r() * held.length), 1)[0] as { fast: Grant; ref: Grant };
          const tokens = 100 + Math.floor(r() * 3_000);
          const va = fast.release(h.fast.slot, { tokensIn: tokens, tokensOut: 50 });
          const vb = ref.release(h.ref.slot, { tokensIn: tokens, tokensOut: 50 });
          expect(va).toEqual(vb);
          if (r() < 0.2)
            idle.add(h.fast.pid); // runs a tool for a while
          else {
            const steps = 1 + Math.floor(r() * 3);
            const expired = both((s) => s.timeSliceExpired(h.fast.pid, { steps, tokens }));
            both((s) => s.enqueue(spec(h.fast.pid), { continuing: !expired }));
          }
        } else if (op < 0.75 && idle.size) {
          const pid = [...idle][Math.floor(r() * idle.size)] as number;
          idle.delete(pid);
          both((s) => s.enqueue(spec(pid)));
        } else if (op < 0.8) {
          const pid = 1 + Math.floor(r() * 30);
          both((s) => s.remove(pid)) && idle.add(pid);
        } else if (op < 0.85) {
          const w = 1 + Math.floor(r() * 30);
          const h = 1 + Math.floor(r() * 30);
          try {
            fast.inherit(w, h);
          } catch {
            expect(() => ref.inherit(w, h)).toThrow();
            continue;
          }
          ref.inherit(w, h);
          waits.push([w, h]);
        } else if (op < 0.9 && waits.length) {
          const [w, h] = waits.splice(Math.floor(r() * waits.length), 1)[0] as [number, number];
          both((s) => s.uninherit(w, h));
        } else if (op < 0.92) {
          const pid = 1 + Math.floor(r() * 30);
          const prio = Math.floor(r() * 60);
          both((s) => s.setPriority(pid, prio));
        }
        for (let pid = 1; pid <= 30; pid++) expect(fast.vruntimeOf(pid)).toBe(ref.vruntimeOf(pid));
        expect(fast.runQueueLength).toBe(ref.runQueueLength);
      }
      expect(dispatched).toBeGreaterThan(500);
    }
  });
});
