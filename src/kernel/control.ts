/**
 * One kernel to the user (DESIGN §6): the control verbs — kill, suspend, resume, an approval's decision —
 * reach a process wherever it runs. A process this node runs is controlled here at once; one another node
 * runs (or nobody runs yet) gets a request row (src/storage/state/controls.ts) and a NOTIFY that wakes its
 * owner, which also reads its processes' requests at every heartbeat and every claim (./nodes.ts), so a
 * request made while the process moves between nodes is applied by whoever runs it next. Approvals asked
 * on any node are listed on every node from the same table.
 */
import { KernelError } from '../errors.js';
import { KILL_GRACE_MS } from '../param.js';
import type { PendingApproval } from '../security/approvals.js';
import { type ControlRow, ControlStore, type ControlVerb } from '../storage/state/controls.js';
import { logger } from '../util/log.js';
import { isClustered } from './cluster.js';
import type { KernelCore } from './core.js';
import type { ProcControl } from './process-table.js';
import { scheduleForcedKill } from './runner.js';

const log = logger('kernel');

export { CONTROL_CHANNEL } from '../storage/state/controls.js';

/** Kill, locally: graceful first (the step finishes or is abandoned), in-flight calls aborted after graceMs. */
export function killHere(core: KernelCore, pc: ProcControl, reason: string, graceMs = KILL_GRACE_MS) {
  pc.killReason = reason;
  if (pc.pcb.state === 'suspended' || pc.pcb.state === 'new' || pc.pcb.waitOn?.on === 'provider')
    for (const w of pc.resumeWaiters.splice(0)) w();
  core.cpu.cancel(pc.pcb.pid);
  return scheduleForcedKill(pc, graceMs);
}

export function suspendHere(pc: ProcControl): void {
  if (pc.pcb.state !== 'suspended') pc.suspendRequested = true;
}

export function resumeHere(pc: ProcControl): void {
  pc.suspendRequested = false;
  for (const w of pc.resumeWaiters.splice(0)) w();
}

export class ClusterControl {
  readonly store: ControlStore;

  constructor(private readonly core: KernelCore) {
    this.store = new ControlStore(core.storage.driver);
  }

  get clustered(): boolean {
    return isClustered(this.core);
  }

  /** Asks whoever runs `pid` (now or next) to apply `verb`. */
  async request(pid: number, verb: ControlVerb, arg: Record<string, unknown> = {}): Promise<void> {
    await this.store.request(pid, verb, arg, this.core.nodeId);
  }

  /** Applies the requests for processes this node runs (all of them, or `pids`). */
  async applyPending(pids?: readonly number[]): Promise<void> {
    const mine = (pids ?? this.core.procs.all().map((pc) => pc.pcb.pid)).filter((p) =>
      this.core.procs.get(p),
    );
    if (mine.length === 0) return;
    for (const r of await this.store.take(mine)) await this.apply(r);
  }

  private async apply(r: ControlRow): Promise<void> {
    const pc = this.core.procs.get(r.pid);
    if (!pc) {
      // It left this node between the read and now: hand the request on to its next owner.
      await this.store.request(r.pid, r.verb, r.arg, r.byNode).catch(() => undefined);
      return;
    }
    log.info(`pid ${r.pid}: ${r.verb} requested by node ${r.byNode}`);
    switch (r.verb) {
      case 'kill':
        killHere(this.core, pc, String(r.arg.reason ?? `killed by request (node ${r.byNode})`));
        return;
      case 'suspend':
        suspendHere(pc);
        return;
      case 'resume':
        resumeHere(pc);
        return;
      case 'approve':
      case 'deny': {
        const id = String(r.arg.id);
        const by = String(r.arg.by ?? `node:${r.byNode}`);
        const reason = typeof r.arg.reason === 'string' ? r.arg.reason : undefined;
        const a = this.core.tools.approvals;
        await (r.verb === 'approve' ? a.approve(id, by, reason) : a.deny(id, by, reason)).catch((err) =>
          log.warn(`pid ${r.pid}: ${r.verb} of approval ${id} from node ${r.byNode}: ${String(err)}`),
        );
        return;
      }
    }
  }

  // ── approvals, as every node sees them ──────────────────────────────────────────────────────────

  /** Pending approvals of every node (this node's own when not clustered). */
  async pending(pid?: number): Promise<PendingApproval[]> {
    const local = this.core.tools.approvals.pending(pid);
    if (!this.clustered) return local;
    const seen = new Set(local.map((p) => p.id));
    const remote = (await this.store.approvals(pid)).filter((p) => !seen.has(p.id));
    return [
      ...local,
      ...remote.map((p) => ({
        id: p.id,
        pid: p.pid,
        tool: p.tool,
        args: p.args,
        reason: p.reason,
        idempotencyKey: p.idempotencyKey,
        createdAt: p.createdAt,
        expiresAt: p.expiresAt,
      })),
    ];
  }

  /** Decides an approval asked on any node; resolves once the deciding node has it. */
  async decide(id: string, decision: 'approve' | 'deny', by: string, reason?: string): Promise<void> {
    const a = this.core.tools.approvals;
    if (a.pending().some((p) => p.id === id) || !this.clustered)
      return decision === 'approve' ? a.approve(id, by, reason) : a.deny(id, by, reason);
    const row = await this.store.approval(id);
    if (!row)
      throw new KernelError(
        'ENOTFOUND',
        `no pending approval ${id} on any node; it was already decided or timed out (GET /api/v1/approvals lists them)`,
      );
    await this.request(row.pid, decision, { id, by, ...(reason ? { reason } : {}) });
  }
}
