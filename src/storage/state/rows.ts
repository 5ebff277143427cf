/** Row mapping of the state role's tables (snake_case columns → camelCase records). */
import { jsonbText } from '../../util/storable.js';
import { num } from '../sql.js';
import { applyDeltas, type DeltaOp } from './delta.js';
import {
  type ProcessRow,
  type ProcessState,
  type SnapshotReason,
  type SnapshotRow,
  ZERO_USAGE,
} from './types.js';

type Row = Record<string, unknown>;

/** JSON text already made by jsonbText (a state whose text the caller also needs): passed as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

export function jsonParam(v: unknown): string | null {
  if (v instanceof JsonText) return v.text === 'null' ? null : v.text;
  return v === undefined || v === null ? null : jsonbText(v);
}

/**
 * The deltas of the steps after the row's full state, in step order, as a `state_deltas` column: every
 * query whose rows become ProcessRows selects it (`alias` names the processes table in that query).
 */
export const stateDeltasColumn = (alias: string) =>
  `(SELECT jsonb_agg(s.state_delta ORDER BY s.step_no) FROM steps s WHERE s.pid = ${alias}.pid
     AND s.step_no > ${alias}.state_step AND s.state_delta IS NOT NULL) AS state_deltas`;

/** program_state with the steps' deltas after it applied: the process's state as of its step_no. */
export function programStateOf(r: Row): unknown {
  const base = r.program_state ?? null;
  const deltas = r.state_deltas as DeltaOp[][] | null | undefined;
  return deltas?.length ? applyDeltas(base, deltas) : base;
}

export function toProcess(r: Row): ProcessRow {
  return {
    pid: num(r.pid),
    parentPid: r.parent_pid === null || r.parent_pid === undefined ? null : num(r.parent_pid),
    name: String(r.name),
    task: String(r.task),
    priority: num(r.priority),
    state: r.state as ProcessState,
    waitOn: (r.wait_on as string | null) ?? null,
    model: (r.model as string | null) ?? null,
    program: String(r.program),
    policy: (r.policy ?? {}) as Record<string, unknown>,
    budgets: (r.budgets ?? {}) as Record<string, unknown>,
    usage: { ...ZERO_USAGE, ...((r.usage ?? {}) as object) },
    stepNo: num(r.step_no),
    programState: programStateOf(r),
    result: r.result ?? null,
    exitReason: (r.exit_reason as string | null) ?? null,
    checkpointId: r.checkpoint_id === null || r.checkpoint_id === undefined ? null : num(r.checkpoint_id),
    ownerNode: (r.owner_node as string | null) ?? null,
    leaseEpoch: num(r.lease_epoch),
    vruntime: num(r.vruntime),
    restoredFrom: r.restored_from === null || r.restored_from === undefined ? null : num(r.restored_from),
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
  };
}

export function toSnapshot(r: Row): SnapshotRow {
  return {
    id: num(r.id),
    pid: num(r.pid),
    stepNo: num(r.step_no),
    programState: r.program_state ?? null,
    process: (r.process ?? {}) as Record<string, unknown>,
    reason: r.reason as SnapshotReason,
    createdAt: toDate(r.created_at),
  };
}

export function toDate(v: unknown): Date {
  return v instanceof Date ? v : new Date(String(v));
}
