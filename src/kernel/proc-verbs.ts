/**
 * The user verbs on one process — suspend, resume, kill, approve — wherever it runs: on this node they
 * act on the live process (./control.ts), on a cluster they go to the node that runs it as a request in
 * the controls table (woken by NOTIFY). Also the cluster's view for `kernel.nodes()` and the status table
 * of the seeds' `printStatus`. The Kernel facade (./kernel.ts) only forwards here.
 */
import { KernelError } from '../errors.js';
import type { PendingApproval } from '../security/approvals.js';
import { RateGrantStore } from '../storage/coordination/rate-grants.js';
import type { NodeRow } from '../storage/state/nodes.js';
import type { ProcessState } from '../storage/state/types.js';
import { ClusterControl, killHere, resumeHere, suspendHere } from './control.js';
import type { KernelCore } from './core.js';
import type { Cpu } from './cpu.js';
import { infoFromPcb, infoFromRow, type ProcessInfo } from './info.js';
import { hasUserMail } from './lifecycle.js';
import type { NodeAgent } from './nodes.js';
import { isLive } from './pcb.js';
import { startLoop } from './runner.js';

export interface ClusterView {
  self: string;
  clustered: boolean;
  items: NodeRow[];
  limits: Array<{ name: string; limit: number; windowMs: number; used: number }>;
  /** Kernel-wide and tenant budgets, all nodes together: used = spent + reserved by calls in flight. */
  budgets: BudgetView[];
}

export type BudgetView = { name: string; limit: number; used: number; spent: number };

/** The approvals view: this node's pending list (sync), every node's, and decisions that reach any node. */
export interface Approvals {
  pending(pid?: number): PendingApproval[];
  all(pid?: number): Promise<PendingApproval[]>;
  approve(id: string, by: string, reason?: string): Promise<void>;
  deny(id: string, by: string, reason?: string): Promise<void>;
}

export function approvalsView(core: KernelCore, node: NodeAgent | null): Approvals {
  const control = node?.control ?? new ClusterControl(core);
  const local = core.tools.approvals;
  return {
    pending: (pid) => local.pending(pid),
    all: (pid) => control.pending(pid),
    approve: (id, by, reason) => control.decide(id, 'approve', by, reason),
    deny: (id, by, reason) => control.decide(id, 'deny', by, reason),
  };
}

export async function clusterView(core: KernelCore, node: NodeAgent | null): Promise<ClusterView> {
  const budgets = await core.cpu.budgets.store.pools();
  if (!node) return { self: core.nodeId, clustered: false, items: [], limits: [], budgets };
  const [items, limits] = await Promise.all([
    node.store.list(),
    new RateGrantStore(core.storage.driver, core.nodeId).pools(),
  ]);
  return { self: core.nodeId, clustered: true, items, limits, budgets };
}

/** Suspends the process at its next preemption point, on whichever node runs it. */
export async function suspendProcess(core: KernelCore, node: NodeAgent | null, pid: number): Promise<void> {
  if (core.procs.get(pid)) return suspendHere(core.procs.live(pid));
  await remote(core, node, pid, 'suspend', 'suspended');
}

export async function resumeProcess(core: KernelCore, node: NodeAgent | null, pid: number): Promise<void> {
  let pc = core.procs.get(pid);
  if (!pc && node) {
    // Another node runs it, or nobody does yet (a suspended process is claimed like any other): the
    // request reaches whoever runs it.
    await remote(core, node, pid, 'resume', 'resumed');
    return;
  }
  if (!pc) {
    // Suspended and not running here (after a restart): adopt it and let its loop park until woken.
    const row = await core.storage.state.getProcess(pid);
    if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
    if (row.state !== 'suspended')
      throw new KernelError('ESTATE', `process ${pid} is ${row.state}, not suspended`);
    pc = core.procs.adopt(row, core.models.defaultModel());
    pc.userMail = await hasUserMail(core, pid);
    startLoop(core, pc);
  }
  resumeHere(pc);
}

/**
 * Starts killing the process: here (graceful first; in-flight calls aborted after `graceMs` — the returned
 * timer, for the caller to clear once it has exited) or, on a cluster, on the node that runs it (null).
 */
