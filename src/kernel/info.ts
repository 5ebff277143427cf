/** Process views for callers (library, API, CLI): a live PCB or a stored row, as one shape. */
import type { ProcessRow } from '../storage/state/types.js';
import type { Pcb, ProcessState } from './pcb.js';
import { describeWait } from './pcb.js';
import type { ProcStatus } from './syscalls.js';

export interface ProcessInfo {
  pid: number;
  parentPid: number | null;
  name: string;
  task: string;
  state: ProcessState;
  waitOn: string;
  priority: number;
  model: string;
  program: string;
  stepNo: number;
  usage: Pcb['usage'];
  result: unknown;
  exitReason: string | null;
  /** The directory its tools work in (docs/security.md#workspaces). */
  workspace: string;
}

/** Where a process works, as the device layer decides (ToolRuntime.workspaceOf). */
export type WorkspaceOf = (p: { pid: number; policy: Record<string, unknown> }) => { path: string };

function pathOf(ws: WorkspaceOf, p: { pid: number; policy: Record<string, unknown> }): string {
  try {
    return ws(p).path;
  } catch {
    return ''; // a stored policy naming no valid workspace: its tool calls fail saying so
  }
}

export function infoFromPcb(pcb: Pcb, ws: WorkspaceOf): ProcessInfo {
  return {
    pid: pcb.pid,
    parentPid: pcb.parentPid,
    name: pcb.name,
    task: pcb.task,
    state: pcb.state,
    waitOn: describeWait(pcb.waitOn),
    priority: pcb.priority,
    model: pcb.model,
    program: pcb.program,
    stepNo: pcb.stepNo,
    usage: pcb.usage,
    result: pcb.result,
    exitReason: pcb.exitReason,
    workspace: pathOf(ws, pcb),
  };
}

export function infoFromRow(row: ProcessRow, ws: WorkspaceOf): ProcessInfo {
  return {
    pid: row.pid,
    parentPid: row.parentPid,
    name: row.name,
    task: row.task,
    state: row.state,
    waitOn: row.waitOn ?? '',
    priority: row.priority,
    model: row.model ?? '',
    program: row.program,
    stepNo: row.stepNo,
    usage: row.usage,
    result: row.result,
    exitReason: row.exitReason,
    workspace: pathOf(ws, row),
  };
}

export function statusOf(pcb: Pcb): ProcStatus {
  return { pid: pcb.pid, name: pcb.name, state: pcb.state, result: pcb.result, exitReason: pcb.exitReason };
}

export function statusOfRow(row: ProcessRow): ProcStatus {
  return { pid: row.pid, name: row.name, state: row.state, result: row.result, exitReason: row.exitReason };
}
