/**
 * Baseline: first come, first served, run to completion. Ignores priority and weights and never preempts
 * (a used-up time slice does not yield). For comparison in benches, not for production use.
 */
import type { RunQueue, SchedPolicy } from '../policy.js';
import { ArrivalQueue } from './arrival-queue.js';

export class FifoPolicy implements SchedPolicy {
  readonly name: string = 'fifo';
  readonly preemptive: boolean = false;
  private seq = 0;

  createQueue(): RunQueue {
    return new ArrivalQueue(() => ++this.seq);
  }
  place(): void {}
  started(): void {}
  charge(): void {}
  forget(): void {}
}
