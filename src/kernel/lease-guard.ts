/**
 * A node starts an effect — a model call, a tool's effect — only under a lease it holds with time to spare.
 * Writes are fenced at the database (epoch + unexpired lease), but an effect outside the database is not:
 * a node that stalled (paused, GC, a partition, an answer that came back late) could start a command after
 * its lease ended and another node took the process over and redid the step. So before each effect the
 * node checks its lease *locally*: every renewal (spawn, claim, heartbeat, a renewal here) notes the
 * monotonic time its statement was sent, and the lease it set ends at least one period after that (the
 * database's `now()` came later), so `sentAt + period` is a lower bound of the lease's end by the database
 * clock, with no clock to synchronise. With the margin ahead (LEASE_EFFECT_MARGIN_FRACTION of the period;
 * heartbeats every period/3 keep more than that) the effect starts with no round trip; with less, the node
 * renews this one lease first, and a lease it can no longer renew (ended, or another node's now) stops the
 * process here with EFENCED: the effect never starts. What no lease can prevent — a node frozen between
 * this check and the effect's first instruction for longer than the margin plus the claim grace — is said
 * in docs/deploy.md.
 */
import { KernelError } from '../errors.js';
import { LEASE_EFFECT_MARGIN_FRACTION, LEASE_EFFECT_MARGIN_MIN_MS } from '../param.js';
import { NodeStore } from '../storage/state/nodes.js';
import { isClustered } from './cluster.js';
import type { KernelCore } from './core.js';
import type { ProcControl } from './process-table.js';

type Core = Pick<KernelCore, 'storage' | 'config' | 'nodeId'>;

const leaseMsOf = (core: Core): number => core.config.storage.lease_s * 1000;

/** How much of the lease must be ahead of an effect that starts without a renewal. */
export function effectMargin(leaseMs: number): number {
  return Math.max(LEASE_EFFECT_MARGIN_MIN_MS, Math.floor(leaseMs * LEASE_EFFECT_MARGIN_FRACTION));
}

/** The lease a row this node creates starts with (on a node; none on one node). */
export function leaseOf(core: Core): { leaseMs?: number } {
  return isClustered(core) ? { leaseMs: leaseMsOf(core) } : {};
}

/** A statement sent at `sentAt` (performance.now()) set `pc`'s lease to the database's now() + period. */
export function noteLease(core: Core, pc: ProcControl, sentAt: number): void {
  pc.leaseUntil = Math.max(pc.leaseUntil, sentAt + leaseMsOf(core));
}

/**
 * Resolves when `pc`'s lease is held with the margin ahead (renewing it if needed); throws EFENCED when it
 * cannot be, before `what` starts. One node (no leases): at once.
 */
export async function holdLease(core: Core, pc: ProcControl, what: string): Promise<void> {
  if (!isClustered(core)) return;
  const leaseMs = leaseMsOf(core);
  const margin = effectMargin(leaseMs);
  if (pc.leaseUntil - performance.now() >= margin) return;
  const store = new NodeStore(core.storage.driver);
  // Twice at most: a renewal whose answer took longer than the lease minus the margin leaves too little.
  for (let i = 0; i < 2; i++) {
    const sentAt = performance.now();
    const held = await store.renew(core.nodeId, leaseMs, pc.pcb.pid, pc.pcb.leaseEpoch);
    if (!held) {
      throw new KernelError(
        'EFENCED',
        `pid ${pc.pcb.pid}: ${what} not started: this node's lease (epoch ${pc.pcb.leaseEpoch}) ended or ` +
          'another node holds the process now; the node stops driving it and whoever holds it redoes the step',
        { details: { pid: pc.pcb.pid, expectEpoch: pc.pcb.leaseEpoch } },
      );
    }
    noteLease(core, pc, sentAt);
    if (pc.leaseUntil - performance.now() >= margin) return;
  }
  throw new KernelError(
    'EFENCED',
    `pid ${pc.pcb.pid}: ${what} not started: renewing the lease took longer than the lease minus its ` +
      `${margin} ms margin (database overloaded?); the node stops driving the process`,
    { details: { pid: pc.pcb.pid, expectEpoch: pc.pcb.leaseEpoch } },
  );
}
