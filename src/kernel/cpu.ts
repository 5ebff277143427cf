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
import { type Grant, Scheduler } from '../scheduler/Scheduler.js';
import { schedulerOptionsFromConfig } from '../scheduler/config.js';
import type { ModelResolver } from './models.js';
import type { Pcb } from './pcb.js';
import type { ProcControl } from './runner.js';

interface Waiter {
  pc: ProcControl;
  resolve: (g: Grant) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
}

export class Cpu {
  readonly scheduler: Scheduler;
  private readonly waiters = new Map<number, Waiter>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Set by the runner between steps: the next call continues an unexpired time slice. */
  readonly continuing = new Set<number>();

  constructor(
    config: AosConfig,
    private readonly metrics: KernelMetrics,
    private readonly models: ModelResolver,
  ) {
    this.scheduler = new Scheduler({
      ...schedulerOptionsFromConfig(config),
      hooks: {
        onDispatch: (s) => metrics.schedLatency.observe(s.waitedMs / 1000),
        onQuotaDenied: (d) => metrics.quotaDenials.inc({ kind: d.kind }),
      },
    });
  }

  /** Waits for an LLM slot for `pc`'s model. The process is `ready` while it waits, `running` once granted. */
  acquire(
    pc: ProcControl,
    req: { messages: Array<{ content: string }>; maxOutputTokens?: number | undefined },
    signal: AbortSignal,
  ): Promise<Grant> {
    if (this.closed) return Promise.reject(new KernelError('EABORTED', 'kernel shutting down'));
    if (signal.aborted) return Promise.reject(new KernelError('EABORTED', 'aborted before the model call'));
    const pcb = pc.pcb;
    const info = this.models.describe(pcb.model);
    // Upper-bound estimate (≈3 chars per token) so TPM reservations never undercount; reconciled on release.
    let chars = 0;
    for (const m of req.messages) chars += m.content.length;
    const estTokens = Math.ceil(chars / 3) + (req.maxOutputTokens ?? Math.min(info.maxOutputTokens, 4096));
    const continuing = this.continuing.delete(pcb.pid);
    this.scheduler.enqueue(
      {
        pid: pcb.pid,
        priority: pcb.priority,
        model: pcb.model,
        provider: info.provider,
        vruntime: pcb.vruntime,
        parentPid: pcb.parentPid,
        estTokens,
      },
      { continuing },
    );
    return new Promise<Grant>((resolve, reject) => {
      const onAbort = () => {
        this.scheduler.remove(pcb.pid);
        this.waiters.delete(pcb.pid);
        reject(new KernelError('EABORTED', 'aborted while waiting for an LLM slot'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(pcb.pid, {
        pc,
        resolve,
        reject,
        cleanup: () => signal.removeEventListener('abort', onAbort),
      });
      this.pump();
    });
  }

  release(grant: Grant, usage: LlmUsage, pcb?: Pcb): void {
    const r = this.scheduler.release(grant.slot, { inputTokens: usage.input, outputTokens: usage.output });
    if (pcb && pcb.pid === r.pid) pcb.vruntime = r.vruntime;
    this.pump();
  }

  /** Grants every slot that can be granted now; sleeps until the next rate-limit opening otherwise. */
  pump(): void {
    if (this.closed) return;
    for (let g = this.scheduler.dispatch(); g !== null; g = this.scheduler.dispatch()) {
      const w = this.waiters.get(g.pid);
      if (!w) {
        this.scheduler.release(g.slot, { inputTokens: 0, outputTokens: 0, apiCalls: 0 });
        continue;
      }
      this.waiters.delete(g.pid);
      w.cleanup();
      w.resolve(g);
    }
    this.updateGauges();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const wake = this.waiters.size ? this.scheduler.nextWakeAt() : null;
    if (wake !== null) {
      this.timer = setTimeout(() => this.pump(), Math.max(1, wake - Date.now()));
      this.timer.unref();
    }
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
    const w = this.waiters.get(pid);
    if (!w) return;
    this.scheduler.remove(pid);
    this.waiters.delete(pid);
    w.cleanup();
    w.reject(new KernelError('EABORTED', 'cancelled while waiting for an LLM slot'));
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
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const pid of [...this.waiters.keys()]) this.cancel(pid);
  }

  private updateGauges(): void {
    const s = this.scheduler.stats();
    this.metrics.runQueue.set(s.runQueue);
    for (const [model, v] of Object.entries(s.slots)) {
      this.metrics.slotsBusy.set({ model }, v.busy);
      this.metrics.slotsTotal.set({ model }, v.total);
    }
  }
}
