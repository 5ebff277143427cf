/**
 * The per-process loop, top to bottom: preemption point → budget check → run one step through the
 * syscall gate → commit its effects (./commit.ts) → exit, or account the time slice and yield. Suspend and
 * kill take effect at preemption points (every syscall and every step boundary); kill is graceful first
 * (the step finishes or is abandoned cleanly) and forced after KILL_GRACE_MS. Nothing here calls the
 * user-facing Kernel: the loop works on the KernelCore and the process table.
 */
import { newUsage, type StepContext, type StepRecord, type StepResult } from '../abi.js';
import { KernelError, KernelPanic } from '../errors.js';
import { learningOn, modelLessonsAtExit } from '../learning/process-hooks.js';
import type { TraceSpan } from '../metrics/tracing.js';
import { KILL_GRACE_MS } from '../param.js';
import { logger } from '../util/log.js';
import { journalWritten } from './call-journal.js';
import { isClustered } from './cluster.js';
import { commit } from './commit.js';
import type { KernelCore } from './core.js';
import { writeEntries, writeHeld } from './held-calls.js';
import {
  exitProcess,
  forget,
  hasUserMail,
  KilledSignal,
  park,
  planExit,
  preemptionPoint,
  voidStep,
} from './lifecycle.js';
import { isLive } from './pcb.js';
import { checkProcessBudget } from './process-budget.js';
import type { ProcControl } from './process-table.js';
import { parkableProviderError, parkOnProvider, waitOutPark } from './provider-park.js';
import { parkOnStorage, transientStorageError } from './storage-park.js';
import { invokeOutside, makeSys } from './syscall-gate.js';

const log = logger('kernel');

/** Starts a process's loop; a crash inside it fails that process, never the kernel. */
export function startLoop(core: KernelCore, pc: ProcControl): void {
  pc.loop = runProcess(core, pc).catch(async (err) => {
    log.error(`process ${pc.pcb.pid} loop crashed: ${err instanceof Error ? err.message : String(err)}`);
    if (isLive(pc.pcb.state) && !core.stopping) {
      await exitProcess(core, pc, 'failed', null, `kernel error: ${String(err)}`).catch(() => undefined);
    }
  });
}

/** The loop, restarted from the last commit after a storage outage parked it (./storage-park.ts). */
async function runProcess(core: KernelCore, pc: ProcControl): Promise<void> {
  for (;;) {
    try {
      return await runSteps(core, pc);
    } catch (err) {
      // Fenced anywhere in the loop (a parked process's write refused, a wait ended by the lease's loss):
      // another node runs the process now; this loop stops without writing.
      if (KernelError.is(err, 'EFENCED') && !core.stopping) {
        log.warn(`pid ${pc.pcb.pid}: ${(err as Error).message}; this node stops running it`);
        forget(core, pc);
        return;
      }
      const outage = transientStorageError(err);
      if (!outage || core.stopping) throw err;
      if (!(await parkOnStorage(core, pc, outage))) return;
    }
  }
}

