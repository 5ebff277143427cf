/**
 * The per-process loop: run a step, commit it in one transaction, check budgets and the time slice,
 * repeat. Suspend and kill take effect at preemption points (every syscall and every step boundary);
 * kill is graceful first (the step finishes or is abandoned cleanly) and forced after KILL_GRACE_MS.
 */
import { KernelError, KernelPanic } from '../errors.js';
import { KILL_GRACE_MS } from '../param.js';
import type { ProcessPatch } from '../storage/state/types.js';
import { logger } from '../util/log.js';
import type { Kernel } from './kernel.js';
import { isLive, type Pcb, type ProcessUsage } from './pcb.js';
import type { StepRecord, StepResult } from './program.js';
import type { StepContext } from './syscalls.js';

const log = logger('kernel');

/** Thrown inside a step when the process is being killed; never escapes the runner. */
export class KilledSignal extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** Live, in-memory companions of a PCB that are never persisted. */
export interface ProcControl {
  pcb: Pcb;
  killReason: string | null;
  suspendRequested: boolean;
  resumeWaiters: Array<() => void>;
  abort: AbortController;
  /** Resolves when the process loop has returned. */
  loop: Promise<void> | null;
  /** Usage accrued by the in-flight step (committed with it). */
  stepUsage: ProcessUsage;
  /** The in-flight step, while one runs: internal callers (the summariser) buffer their effects into it. */
  step: StepContext | null;
  /** Steps and tokens since the process last yielded (time-slice accounting). */
  slice: { steps: number; tokens: number };
  startedAt: number;
}

export function newStepUsage(): ProcessUsage {
  return { tokensIn: 0, tokensCached: 0, tokensOut: 0, apiCalls: 0, toolCalls: 0, cost: 0, llmMs: 0 };
}

export function addUsage(into: ProcessUsage, d: Partial<ProcessUsage>): void {
  into.tokensIn += d.tokensIn ?? 0;
  into.tokensCached += d.tokensCached ?? 0;
  into.tokensOut += d.tokensOut ?? 0;
  into.apiCalls += d.apiCalls ?? 0;
  into.toolCalls += d.toolCalls ?? 0;
  into.cost += d.cost ?? 0;
  into.llmMs += d.llmMs ?? 0;
}

/** Called at every preemption point: parks a suspended process, unwinds a killed one. */
export async function preemptionPoint(k: Kernel, pc: ProcControl): Promise<void> {
  if (pc.killReason !== null) throw new KilledSignal(pc.killReason);
  if (k.isStopping()) throw new KilledSignal('kernel shutdown');
  if (pc.suspendRequested) await k.park(pc);
  if (pc.killReason !== null) throw new KilledSignal(pc.killReason);
}

export async function runProcess(k: Kernel, pc: ProcControl): Promise<void> {
  const pcb = pc.pcb;
  const program = k.programs.get(pcb.program);
  while (isLive(pcb.state)) {
    try {
      await preemptionPoint(k, pc);
    } catch (err) {
      if (err instanceof KilledSignal) {
        if (err.reason === 'kernel shutdown') return;
        await k.exitProcess(pc, 'killed', null, err.reason);
        return;
      }
      throw err;
    }
    const over = k.budgetExceeded(pc);
    if (over) {
      k.metrics.quotaDenials.inc({ kind: over.kind });
      if (over.action === 'suspend') {
        pc.suspendRequested = true;
        await k.park(pc, over.reason);
        continue;
      }
      await k.exitProcess(pc, 'failed', null, over.reason);
      return;
    }

    const step: StepContext = {
      stepNo: pcb.stepNo + 1,
      signal: pc.abort.signal,
      callIndex: 0,
      outbox: [],
      acks: [],
      auditEntries: [],
    };
    pc.stepUsage = newStepUsage();
    k.setState(pc, 'running');
    let res: StepResult<unknown>;
    pc.step = step;
    try {
      res = await program.step(pcb.programState, k.sysFor(pc, step));
    } catch (err) {
      pc.step = null;
      if (err instanceof KernelPanic) throw err;
      if (err instanceof KilledSignal || (pc.killReason !== null && KernelError.is(err, 'EABORTED'))) {
        // Abandoned cleanly: nothing of this step is committed.
        if (k.isStopping() && pc.killReason === null) return;
        await k.exitProcess(pc, 'killed', null, pc.killReason ?? (err as Error).message);
        return;
      }
      if (k.isStopping()) return;
      const msg = err instanceof Error ? err.message : String(err);
      const code = err instanceof KernelError ? err.code : 'EFAULT';
      res = { kind: 'fail', state: pcb.programState, error: `${code}: ${msg}` };
      log.warn(`pid ${pcb.pid} step ${step.stepNo} failed`, { error: msg });
    }
    pc.step = null;
    if (pcb.state === 'waiting') k.setState(pc, 'running');

    const record: StepRecord = res.record ?? { kind: res.kind === 'continue' ? 'step' : res.kind };
    const exiting = res.kind !== 'continue';
    try {
      await k.commitStep(pc, step, res, record);
    } catch (err) {
      if (KernelError.is(err, 'EFENCED') || KernelError.is(err, 'ECONFLICT')) {
        // Another node owns this process now (or already committed this step): stop, do not write twice.
        log.warn(`pid ${pcb.pid}: ${(err as Error).message}; this node stops running it`);
        k.forget(pc);
        return;
      }
      throw err;
    }
    if (exiting) {
      if (res.kind === 'done') await k.exitProcess(pc, 'done', res.result, null);
      else if (res.kind === 'fail') await k.exitProcess(pc, 'failed', null, res.error);
      return;
    }
    pc.slice.steps += 1;
    if (k.sliceExpired(pc)) {
      k.metrics.preemptions.inc();
      pc.slice = { steps: 0, tokens: 0 };
    }
    k.setState(pc, 'ready');
    // Always yield to the event loop between steps: with an instant model and embedded storage a step can
    // complete entirely in microtasks, and without this yield HTTP requests and timers would starve.
    await new Promise((r) => setImmediate(r));
  }
}

/** Escalates a graceful kill: abort in-flight calls after the grace period. */
export function scheduleForcedKill(pc: ProcControl, graceMs = KILL_GRACE_MS): NodeJS.Timeout {
  const t = setTimeout(() => {
    if (!pc.abort.signal.aborted)
      pc.abort.abort(new KernelError('EABORTED', `killed: ${pc.killReason ?? 'forced'}`));
  }, graceMs);
  t.unref();
  return t;
}

export function processPatch(pcb: Pcb): ProcessPatch {
  return {
    state: pcb.state,
    priority: pcb.priority,
    usage: pcb.usage,
    programState: pcb.programState,
    result: pcb.result,
    exitReason: pcb.exitReason,
    vruntime: pcb.vruntime,
    model: pcb.model,
    waitOn: null,
  };
}