export async function startKill(
  core: KernelCore,
  node: NodeAgent | null,
  pid: number,
  reason: string,
  graceMs: number,
): Promise<NodeJS.Timeout | null> {
  if (core.procs.get(pid)) return killHere(core, core.procs.live(pid), reason, graceMs);
  await remote(core, node, pid, 'kill', 'killed', { reason });
  return null;
}

/** A verb for a process this node does not run: a request to its node (clustered), else ENOPROC/ESTATE. */
async function remote(
  core: KernelCore,
  node: NodeAgent | null,
  pid: number,
  verb: 'kill' | 'suspend' | 'resume',
  done: string,
  arg: Record<string, unknown> = {},
): Promise<void> {
  if (!node) throw new KernelError('ENOPROC', `no live process ${pid} on this node`, { details: { pid } });
  const row = await core.storage.state.getProcess(pid);
  if (!row) throw new KernelError('ENOPROC', `no process ${pid}`, { details: { pid } });
  if (!isLive(row.state))
    throw new KernelError('ESTATE', `process ${pid} is ${row.state}; it cannot be ${done}`, {
      details: { pid, state: row.state },
    });
  await node.control.request(pid, verb, arg);
}

export interface KernelStatus {
  nodeId: string;
  uptimeMs: number;
  processes: ProcessInfo[];
  counts: Record<ProcessState, number>;
  scheduler: ReturnType<Cpu['snapshot']>;
  /** Kernel-wide and tenant budgets, all nodes together. */
  budgets: BudgetView[];
}

/** Every process in storage (live ones as this node holds them), the counts per state, the scheduler. */
export async function kernelStatus(core: KernelCore, bootedAt: number): Promise<KernelStatus> {
  const rows = await core.storage.state.listProcesses({ limit: 1000 });
  const processes = rows.map((r) => {
    const pc = core.procs.get(r.pid);
    return pc ? infoFromPcb(pc.pcb, core.tools.workspaceOf) : infoFromRow(r, core.tools.workspaceOf);
  });
  const counts = { new: 0, ready: 0, running: 0, waiting: 0, suspended: 0, zombie: 0, terminated: 0 };
  for (const p of processes) counts[p.state] += 1;
  return {
    nodeId: core.nodeId,
    uptimeMs: Date.now() - bootedAt,
    processes,
    counts,
    scheduler: core.cpu.snapshot(),
    budgets: await core.cpu.budgets.store.pools(),
  };
}

/** The seeds' status table: a header line with the counts, then one row per process. */
export function statusTable(s: {
  nodeId: string;
  processes: ProcessInfo[];
  counts: Record<string, number>;
}): string {
  const counts = Object.entries(s.counts).filter(([, n]) => n);
  const rows = s.processes.map((p) => {
    const tok = p.usage.tokensIn + p.usage.tokensOut;
    return `${String(p.pid).padEnd(6)}${p.state.padEnd(12)}${String(p.priority).padEnd(5)}${String(p.stepNo).padEnd(6)}${String(tok).padEnd(9)}${p.name}\n`;
  });
  return (
    `node ${s.nodeId}  processes ${s.processes.length}  ${counts.map(([k, n]) => `${k}=${n}`).join(' ')}\n` +
    `${'PID'.padEnd(6)}${'STATE'.padEnd(12)}${'PRI'.padEnd(5)}${'STEP'.padEnd(6)}${'TOKENS'.padEnd(9)}NAME\n` +
    rows.join('')
  );
}

/**
 * Removes an exited process's own workspace (workspaces outlive their process, for inspection). A live
 * process's is refused (ESTATE), a shared one too (EINVAL: other processes work in it); audited.
 */
export async function removeWorkspace(
  core: KernelCore,
  pid: number,
  actor = 'user',
): Promise<{ pid: number; path: string; removed: boolean }> {
  const row = await core.storage.state.getProcess(pid);
  if (!row) throw new KernelError('ENOPROC', `no process ${pid}`, { details: { pid } });
  const ws = core.tools.workspaceOf(row);
  if (isLive(row.state))
    throw new KernelError(
      'ESTATE',
      `process ${pid} is ${row.state}; its workspace ${ws.path} is in use (kill it first)`,
      {
        details: { pid, state: row.state },
      },
    );
  const removed = await core.tools.workspaces.remove(ws);
  if (removed)
    await core.storage.audit.append({
      stream: `proc:${pid}`,
      kind: 'workspace.remove',
      actor,
      payload: { path: ws.path },
    });
  return { pid, path: ws.path, removed };
}
