/**
 * The kernel's side of the scheduler: LLM slots are the CPUs. A process asking for a model call enters
 * the ready queue and waits here for a grant; the scheduler (src/scheduler) decides who runs next by
 * priority, aging, fair share and rate limits. Nothing but a model call holds a slot: tools, messages and
 * approvals are waited on without one.
 */
import type { AosConfig } from '../config/schema.js';
import { KernelError } from '../errors.js';
import type { LlmUsage } from '../llm/model.js';
import type { KernelMetrics } from '../metrics/registry.js';
import { schedulerOptionsFromConfig } from '../scheduler/config.js';
import { Dispatcher } from '../scheduler/dispatcher.js';
import { type Grant, Scheduler } from '../scheduler/scheduler.js';
import { SharedQuota } from '../scheduler/shared-quota.js';
import { RateGrantStore } from '../storage/coordination/rate-grants.js';
import type { StorageDriver } from '../storage/driver.js';
import { KernelBudgets } from './budgets.js';
import type { ModelResolver } from './model-resolver.js';
import type { Pcb } from './pcb.js';
import type { ProcControl } from './process-table.js';

export class Cpu {
  readonly scheduler: Scheduler;
  /** Kernel-wide and per-tenant budgets, reserved per call from pools every node shares (./budgets.ts). */
  readonly budgets: KernelBudgets;
  private readonly dispatcher: Dispatcher;
  /** Set by the runner between steps: the next call continues an unexpired time slice. */
  readonly continuing = new Set<number>();

  constructor(
    config: AosConfig,
    private readonly metrics: KernelMetrics,
    private readonly models: ModelResolver,
    /** On a cluster: rate limits and fixed slot counts are pools shared by all nodes (DESIGN §6). */
    cluster: { driver: StorageDriver; nodeId: string } | undefined,
    /** Where budgets are kept (every driver: on one node as on many). */
    storage: { driver: StorageDriver; nodeId: string },
  ) {
    this.budgets = new KernelBudgets(config, storage.driver, storage.nodeId);
    const grants = cluster ? new RateGrantStore(cluster.driver, cluster.nodeId) : null;
    const base = schedulerOptionsFromConfig(config);
    this.scheduler = new Scheduler({
      ...base,
      ...(grants
        ? {
            rateLimiter: {
              ...base.rateLimiter,
              shared: (name, limit, windowMs) =>
                new SharedQuota(name, limit, windowMs, grants, () => this.dispatcher.pump()),
            },
          }
        : {}),
      hooks: {
        onDispatch: (s) => metrics.schedLatency.observe(s.waitedMs / 1000),
        onQuotaDenied: (d) => metrics.quotaDenials.inc({ kind: d.kind }),
      },
    });
    this.dispatcher = new Dispatcher(this.scheduler);
    metrics.onCollect(() => this.updateGauges());
  }

  /** Waits for an LLM slot for `pc`'s model. The process is `ready` while it waits, `running` once granted. */
  async acquire(
    pc: ProcControl,
    req: { messages: Array<{ content: string }>; maxOutputTokens?: number | undefined },
    signal: AbortSignal,
  ): Promise<Grant> {
    const pcb = pc.pcb;
    const info = this.models.describe(pcb.model);
    const estTokens = this.estimate(pcb.model, req).tokens;
    const continuing = this.continuing.delete(pcb.pid);
    const grant = this.dispatcher.acquire(
      {
        pid: pcb.pid,
        priority: pcb.priority,
        // A tenant's processes share one fair share, however many it runs (gateway sessions, API spawns).
        group: typeof pcb.policy.tenant === 'string' ? pcb.policy.tenant : null,
        model: pcb.model,
        provider: info.provider,
        vruntime: pcb.vruntime,
        parentPid: pcb.parentPid,
        estTokens,
      },
      { continuing, signal },
    );
    return await grant;
  }

  /**
   * Upper-bound estimate of a call (≈3 chars per token, plus its whole output allowance) so TPM and budget
   * reservations never undercount; reconciled when the call is settled.
   */
  estimate(
    model: string,
    req: { messages: Array<{ content: string }>; maxOutputTokens?: number | undefined },
  ): { tokens: number; costUsd: number } {
    const info = this.models.describe(model);
    let chars = 0;
    for (const m of req.messages) chars += m.content.length;
    const out = req.maxOutputTokens ?? Math.min(info.maxOutputTokens, 4096);
    return this.budgets.estimate(model, info.provider, Math.ceil(chars / 3), out);
  }

  /** Whether `pid` sits in the run queue waiting for a slot (acquire() called, not yet granted). */
  queued(pid: number): boolean {
    return this.scheduler.stateOf(pid) === 'ready';
  }

  release(grant: Grant, usage: LlmUsage, pcb?: Pcb): void {
    const r = this.dispatcher.release(grant, { tokensIn: usage.input, tokensOut: usage.output });
    if (pcb && pcb.pid === r.pid) pcb.vruntime = r.vruntime;
  }

  timeSliceExpired(pcb: Pcb, used: { steps: number; tokens: number }): boolean {
    if (this.scheduler.stateOf(pcb.pid) === undefined) return false;
    const expired = this.scheduler.timeSliceExpired(pcb.pid, used);
    if (!expired) this.continuing.add(pcb.pid);
    return expired;
  }

  inherit(waiter: number, holder: number): void {
    if (this.scheduler.stateOf(waiter) !== undefined && this.scheduler.stateOf(holder) !== undefined) {
      this.scheduler.inherit(waiter, holder);
    }
  }

  uninherit(waiter: number, holder: number): void {
    if (this.scheduler.stateOf(waiter) !== undefined) this.scheduler.uninherit(waiter, holder);
  }

  /** Drops a waiting request (kill/suspend) — the process's step unwinds with EABORTED. */
  cancel(pid: number): void {
    this.dispatcher.cancel(pid, new KernelError('EABORTED', 'cancelled while waiting for an LLM slot'));
  }

  forget(pid: number): void {
    this.cancel(pid);
    this.continuing.delete(pid);
    this.scheduler.forget(pid);
  }

  snapshot() {
    return this.scheduler.stats();
  }

  close(): void {
    this.dispatcher.close();
  }

  /** Gives this node's part of the cluster-wide limits back (after its last call finished). */
  async closeShared(): Promise<void> {
    await Promise.all([this.scheduler.closeShared(), this.budgets.close()]);
  }

  /** The run queue and slot gauges, set when the metrics are read (metrics.onCollect). */
  private updateGauges(): void {
    const s = this.scheduler.stats();
    this.metrics.runQueue.set(s.runQueue);
    for (const [model, v] of Object.entries(s.slots)) {
      this.metrics.slotsBusy.set({ model }, v.busy);
      this.metrics.slotsTotal.set({ model }, v.total);
    }
  }
}
