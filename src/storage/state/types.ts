/** Row types of the state role: the process control block as stored, step records and snapshots. */

import type { ProcessState, ProcessUsage } from '../../abi.js';

export { PROCESS_STATES, type ProcessState, type ProcessUsage, ZERO_USAGE } from '../../abi.js';

export interface ProcessRow {
  pid: number;
  parentPid: number | null;
  name: string;
  task: string;
  priority: number;
  state: ProcessState;
  waitOn: string | null;
  model: string | null;
  program: string;
  policy: Record<string, unknown>;
  budgets: Record<string, unknown>;
  usage: ProcessUsage;
  stepNo: number;
  programState: unknown;
  result: unknown;
  exitReason: string | null;
  /** Snapshot id of the latest explicit checkpoint. */
  checkpointId: number | null;
  ownerNode: string | null;
  leaseEpoch: number;
  vruntime: number;
  /** Snapshot this process was restored from (new pid or rewind); null otherwise. */
  restoredFrom: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface CreateProcessInput {
  name: string;
  task?: string;
  parentPid?: number | null;
  priority?: number;
  state?: ProcessState;
  model?: string | null;
  program?: string;
  policy?: Record<string, unknown>;
  budgets?: Record<string, unknown>;
  programState?: unknown;
  ownerNode?: string | null;
  /** The owner's lease from now (database clock), on a node; none: no lease (one node, unowned). */
  leaseMs?: number;
  leaseEpoch?: number;
  vruntime?: number;
}

/** Fields a writer may change; pid and created_at never change. */
export type ProcessPatch = Partial<
  Pick<
    ProcessRow,
    | 'name'
    | 'task'
    | 'priority'
    | 'state'
    | 'waitOn'
    | 'model'
    | 'program'
    | 'policy'
    | 'budgets'
    | 'usage'
    | 'stepNo'
    | 'programState'
    | 'result'
    | 'exitReason'
    | 'checkpointId'
    | 'ownerNode'
    | 'leaseEpoch'
    | 'vruntime'
    | 'parentPid'
  >
>;

export interface StepRow {
  pid: number;
  stepNo: number;
  kind: string;
  record: unknown;
  usage: Partial<ProcessUsage>;
  createdAt: Date;
}

export type SnapshotReason = 'periodic' | 'checkpoint' | 'exit';

export interface SnapshotRow {
  id: number;
  pid: number;
  stepNo: number;
  programState: unknown;
  /** The process row at the time of the snapshot (snake_case, as stored). */
  process: Record<string, unknown>;
  reason: SnapshotReason;
  createdAt: Date;
}

export interface CommitStepInput {
  pid: number;
  stepNo: number;
  kind: string;
  record: unknown;
  usage?: Partial<ProcessUsage>;
  /** Applied to the process row in the same transaction (step_no is set to stepNo regardless). */
  processPatch?: ProcessPatch;
  /** Lease epoch the writer holds; a different epoch on the row means it was fenced off (EFENCED). */
  expectEpoch?: number;
  /**
   * What the step changed in the program state (JSON text of ./delta.ts ops against the state as of the
   * previous step), stored in the step row instead of the whole state in the process row; then
   * processPatch carries no programState. A step whose periodic snapshot is due carries its whole state.
   */
  stateDelta?: string;
}

/**
 * Audit rows a one-statement step commit writes (../audit/audit-log.ts chain()): already hashed onto the
 * head the audit log last wrote, which the statement checks is still the head before it writes anything.
 */
export interface ChainedAuditRows {
  stream: string;
  head: { seq: number; hash: string };
  /** JSON array of { stream, seq, ts, kind, actor, payload, prev_hash, hash }. */
  rowsJson: string;
}

export interface CommitStepResult {
  /** Id of the periodic snapshot written with this step, if one was due. */
  snapshotId: number | null;
}

export interface PruneResult {
  steps: number;
  snapshots: number;
  processes: number;
}

export interface KvEntry {
  value: unknown;
  version: number;
  updatedAt: Date;
}
