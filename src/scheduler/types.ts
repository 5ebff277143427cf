/** The Scheduler's public data shapes: what the kernel passes in, gets back, and reads for metrics. */
import type { ProcessUsage } from '../abi.js';
import type { Clock, Pid, SchedPolicy } from './policy.js';
import type { RateLimit, RateLimiterOptions } from './ratelimit.js';

/** What the kernel enqueues: a ready process and the call it is about to make. */
export interface SchedEntity {
  pid: Pid;
  /** 0–99, lower is more urgent. */
  priority: number;
  /** Fair-share weight (default DEFAULT_WEIGHT). */
  weight?: number;
  /**
   * Fair-share group (a tenant): the group's contending members split one share between them — each call
   * is charged × the number of its group's members ready or running — so a group's share does not grow
   * with how many processes it floods in (hierarchical fair share, flattened). Null/absent: its own share.
   */
  group?: string | null;
  model: string;
  provider: string;
  /** Restored virtual runtime (e.g. from the PCB after a reboot); default: kept, or the class minimum. */
  vruntime?: number;
  parentPid?: Pid | null;
  /** Expected tokens of the next call (prompt + max output); reserved against TPM limits. */
  estTokens?: number;
}

export interface Grant {
  pid: Pid;
  model: string;
  provider: string;
  /** Opaque id of this grant: pass it to release(). */
  slot: number;
  /** Which of the model's slots (0 … capacity-1), for dashboards. */
  slotIndex: number;
  /** Tokens reserved against the rate limits. */
  estTokens: number;
  /** Time it spent ready before this dispatch (clock ms). */
  waitedMs: number;
}

/** What one call used, in the one usage shape (src/abi.ts): tokens for the rate limiters, requests sent. */
export type CallUsage = Pick<ProcessUsage, 'tokensIn' | 'tokensOut'> &
  Partial<Pick<ProcessUsage, 'apiCalls'>>;

export interface DispatchSample {
  pid: Pid;
  model: string;
  waitedMs: number;
  /** Real time the decision took (performance.now), for the scheduling-latency histogram. */
  decisionMs: number;
}

export interface QuotaDenial {
  pid: Pid;
  kind: 'rpm' | 'tpm';
  scope: string;
  until: number;
}

/** Callbacks for the kernel's metrics (the prom-client registry lives in src/metrics). */
export interface SchedulerHooks {
  onDispatch?(s: DispatchSample): void;
  onPreempt?(pid: Pid): void;
  onQuotaDenied?(d: QuotaDenial): void;
}

export interface SchedulerOptions {
  /** A policy instance or a name; default 'fair'. */
  policy?: SchedPolicy | 'fair' | 'fifo' | 'round_robin';
  clock?: Clock;
  /** Slots per model, or 'auto': derived per model from its provider's rate limits × learned latency (./slots.ts). */
  slotsPerModel?: number | 'auto';
  /** Per-model slot counts overriding slotsPerModel (config: llms.models[].max_concurrency). */
  slots?: Record<string, number>;
  timeSliceSteps?: number;
  timeSliceTokens?: number;
  agingMs?: number;
  /** Per provider, plus GLOBAL_RATE_LIMIT_KEY ('global') for all of them together. */
  rateLimits?: Record<string, RateLimit>;
  rateLimiter?: RateLimiterOptions;
  hooks?: SchedulerHooks;
}

export interface SchedulerStats {
  policy: string;
  runQueue: number;
  runQueueByModel: Record<string, number>;
  slots: Record<
    string,
    {
      busy: number;
      total: number;
      /** Present when the count is derived (slots_per_model: auto): what bound it and what was learned. */
      auto?: { basis: string; latencyMs: number | null; tokensPerCall: number | null };
    }
  >;
  dispatches: number;
  preemptions: number;
  quotaDenials: { rpm: number; tpm: number };
  rateLimits: Record<string, { used: number; limit: number }>;
}
