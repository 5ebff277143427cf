/**
 * The process ABI: the plain data a process is made of and exchanges with the kernel — its states, its
 * usage (one shape with one `addUsage`, from a model call up to the process's total), what a step records
 * and returns, the mail it receives, the effects a step buffers until it commits. A leaf: it imports
 * nothing, so every layer (storage, scheduler, kernel, api, cli) can name these without depending on
 * another.
 */

export type ProcessState = 'new' | 'ready' | 'running' | 'waiting' | 'suspended' | 'zombie' | 'terminated';
export const PROCESS_STATES: readonly ProcessState[] = [
  'new',
  'ready',
  'running',
  'waiting',
  'suspended',
  'zombie',
  'terminated',
];

/** Cumulative accounting of one process, one step's share of it, or one call's. */
export interface ProcessUsage {
  tokensIn: number;
  tokensCached: number;
  tokensOut: number;
  apiCalls: number;
  toolCalls: number;
  cost: number;
  llmMs: number;
}

export const ZERO_USAGE: Readonly<ProcessUsage> = Object.freeze(newUsage());

export function newUsage(): ProcessUsage {
  return { tokensIn: 0, tokensCached: 0, tokensOut: 0, apiCalls: 0, toolCalls: 0, cost: 0, llmMs: 0 };
}

/** Adds `d` into `into` (in place): the one way usage is summed. */
export function addUsage(into: ProcessUsage, d: Partial<ProcessUsage>): ProcessUsage {
  into.tokensIn += d.tokensIn ?? 0;
  into.tokensCached += d.tokensCached ?? 0;
  into.tokensOut += d.tokensOut ?? 0;
  into.apiCalls += d.apiCalls ?? 0;
  into.toolCalls += d.toolCalls ?? 0;
  into.cost += d.cost ?? 0;
  into.llmMs += d.llmMs ?? 0;
  return into;
}

/** What a step did, kept in the step log and shown in timelines (thoughts, tool calls, results). */
export interface StepRecord {
  kind: string;
  thought?: string;
  text?: string;
  toolCalls?: Array<{ id: string; name: string; arguments: string; ok?: boolean; output?: string }>;
  [key: string]: unknown;
}

export type StepResult<S> =
  | { kind: 'continue'; state: S; record?: StepRecord }
  | { kind: 'done'; state: S; result: unknown; record?: StepRecord }
  | { kind: 'fail'; state: S; error: string; record?: StepRecord };

/** The mailbox topic of messages from a user (conversations); the sender is `user:<name>`. */
export const USER_TOPIC = 'user';

/** A message as the receiving process sees it (`ipc.recv`). */
export interface MailMessage {
  id: number | string;
  from: number | null;
  topic: string | null;
  body: unknown;
}

/** How a process ended, or where it is (`proc.wait`, `proc.status`, `kernel.wait`). */
export interface ProcStatus {
  pid: number;
  name: string;
  state: string;
  result: unknown;
  exitReason: string | null;
}

/** Per-step context: effects buffered until the step commits in one transaction (src/kernel/commit.ts). */
export interface StepContext {
  readonly stepNo: number;
  readonly signal: AbortSignal;
  callIndex: number;
  readonly outbox: Array<{ to: number; topic: string | null; body: unknown }>;
  /** Mailbox message ids this step consumed; acknowledged in the step's commit. */
  readonly acks: number[];
  readonly auditEntries: Array<{ kind: string; payload: unknown }>;
}
