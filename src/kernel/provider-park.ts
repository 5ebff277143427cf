/**
 * Outages park, not kill. A step whose model call failed for a reason that passes (429 with any
 * Retry-After, 5xx, connection refused, a timeout, an open circuit — after the provider layer's own short
 * retries and the fallback models) is abandoned uncommitted, and the process waits in
 * `waiting(provider)` holding no LLM slot until its retry time: the Retry-After the provider named, or a
 * jittered exponential backoff capped at scheduler.provider_retry_max_ms. The wait is written to the
 * process row, so a restarted kernel keeps it parked until the same time (./process-table.ts adopt).
 * `resume(pid)` wakes a parked process early (an operator who knows the provider is back); kill and
 * shutdown end the wait at once. Errors that will not pass (400, 401, 404) are not parked: they fail.
 */
import { KernelError, type KernelErrorCode } from '../errors.js';
import { logger } from '../util/log.js';
import { isClustered } from './cluster.js';
import type { KernelCore } from './core.js';
import { isOurs } from './lifecycle.js';
import { describeWait, type WaitReason } from './pcb.js';
import type { ProcControl } from './process-table.js';

const log = logger('kernel');

const PARKABLE: ReadonlySet<KernelErrorCode> = new Set(['EPROVIDER', 'ERATELIMIT', 'ECIRCUIT', 'ETIMEDOUT']);

/** The provider error a step failed with, when it is one that passes with time. */
export function parkableProviderError(err: unknown): KernelError | null {
  if (!(err instanceof KernelError) || !err.retryable || !PARKABLE.has(err.code)) return null;
  // Only model calls park (they carry the provider in details); a tool's own failure is its result.
  return typeof err.details.provider === 'string' ? err : null;
}

/** How long to stay parked: Retry-After exactly when given, else base·2^attempt (capped), jittered ±50 %. */
export function parkDelayMs(
  err: KernelError,
  attempt: number,
  o: { baseMs: number; maxMs: number; random?: () => number },
): number {
  const exp = Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt, 30));
  const backoff = Math.max(1, Math.floor(exp * (0.5 + (o.random ?? Math.random)() * 0.5)));
  const ra = err.details.retryAfterMs;
  if (typeof ra !== 'number' || !Number.isFinite(ra) || ra <= 0) return backoff;
  // A provider's Retry-After is honoured exactly; an open circuit's is our own guess (a probe that finds
  // it still open costs nothing), so the backoff may come first.
  return err.code === 'ECIRCUIT' ? Math.min(Math.ceil(ra), backoff) : Math.ceil(ra);
}

/** Moves a process whose step failed with `err` into waiting(provider), persisted, and waits out the delay. */
export async function parkOnProvider(core: KernelCore, pc: ProcControl, err: KernelError): Promise<void> {
  const s = core.config.scheduler;
  const ms = parkDelayMs(err, pc.parkAttempts, {
    baseMs: s.provider_retry_base_ms,
    maxMs: s.provider_retry_max_ms,
  });
  pc.parkAttempts += 1;
  // The configured provider and model names (the error's may name an endpoint or a fallback).
  const wait: WaitReason = {
    on: 'provider',
    provider: core.models.describe(pc.pcb.model).provider,
    model: pc.pcb.model,
    until: Date.now() + ms,
    reason: err.message.replace(/\s+/g, ' ').slice(0, 200),
  };
  core.procs.setState(pc, 'waiting', wait);
  // Fenced on a node: a lease lost meanwhile refuses the write (EFENCED), and the runner stops the loop.
  await core.storage.state.updateProcess(
    pc.pcb.pid,
    { state: 'waiting', waitOn: describeWait(wait) },
    fenceOf(core, pc),
  );
  log.warn(`pid ${pc.pcb.pid} parked on ${wait.provider} for ${ms} ms: ${wait.reason}`);
  await waitOutPark(core, pc);
}

/** Sleeps until the parked process's retry time (or resume/kill/shutdown), then makes it ready. */
export async function waitOutPark(core: KernelCore, pc: ProcControl): Promise<void> {
  const w = pc.pcb.waitOn;
  if (w?.on !== 'provider') return;
  // A shutdown or kill that came while the wait was being written finds no waiter: check, and listen to
  // the abort signal (shutdown always fires it) as well as the resume waiters.
  if (!core.stopping && pc.killReason === null && !pc.abort.signal.aborted) {
    await new Promise<void>((resolve) => {
      const signal = pc.abort.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, w.until - Date.now()));
      timer.unref?.();
      signal.addEventListener('abort', done, { once: true });
      pc.resumeWaiters.push(done);
    });
  }
  // Shutdown leaves the row as it is (still parked); the next kernel picks the wait up. A process this
  // node lost while it waited is the new owner's: nothing is written (the runner's next preemption point
  // stops the loop) — an unfenced 'ready' here could revive a process the new owner already finished.
  if (core.stopping || pc.pcb.state !== 'waiting' || !isOurs(core, pc)) return;
  core.procs.setState(pc, 'ready');
  await core.storage.state.updateProcess(pc.pcb.pid, { state: 'ready', waitOn: null }, fenceOf(core, pc));
}

/** On a node, the process row is written only under the lease this incarnation holds. */
function fenceOf(core: KernelCore, pc: ProcControl): { expectEpoch?: number } {
  return isClustered(core) ? { expectEpoch: pc.pcb.leaseEpoch } : {};
}
