/**
 * Baseline: round-robin. Ignores priority and weights; a process that used up its time slice goes to the
 * back of the queue when anyone is waiting. Equal turns in steps, not equal shares of tokens.
 */
import type { SchedPolicy } from '../policy.js';
import { FifoPolicy } from './fifo-policy.js';

export class RoundRobinPolicy extends FifoPolicy implements SchedPolicy {
  override readonly name: string = 'round_robin';
  override readonly preemptive: boolean = true;
}
