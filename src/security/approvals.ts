/**
 * Human approval. A tool (or policy) marked `ask` calls ApprovalGate.request(); ApprovalManager keeps the
 * pending list, lets a human approve or deny through the library (API/dashboard call the same methods),
 * denies on timeout or abort, audits every request and decision, and tells the kernel through onPending /
 * onDecided so it can move the process to waiting(approval) and back.
 */
import { randomUUID } from 'node:crypto';
import { KernelError } from '../errors.js';
import * as P from '../param.js';
import type { AuditSink } from '../storage/audit/audit-log.js';
import { logger } from '../util/log.js';

const log = logger('approvals');

export interface ApprovalRequest {
  pid: number;
  tool: string;
  args: unknown;
  reason: string;
  idempotencyKey: string;
}

export interface ApprovalDecision {
  decision: 'approved' | 'denied';
  by?: string;
  reason?: string;
}

export interface ApprovalGate {
  request(req: ApprovalRequest, signal: AbortSignal): Promise<ApprovalDecision>;
}

export interface PendingApproval extends ApprovalRequest {
  id: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface ApprovalManagerOptions {
  audit?: AuditSink;
  timeoutMs?: number;
  onPending?: (p: PendingApproval) => void | Promise<void>;
  onDecided?: (p: PendingApproval, d: ApprovalDecision) => void | Promise<void>;
  /** Audit stream for approval records (default `proc:<pid>`, beside the tool calls). */
  auditStream?: (pid: number) => string;
}

interface Waiter {
  p: PendingApproval;
  resolve: (d: ApprovalDecision) => void;
  timer: NodeJS.Timeout;
  requested: Promise<void>;
}

export class ApprovalManager implements ApprovalGate {
  private readonly waiting = new Map<string, Waiter>();
  /** Earlier decisions by idempotency key: a retried step does not ask the human twice. */
  private readonly decided = new Map<string, ApprovalDecision>();

  constructor(private readonly o: ApprovalManagerOptions = {}) {}

  pending(pid?: number): PendingApproval[] {
    return [...this.waiting.values()].map((w) => w.p).filter((p) => pid === undefined || p.pid === pid);
  }

  async request(req: ApprovalRequest, signal: AbortSignal): Promise<ApprovalDecision> {
    const earlier = this.decided.get(req.idempotencyKey);
    if (earlier) return earlier;
    const timeoutMs = this.o.timeoutMs ?? P.APPROVAL_TIMEOUT_MS;
    const now = new Date();
    const p: PendingApproval = {
      ...req,
      id: randomUUID(),
      createdAt: now,
      expiresAt: new Date(now.getTime() + timeoutMs),
    };
    // Pending from this moment (a decision may arrive at once); the decision's audit waits for the request's.
    let resolveDecision!: (d: ApprovalDecision) => void;
    const decided = new Promise<ApprovalDecision>((resolve) => {
      resolveDecision = resolve;
    });
    const timer = setTimeout(() => {
      void this.settle(p.id, {
        decision: 'denied',
        by: 'timeout',
        reason: `no decision within ${Math.round(timeoutMs / 1000)} s`,
      });
    }, timeoutMs);
    timer.unref();
    const requested = this.audit(p, 'approval.requested', {
      tool: p.tool,
      args: p.args,
      reason: p.reason,
      expiresAt: p.expiresAt.toISOString(),
    });
    this.waiting.set(p.id, { p, resolve: resolveDecision, timer, requested: requested.catch(() => {}) });
    await requested;
    const onAbort = () =>
      void this.settle(p.id, {
        decision: 'denied',
        by: 'abort',
        reason: 'the process was stopped while waiting',
      });
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      await this.o.onPending?.(p);
    } catch (err) {
      // A failing observer must not leave the request hanging (the timeout still applies), but it is a bug.
      log.error(`approval onPending observer failed: ${err instanceof Error ? err.message : String(err)}`, {
        approvalId: p.id,
        pid: p.pid,
      });
    }
    try {
      return await decided;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  approve(id: string, by: string, reason?: string): Promise<void> {
    return this.decide(id, { decision: 'approved', by, ...(reason ? { reason } : {}) });
  }

  deny(id: string, by: string, reason?: string): Promise<void> {
    return this.decide(id, { decision: 'denied', by, ...(reason ? { reason } : {}) });
  }

  private async decide(id: string, d: ApprovalDecision): Promise<void> {
    if (!d.by) throw new KernelError('EINVAL', 'an approval decision needs "by" (who decided)');
    if (!this.waiting.has(id)) {
      throw new KernelError(
        'ENOTFOUND',
        `no pending approval ${id}; it was already decided or timed out (pending: ${
          this.pending()
            .map((p) => p.id)
            .join(', ') || 'none'
        })`,
      );
    }
    await this.settle(id, d);
  }

  private async settle(id: string, d: ApprovalDecision): Promise<void> {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    if (d.by !== 'abort') this.decided.set(w.p.idempotencyKey, d);
    await w.requested;
    await this.audit(w.p, d.decision === 'approved' ? 'approval.approved' : 'approval.denied', {
      tool: w.p.tool,
      by: d.by ?? null,
      reason: d.reason ?? null,
      waitedMs: Date.now() - w.p.createdAt.getTime(),
    });
    try {
      await this.o.onDecided?.(w.p, d);
    } catch (err) {
      // observers cannot change a decision, but their failure is reported
      log.error(`approval onDecided observer failed: ${err instanceof Error ? err.message : String(err)}`, {
        approvalId: w.p.id,
        pid: w.p.pid,
      });
    }
    w.resolve(d);
  }

  private async audit(p: PendingApproval, kind: string, payload: Record<string, unknown>): Promise<void> {
    if (!this.o.audit) return;
    await this.o.audit.append({
      stream: this.o.auditStream?.(p.pid) ?? `proc:${p.pid}`,
      kind,
      actor: kind === 'approval.requested' ? `pid:${p.pid}` : actorOf(String(payload.by ?? 'unknown')),
      payload: { approvalId: p.id, idempotencyKey: p.idempotencyKey, ...payload },
    });
  }
}

function actorOf(by: string): string {
  return by === 'timeout' || by === 'abort' ? `kernel:${by}` : `human:${by}`;
}
