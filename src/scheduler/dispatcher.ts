/**
 * The async face of the Scheduler for the kernel loop: `await acquire(entity)` resolves when the process is
 * dispatched (a slot is free and the rate limiters admit it); `release(grant, usage)` gives the slot back.
 * It runs dispatch() after every event and sleeps on a timer until `nextWakeAt()` when only a rate limit
 * stands in the way. The timer is injectable, so tests drive it on a fake clock.
 */
import { KernelError, panic } from '../errors.js';
import type { Pid } from './policy.js';
import type { CallUsage, Grant, SchedEntity, Scheduler } from './scheduler.js';

/** Runs `fn` after `ms`; returns a cancel function. */
export type SetTimer = (fn: () => void, ms: number) => () => void;

const realTimer: SetTimer = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref?.();
  return () => clearTimeout(t);
};

interface Waiter {
  resolve(g: Grant): void;
  reject(e: unknown): void;
  off?: () => void;
}

export class Dispatcher {
  private readonly waiters = new Map<Pid, Waiter>();
  private readonly setTimer: SetTimer;
  private readonly clock: () => number;
  private cancelTimer: (() => void) | null = null;
  private timerAt: number | null = null;
  private closed = false;

  constructor(
    readonly scheduler: Scheduler,
    opts: { setTimer?: SetTimer; clock?: () => number } = {},
  ) {
    this.setTimer = opts.setTimer ?? realTimer;
    this.clock = opts.clock ?? Date.now;
  }

  /** Queues the process and resolves with its grant when it is dispatched. Abort: rejects with EABORTED. */
  acquire(entity: SchedEntity, opts: { continuing?: boolean; signal?: AbortSignal } = {}): Promise<Grant> {
    if (this.closed)
      return Promise.reject(new KernelError('ESTATE', 'the dispatcher is closed (kernel shutting down)'));
    if (this.waiters.has(entity.pid)) {
      return Promise.reject(
        new KernelError('ESTATE', `pid ${entity.pid} is already waiting for a slot`, {
          details: { pid: entity.pid },
        }),
      );
    }
    if (opts.signal?.aborted) return Promise.reject(aborted(entity.pid, opts.signal.reason));
    try {
      this.scheduler.enqueue(entity, { continuing: opts.continuing === true, now: this.clock() });
    } catch (err) {
      return Promise.reject(err); // one failure channel for callers: the promise
    }
    const p = new Promise<Grant>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (opts.signal) {
        const signal = opts.signal;
        const onAbort = () => this.cancel(entity.pid, aborted(entity.pid, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        w.off = () => signal.removeEventListener('abort', onAbort);
      }
      this.waiters.set(entity.pid, w);
    });
    this.pump();
    return p;
  }

  /** The call finished: frees the slot (and lets the next process in). */
  release(grant: Grant, usage: CallUsage): { pid: Pid; vruntime: number } {
    const r = this.scheduler.release(grant.slot, usage, this.clock());
    this.pump();
    return r;
  }

  /** Takes a waiting process out of the queue (suspend, kill); its acquire() rejects with `err`. */
  cancel(pid: Pid, err: unknown = aborted(pid)): boolean {
    const w = this.waiters.get(pid);
    if (!w) return false;
    this.waiters.delete(pid);
    w.off?.();
    this.scheduler.remove(pid);
    w.reject(err);
    this.pump();
    return true;
  }

  /** Dispatches everything that can run now; arms the timer for the next rate-limit opening. */
  pump(): void {
    if (this.closed) return;
    const now = this.clock();
    for (let g = this.scheduler.dispatch(now); g; g = this.scheduler.dispatch(now)) {
      const w = this.waiters.get(g.pid);
      // Only acquire() may enqueue on a scheduler a Dispatcher drives: a grant nobody awaits is a lost slot.
      if (!w)
        panic(`dispatcher: pid ${g.pid} was dispatched but nobody awaits it (enqueued outside acquire())`);
      this.waiters.delete(g.pid);
      w.off?.();
      w.resolve(g);
    }
    const wake = this.scheduler.nextWakeAt(now);
    if (wake === this.timerAt) return;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.timerAt = wake;
    if (wake !== null) {
      this.cancelTimer = this.setTimer(
        () => {
          this.cancelTimer = null;
          this.timerAt = null;
          this.pump();
        },
        Math.max(0, wake - now),
      );
    }
  }

  /** Number of processes waiting in acquire(). */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Stops the timer and rejects every waiter (shutdown). */
  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = null;
    for (const pid of [...this.waiters.keys()]) {
      const w = this.waiters.get(pid) as Waiter;
      this.waiters.delete(pid);
      w.off?.();
      this.scheduler.remove(pid);
      w.reject(new KernelError('EABORTED', `pid ${pid}: the kernel is shutting down`, { details: { pid } }));
    }
  }
}

function aborted(pid: Pid, reason?: unknown): KernelError {
  const why = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
  return new KernelError('EABORTED', `pid ${pid} stopped waiting for an LLM slot: ${why}`, {
    details: { pid },
  });
}
