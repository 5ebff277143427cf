/**
 * The commit: the one code path that writes a step's effects. One transaction holds the step row (when a
 * program step ends), the process row, the audit entries the step buffered, its outgoing mail and the
 * acknowledgement of the mail it consumed — so a crash loses at most the step in flight, and a step that
 * committed is never half there. A program step, a syscall made from outside a step (API, summariser) and
 * a process's exit all commit here. After the transaction: metrics, the `proc.step` event, mailbox wake-ups.
 */
import type { ProcessUsage, StepContext, StepRecord } from '../abi.js';
import { KernelError } from '../errors.js';
import { applyDelta, type DeltaOp, diffState } from '../storage/state/delta.js';
import { JsonText } from '../storage/state/rows.js';
import type { CommitStepInput, ProcessPatch, ProcessState } from '../storage/state/types.js';
import { jsonbText } from '../util/storable.js';
import type { KernelCore } from './core.js';
import { entriesStored, heldEntries, takeHeld } from './held-calls.js';
import type { Pcb } from './pcb.js';
import type { ProcControl } from './process-table.js';

export interface Commit {
  /** What the step buffered: outgoing mail, consumed mail, audit entries. */
  effects: Pick<StepContext, 'stepNo' | 'outbox' | 'acks' | 'auditEntries'>;
  /** A program step ended: its row in the step log, with the process row, fenced by the lease epoch. */
  step?: { record: StepRecord; usage: ProcessUsage; state: ProcessState };
  /** The process row without a step (an exit). */
  process?: ProcessPatch;
  /** Who the audit entries name (default `pid:<pid>`). */
  actor?: string;
  /**
   * A final step's exit (lifecycle.ts planExit), committed with the step: a kill never falls between a
   * program's last step and its exit, so no program runs past `done`.
   */
  exit?: ExitPlan;
}

/** How a process exits, decided before the commit that records it. */
export interface ExitPlan {
  outcome: 'done' | 'failed' | 'killed';
  result: unknown;
  reason: string | null;
  exitReason: string | null;
  state: 'zombie' | 'terminated';
}

/** The `proc.exit` audit entry. */
export function exitEntry(plan: ExitPlan, steps: number, usage: ProcessUsage) {
  return {
    kind: 'proc.exit',
    payload: { outcome: plan.outcome, reason: plan.exitReason, steps, usage: { ...usage } },
  };
}

type CommitCore = Pick<KernelCore, 'storage' | 'metrics' | 'hooks' | 'services' | 'procs'>;

