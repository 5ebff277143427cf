/**
 * The process control block and its state machine. Every state change goes through transition(); an
 * illegal one is a kernel bug and panics. Fields are grouped by who may touch them.
 */
import { panic } from '../errors.js';
import type { ProcessState, ProcessUsage } from '../storage/state/types.js';

export type { ProcessState, ProcessUsage } from '../storage/state/types.js';

/** What a waiting process waits on; it holds no LLM slot while waiting. */
export type WaitReason =
  | { on: 'message'; topic?: string; deadline?: number }
  | { on: 'child'; pid: number }
  | { on: 'approval'; id: string }
  | { on: 'tool'; name: string }
  | { on: 'ratelimit'; until: number }
  /** Parked on a provider outage (429, 5xx, refused, open circuit) until `until`, then the step is retried. */
  | { on: 'provider'; provider: string; model: string; until: number; reason: string }
  /** Parked on a storage outage (disk full, connection lost) until `until`, then reloaded from its row. */
  | { on: 'storage'; until: number; reason: string }
  /** Paused on an exhausted kernel-wide or tenant budget (shared by all nodes) until room comes back. */
  | { on: 'budget'; pool: string; reason: string }
  /** Queued for an LLM slot of its model (the scheduler's run queue): `since` is when it joined. */
  | { on: 'slot'; model: string; since: number };

export interface Budgets {
  maxTokens?: number;
  maxCostUsd?: number;
  maxSteps?: number;
  maxWallMs?: number;
}

export interface Pcb {
  // identity: set at spawn, never changed
  readonly pid: number;
  readonly parentPid: number | null;
  readonly name: string;
  readonly task: string;
  readonly program: string;
  readonly createdAt: number;
  // scheduling: scheduler and kernel loop
  priority: number;
  model: string;
  state: ProcessState;
  waitOn: WaitReason | null;
  vruntime: number;
  // accounting: syscall layer
  usage: ProcessUsage;
  budgets: Budgets;
  stepNo: number;
  // program: the step function's serialisable state and outcome
  programState: unknown;
  /**
   * The program state as storage holds it after the last commit (plain JSON, never handed to the program):
   * what the next step's delta is taken against (../storage/state/delta.ts). Undefined: write it whole.
   */
  storedState?: unknown;
  result: unknown;
  exitReason: string | null;
  policy: Record<string, unknown>;
  // ownership (multi-node): lease epoch fences stale writers
  ownerNode: string | null;
  leaseEpoch: number;
}

/** Legal transitions. `terminated` is final; `zombie` waits for the parent (or the reaper) to collect it. */
const LEGAL: Record<ProcessState, readonly ProcessState[]> = {
  new: ['ready', 'suspended', 'zombie'],
  ready: ['running', 'suspended', 'zombie'],
  running: ['ready', 'waiting', 'suspended', 'zombie'],
  // a blocked syscall resumes inside the same step: waiting -> running without a trip through the queue
  waiting: ['running', 'ready', 'suspended', 'zombie'],
  suspended: ['ready', 'zombie'],
  zombie: ['terminated'],
  terminated: [],
};

export function canTransition(from: ProcessState, to: ProcessState): boolean {
  return LEGAL[from].includes(to);
}

export function transition(pcb: Pcb, to: ProcessState, waitOn: WaitReason | null = null): void {
  if (!canTransition(pcb.state, to)) panic(`illegal process transition pid=${pcb.pid} ${pcb.state} -> ${to}`);
  if (to === 'waiting' && waitOn === null) panic(`pid=${pcb.pid} waits on nothing`);
  pcb.state = to;
  pcb.waitOn = to === 'waiting' ? waitOn : null;
}

export function isLive(state: ProcessState): boolean {
  return state !== 'zombie' && state !== 'terminated';
}

/** The provider wait written by describeWait, read back from a stored row (a restarted kernel keeps it). */
export function parseProviderWait(s: string | null | undefined): WaitReason | null {
  const m = s ? /^provider:(\S+) (\S+) until (\S+) — (.*)$/s.exec(s) : null;
  const until = m ? Date.parse(m[3]!) : Number.NaN;
  if (!m || !Number.isFinite(until)) return null;
  return { on: 'provider', provider: m[1]!, model: m[2]!, until, reason: m[4]! };
}

export function describeWait(w: WaitReason | null): string {
  if (!w) return '';
  switch (w.on) {
    case 'message':
      return w.topic ? `message:${w.topic}` : 'message';
    case 'child':
      return `child:${w.pid}`;
    case 'approval':
      return `approval:${w.id}`;
    case 'tool':
      return `tool:${w.name}`;
    case 'ratelimit':
      return 'ratelimit';
    case 'provider':
      return `provider:${w.provider} ${w.model} until ${new Date(w.until).toISOString()} — ${w.reason}`;
    case 'slot':
      return 'slot';
    case 'budget':
      return `budget:${w.pool} — ${w.reason}`;
    case 'storage':
      return `storage until ${new Date(w.until).toISOString()} — ${w.reason}`;
  }
}
