/**
 * The scheduling-policy seam. A `SchedPolicy` decides the ORDER of ready processes; the `Scheduler`
 * (./Scheduler.ts) owns everything else — LLM slots per model, rate limits, time slices, priority
 * inheritance — and asks the policy for one `RunQueue` per model lane. Implementations live in
 * ./policies/: `FairPolicy` (default), `FifoPolicy` and `RoundRobinPolicy` (baselines).
 */

export type Pid = number;

/** Milliseconds since the epoch (or any monotonic origin). Injected so tests run on a fake clock. */
export type Clock = () => number;

/**
 * A process as the scheduler knows it. The Scheduler creates and mutates these; policies read them and
 * may write `vruntime` (in `place` and `charge`). One record per pid, alive from the first enqueue until
 * `Scheduler.forget(pid)`.
 */
export interface SchedRecord {
  readonly pid: Pid;
  /** Base priority 0–99, lower is more urgent. */
  priority: number;
  /** Priority it is scheduled at: `priority`, or a more urgent one inherited from a waiter. */
  schedPrio: number;
  /** Fair-share weight (share ∝ weight). */
  weight: number;
  /** Fair-share group (a tenant), or null: see SchedEntity.group. */
  group: string | null;
  /** Virtual runtime in weighted tokens, in the scale of the base priority class. */
  vruntime: number;
  model: string;
  provider: string;
  parentPid: Pid | null;
  /** Tokens the next LLM call is expected to use (input + max output): what the rate limiters reserve. */
  estTokens: number;
  state: 'idle' | 'ready' | 'running';
  /** When it entered the ready queue (clock ms). */
  enqueuedAt: number;
  /** Re-queued after a step without using up its time slice: goes to the front of its class. */
  continuing: boolean;
}

/** Lexicographic urgency of a queue head; smaller is more urgent. Comparable across lanes of one policy. */
export interface Rank {
  /** Effective priority after aging (0–99). */
  prio: number;
  /** Base class the head comes from (ties between aged classes go to the natively more urgent one). */
  cls: number;
  /** Order within the class (vruntime, or arrival). */
  key: number;
  /** Arrival sequence number: final tie-break, first come first served. */
  seq: number;
}

export function rankLess(a: Rank, b: Rank): boolean {
  if (a.prio !== b.prio) return a.prio < b.prio;
  if (a.cls !== b.cls) return a.cls < b.cls;
  if (a.key !== b.key) return a.key < b.key;
  return a.seq < b.seq;
}

/** The ready processes of one lane (one model). Every operation is O(log n) in the lane's size. */
export interface RunQueue {
  readonly size: number;
  push(rec: SchedRecord, now: number): void;
  /** Takes `pid` out of the queue; returns whether it was there. */
  remove(pid: Pid): boolean;
  /** The most urgent process at time `now`, with its rank; undefined when empty. */
  peek(now: number): { rec: SchedRecord; rank: Rank } | undefined;
  /** Removes and returns what `peek(now)` returned. */
  pop(now: number): SchedRecord | undefined;
  /** Most urgent effective priority waiting at `now` (for time-slice decisions); undefined when empty. */
  bestPrio(now: number): number | undefined;
  /** Next time after `now` at which aging changes an effective priority here; undefined if never. */
  nextAgingAt(now: number): number | undefined;
  records(): IterableIterator<SchedRecord>;
}

export interface SchedPolicy {
  readonly name: string;
  /** Whether a process that used up its time slice yields to waiting peers (false: run to completion). */
  readonly preemptive: boolean;
  createQueue(): RunQueue;
  /** Called before a record enters a queue: set its starting vruntime (fair: no less than the class minimum). */
  place(rec: SchedRecord, parent: SchedRecord | undefined): void;
  /** The record left the queue to run on a slot. */
  started(rec: SchedRecord): void;
  /** Its LLM call finished having used `tokens`: charge it (fair: vruntime += tokens × DEFAULT_WEIGHT / weight). */
  charge(rec: SchedRecord, tokens: number): void;
  /** The record is gone for good (process exited). */
  forget(rec: SchedRecord): void;
}