async function runSteps(core: KernelCore, pc: ProcControl): Promise<void> {
  const { procs, metrics } = core;
  const pcb = pc.pcb;
  const program = core.programs.get(pcb.program);
  while (isLive(pcb.state)) {
    // 1. preemption point: a requested suspend parks here, a kill ends the process here
    try {
      await preemptionPoint(core, pc);
    } catch (err) {
      if (KernelError.is(err, 'EFENCED')) {
        // parked or woken under a lease this node no longer holds: whoever holds it now runs the process
        log.warn(`pid ${pcb.pid}: ${(err as Error).message}; this node stops running it`);
        forget(core, pc);
        return;
      }
      if (!(err instanceof KilledSignal)) throw err;
      if (err.reason !== 'kernel shutdown') await exitProcess(core, pc, 'killed', null, err.reason);
      return;
    }

    // 2. budgets: an exhausted one suspends or fails the process between steps
    const over = checkProcessBudget(pcb, Date.now() - pc.startedAt);
    if (over) {
      metrics.quotaDenials.inc({ kind: over.kind });
      if (over.action === 'suspend') {
        pc.suspendRequested = true;
        await park(core, pc, over.reason);
        continue;
      }
      await exitProcess(core, pc, 'failed', null, over.reason);
      return;
    }

    // 2b. parked on a provider outage (here, or before a restart): wait out the retry time
    if (pcb.waitOn?.on === 'provider') {
      await waitOutPark(core, pc);
      continue;
    }

    // 3. one step of the program; its syscalls buffer their effects into `step`
    const step: StepContext = {
      stepNo: pcb.stepNo + 1,
      signal: pc.abort.signal,
      callIndex: 0,
      outbox: [],
      acks: [],
      auditEntries: [],
    };
    pc.stepUsage = newUsage();
    pc.step = step;
    // Until this step commits, records of it may exist (an attempt that does not commit leaves them).
    pc.freshStep = pc.recordsClean ? step : null;
    pc.recordsClean = false;
    procs.setState(pc, 'running');
    pc.stepSpan = core.tracer.enabled ? startStepSpan(core, pc, step.stepNo) : null;
    let res: StepResult<unknown>;
    try {
      res = await program.step(pcb.programState, makeSys(core, pc, step));
    } catch (err) {
      pc.step = null;
      endStepSpan(pc, null, err instanceof Error ? err.message : String(err));
      // Gateway journal rows the step held record answers already sent: written whatever became of it.
      await writeEntries(core.storage.driver, step);
      if (err instanceof KernelPanic) throw err;
      if (err instanceof KilledSignal || (pc.killReason !== null && KernelError.is(err, 'EABORTED'))) {
        // Abandoned cleanly: nothing of this step is committed.
        if (core.stopping && pc.killReason === null) return;
        await exitProcess(core, pc, 'killed', null, pc.killReason ?? (err as Error).message);
        return;
      }
      // Answers the step got before it failed: journaled now, so its redo replays them (charged once).
      if (!KernelError.is(err, 'EFENCED')) await writeHeld(step).catch(() => undefined);
      if (core.stopping) return;
      // The lease ran out under the step (a late heartbeat, a paused node) or another node holds it now:
      // the step is void — its writes were refused — and the process is not this node's to fail. Stop;
      // whoever claims it next (another node, or this one) runs it on from its last committed step.
      if (KernelError.is(err, 'EFENCED') || KernelError.is(pc.abort.signal.reason, 'EFENCED')) {
        const reason = pc.abort.signal.reason as KernelError | undefined;
        // Handed to another node on its request (NodeAgent.handOver logs it): planned, not a lost lease.
        if (!reason?.details?.handedOver)
          log.warn(`pid ${pcb.pid}: ${(err as Error).message}; this node stops running it`);
        forget(core, pc);
        return;
      }
      // A storage outage is not the program's failure: runProcess parks the process and redoes the step.
      if (transientStorageError(err)) throw err;
      // A provider outage parks the process: nothing of this step is committed, it is retried later.
      const outage = parkableProviderError(err);
      if (outage) {
        voidStep(core, pc);
        pc.userMail ||= await hasUserMail(core, pcb.pid);
        if (pcb.state === 'waiting') procs.setState(pc, 'running');
        await parkOnProvider(core, pc, outage);
        continue;
      }
      const msg = err instanceof Error ? err.message : String(err);
      const code = err instanceof KernelError ? err.code : 'EFAULT';
      res = { kind: 'fail', state: pcb.programState, error: `${code}: ${msg}` };
      log.warn(`pid ${pcb.pid} step ${step.stepNo} failed`, { error: msg });
    }
    pc.step = null;
    if (pcb.state === 'waiting') procs.setState(pc, 'running');

    // 4. commit: step row, process row, audit, mail, acks — one transaction
    const record: StepRecord = res.record ?? { kind: res.kind === 'continue' ? 'step' : res.kind };
    pcb.programState = res.state;
    // A conversational program that answered while a user's message arrived answers that message next.
    const answerNext = res.kind === 'done' && pc.userMail && program.conversational === true;
    // A final step commits together with the exit: a kill never leaves a finished program runnable.
    const exit =
      res.kind === 'done' && !answerNext
        ? planExit(core, pc, 'done', res.result, null)
        : res.kind === 'fail'
          ? planExit(core, pc, 'failed', null, res.error)
          : undefined;
    try {
      await journalWritten(step); // the model calls' journal rows a forwarding program left in flight
      await commit(core, pc, {
        effects: step,
        step: { record, usage: pc.stepUsage, state: res.kind === 'continue' ? 'ready' : pcb.state },
        ...(exit ? { exit } : {}),
      });
    } catch (err) {
      endStepSpan(pc, null, `commit: ${err instanceof Error ? err.message : String(err)}`);
      // The gateway journal rows that were to ride the commit: on their own (./held-calls.ts).
      await writeEntries(core.storage.driver, step);
      if (KernelError.is(err, 'EFENCED') || KernelError.is(err, 'ECONFLICT')) {
        // Another node owns this process now (or already committed this step): stop, do not write twice.
        log.warn(`pid ${pcb.pid}: ${(err as Error).message}; this node stops running it`);
        forget(core, pc);
        return;
      }
      throw err;
    }

    endStepSpan(pc, res, res.kind === 'fail' ? res.error : undefined);

    // 5. exit, or account the time slice and yield
    pc.parkAttempts = 0;
    // Step N committed here, and (one node) nobody else runs it: no run can have written records of step
    // N+1. With nodes, a node paused past its lease may not know yet that another took the process and ran
    // that step already: it must read what the other wrote.
    pc.recordsClean = !isClustered(core);
    if (exit) {
      // Learning: the process's own model writes lessons about its run, through the gate, charged to it.
      const written = learningOn(core.config.learning, pcb.programState)
        ? await modelLessonsAtExit(
            core.learning,
            pcb.pid,
            {
              outcome: exit.outcome === 'done' ? 'done' : 'failed',
              result: exit.result,
              exitReason: exit.reason,
            },
            lessonWriter(core, pc),
          )
        : [];
      return exitProcess(core, pc, exit.outcome, exit.result, exit.reason, written, exit);
    }
    pc.slice.steps += 1;
    if (core.cpu.timeSliceExpired(pcb, pc.slice)) {
      metrics.preemptions.inc();
      pc.slice = { steps: 0, tokens: 0 };
    }
    procs.setState(pc, 'ready');
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

/** The process's model as a lesson writer (llm.chat, purpose 'learning'); none for the in-process simulator. */
function lessonWriter(core: KernelCore, pc: ProcControl) {
  if (core.models.describe(pc.pcb.model).simulated) return null;
  return (req: { messages: Array<{ role: 'system' | 'user'; content: string }>; maxOutputTokens: number }) =>
    invokeOutside(core, pc.pcb.pid, 'llm.chat', req, { purpose: 'learning' });
}

/** The step's span: a root span in the process's trace (GenAI `invoke_agent`), its calls its children. */
function startStepSpan(core: KernelCore, pc: ProcControl, stepNo: number): TraceSpan {
  const p = pc.pcb;
  return core.tracer.step(
    { pid: p.pid, createdAt: p.createdAt, name: p.name },
    {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': p.name,
      'gen_ai.agent.id': String(p.pid),
      'gen_ai.conversation.id': String(p.pid),
      'gen_ai.request.model': p.model,
      'aos.pid': p.pid,
      'aos.program': p.program,
      'aos.step_no': stepNo,
      'aos.audit.stream': `proc:${p.pid}`,
      'aos.node': core.nodeId,
    },
  );
}

/** Ends the step's span with what the step cost (committed or not) and how it ended. */
function endStepSpan(pc: ProcControl, res: StepResult<unknown> | null, error?: string): void {
  const span = pc.stepSpan;
  if (!span) return;
  pc.stepSpan = null;
  const u = pc.stepUsage;
  span.set({
    'gen_ai.usage.input_tokens': u.tokensIn,
    'gen_ai.usage.output_tokens': u.tokensOut,
    'gen_ai.usage.cache_read.input_tokens': u.tokensCached,
    'aos.usage.cost_usd': u.cost,
    'aos.usage.llm_ms': u.llmMs,
    'aos.usage.tool_calls': u.toolCalls,
    'aos.step.outcome': res ? res.kind : 'abandoned',
  });
  span.end(error);
}