export async function commit(core: CommitCore, pc: ProcControl, c: Commit): Promise<void> {
  const { storage } = core;
  const pcb = pc.pcb;
  const pid = String(pcb.pid);
  const e = c.effects;
  const t0 = performance.now();
  if (core.procs.get(pcb.pid) !== pc) {
    // This node dropped the process (its lease went to another node): whatever the step did, it writes nothing.
    throw new KernelError(
      'EFENCED',
      `pid ${pcb.pid} is no longer run by this node; its step is not committed`,
    );
  }
  const stepInput: CommitStepInput | undefined = c.step && {
    pid: pcb.pid,
    stepNo: e.stepNo,
    kind: c.step.record.kind,
    record: c.step.record,
    usage: c.step.usage,
    processPatch: c.exit
      ? {
          ...processPatch(pcb),
          state: c.exit.state,
          result: c.exit.result,
          exitReason: c.exit.exitReason,
        }
      : { ...processPatch(pcb), state: c.step.state },
    expectEpoch: pcb.leaseEpoch,
  };
  // What the step changed in the program state, or its whole state (see stateWrite); stored after the commit.
  const written = stepInput ? stateWrite(core, pcb, e.stepNo, !!c.exit) : null;
  if (stepInput && written) {
    if (written.delta) {
      delete stepInput.processPatch!.programState;
      stepInput.stateDelta = written.delta;
    } else stepInput.processPatch!.programState = new JsonText(written.whole!);
  }
  // The model calls' journal rows the step held (./held-calls.ts): in the step's statement, fenced with it.
  const held = c.step ? takeHeld(e) : null;
  // The gateway journal rows the step holds: in the same statement or transaction, so a call is one
  // statement and its row is stored with its step; left held if this commit fails (the runner writes them).
  const gateway = c.step ? heldEntries(e) : null;
  // The common step (no mail, no acks), a final one with its exit too: one statement, one round trip, on
  // either driver — the exit's process row and its proc.exit entry are in the same statement.
  let done = false;
  if (stepInput && !e.outbox.length && !e.acks.length) {
    const entries = e.auditEntries.map((a) => ({
      kind: a.kind,
      actor: c.actor ?? `pid:${pid}`,
      payload: a.payload,
    }));
    if (c.exit) entries.push({ ...exitEntry(c.exit, e.stepNo, pcb.usage), actor: 'kernel' });
    const chain = storage.audit.chain(`proc:${pid}`, entries);
    if (chain) {
      done =
        (await storage.state.commitStepChained(stepInput, chain.rows, held?.json, gateway?.json)) !== false;
      if (done) chain.committed();
      else chain.missed();
    }
  }
  // Any other commit writes the held rows first, each on its own, as a call does outside a step.
  if (!done && held) for (const h of held.calls) await h.write();
  if (!done)
    await storage.driver.transaction(async (tx) => {
      if (stepInput) {
        await storage.state.commitStep(stepInput, tx);
        for (const g of gateway?.entries ?? []) await g.insert(tx);
      } else if (c.process) {
        await storage.state.updateProcess(pcb.pid, c.process, { expectEpoch: pcb.leaseEpoch }, tx);
      }
      for (const m of e.outbox) {
        await storage.coordination.send(
          { from: pid, to: String(m.to), ...(m.topic ? { topic: m.topic } : {}), body: m.body },
          tx,
        );
      }
      if (e.acks.length) await storage.coordination.ack(pid, e.acks, tx, c.step ? e.stepNo : undefined);
      for (const a of e.auditEntries) {
        await storage.audit.append(
          { stream: `proc:${pid}`, kind: a.kind, actor: c.actor ?? `pid:${pid}`, payload: a.payload },
          tx,
        );
      }
      if (c.exit) {
        const x = exitEntry(c.exit, e.stepNo, pcb.usage);
        await storage.audit.append(
          { stream: `proc:${pid}`, kind: x.kind, actor: 'kernel', payload: x.payload },
          tx,
        );
      }
    });
  if (gateway) entriesStored(e);
  if (written) {
    pcb.storedState = written.delta
      ? applyDelta(pcb.storedState, JSON.parse(written.delta) as DeltaOp[])
      : JSON.parse(written.whole!);
  } else if (c.process?.programState !== undefined) pcb.storedState = undefined; // whole next step
  if (c.step) {
    core.metrics.stepCommitSeconds.observe((performance.now() - t0) / 1000);
    pcb.stepNo = e.stepNo;
    core.metrics.steps.inc();
    core.hooks.emit('proc.step', {
      pid: pcb.pid,
      stepNo: e.stepNo,
      kind: c.step.record.kind,
      record: c.step.record,
    });
  }
  for (const m of e.outbox) core.services.wakeMailbox(m.to);
}

/**
 * How a step writes its program state: the ops that changed it since the stored state (its JSON text),
 * or the whole state's JSON text — when no stored state is known, when the step exits, when its periodic
 * snapshot is due (so a state is at most snapshot_every_steps − 1 deltas from a whole one), or when the
 * new state is not of the stored one's kind.
 */
function stateWrite(
  core: CommitCore,
  pcb: Pcb,
  stepNo: number,
  exit: boolean,
): { delta?: string; whole?: string } {
  if (!exit && pcb.storedState !== undefined && !core.storage.state.fullStateDue(stepNo)) {
    const ops = diffState(pcb.storedState, pcb.programState);
    if (ops) return { delta: jsonbText(ops) };
  }
  return { whole: jsonbText(pcb.programState ?? null) };
}

/** The PCB's fields as the process row stores them. */
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
