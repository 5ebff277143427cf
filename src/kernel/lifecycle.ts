/**
 * A process's life after spawn: preemption points (suspend parks, kill unwinds), exit (zombie until the
 * parent collects it, terminated when nobody will), reaping, and waiting on an exit. Spawning and restoring
 * are in ./spawn.ts; the step loop that calls these is ./runner.ts.
 */
import { type ProcStatus, USER_TOPIC } from '../abi.js';
import { KernelError } from '../errors.js';
import type { Lesson } from '../learning/lessons.js';
import { learnFromExit, learningOn } from '../learning/process-hooks.js';
import { ControlStore } from '../storage/state/controls.js';
import { logger } from '../util/log.js';
import { isClustered } from './cluster.js';
import { commit, type ExitPlan, exitEntry, processPatch } from './commit.js';
import type { KernelCore } from './core.js';
import { infoFromPcb, infoFromRow, type ProcessInfo, statusOf, statusOfRow } from './info.js';
import { isLive } from './pcb.js';
import type { ProcControl } from './process-table.js';

const log = logger('kernel');

/** Thrown inside a step when the process is being killed; never escapes the runner. */
export class KilledSignal extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * Called at every preemption point: parks a suspended process, unwinds a killed one, and stops one this
 * node no longer runs (EFENCED: its lease went to another node while it ran or waited here).
 */
export async function preemptionPoint(core: KernelCore, pc: ProcControl): Promise<void> {
  assertOurs(core, pc);
  if (pc.killReason !== null) throw new KilledSignal(pc.killReason);
  if (core.stopping) throw new KilledSignal('kernel shutdown');
  // A process adopted in `suspended` whose resume arrived before its loop started (a claim applies pending
  // control requests first) is not asked to park, but must still leave `suspended` the way park() does.
  if (pc.suspendRequested || pc.pcb.state === 'suspended') await park(core, pc);
  assertOurs(core, pc);
  if (pc.killReason !== null) throw new KilledSignal(pc.killReason);
}

/** Whether this incarnation is still the one this node runs (forget() drops it when the lease is lost). */
export function isOurs(core: Pick<KernelCore, 'procs'>, pc: ProcControl): boolean {
  return core.procs.get(pc.pcb.pid) === pc;
}

function assertOurs(core: KernelCore, pc: ProcControl): void {
  if (isOurs(core, pc)) return;
  throw new KernelError(
    'EFENCED',
    `pid ${pc.pcb.pid} is no longer run by this node (node ${core.nodeId} lost its lease)`,
  );
}

/** Parks a process whose suspension was requested until resume (or kill) wakes it. */
export async function park(core: KernelCore, pc: ProcControl, reason?: string): Promise<void> {
  const { procs, storage } = core;
  if (pc.pcb.state !== 'suspended') {
    procs.setState(pc, 'suspended');
    await storage.state.updateProcess(
      pc.pcb.pid,
      { state: 'suspended', ...(reason ? { exitReason: reason } : {}) },
      fence(core, pc),
    );
  }
  while (pc.suspendRequested && pc.killReason === null && !core.stopping && isOurs(core, pc)) {
    await new Promise<void>((r) => pc.resumeWaiters.push(r));
  }
  // Dropped while parked (forget() wakes the waiters): the new owner resumes it, this node writes nothing.
  if (!isOurs(core, pc)) return;
  if (pc.killReason === null && !core.stopping) {
    // Stored first: a write refused by the lease (EFENCED) leaves this incarnation `suspended` and resumed,
    // which forget() hands on as a resume to whoever holds the process now.
    await storage.state.updateProcess(pc.pcb.pid, { state: 'ready', exitReason: null }, fence(core, pc));
    procs.setState(pc, 'ready');
  }
}

/**
 * A fenced incarnation may have taken a control request (kill, suspend, resume) that it could not commit:
 * the request is filed again for whoever holds the process now (src/kernel/control.ts), never lost.
 */
function refileControls(core: KernelCore, pc: ProcControl): void {
  if (!isClustered(core)) return;
  const { pcb } = pc;
  const r =
    pc.killReason !== null
      ? { verb: 'kill' as const, arg: { reason: pc.killReason } }
      : pcb.state === 'suspended' && !pc.suspendRequested
        ? { verb: 'resume' as const, arg: {} }
        : pc.suspendRequested && pcb.state !== 'suspended'
          ? { verb: 'suspend' as const, arg: {} }
          : null;
  if (!r) return;
  void new ControlStore(core.storage.driver)
    .request(pcb.pid, r.verb, r.arg, core.nodeId)
    .catch((e) => log.warn(`pid ${pcb.pid}: ${r.verb} could not be handed on: ${String(e)}`));
}

/** On a node, a process row is written only under the lease this incarnation holds. */
function fence(core: KernelCore, pc: ProcControl): { expectEpoch?: number } {
  return isClustered(core) ? { expectEpoch: pc.pcb.leaseEpoch } : {};
}

/** Decides how a process exits (zombie for a live parent, else terminated) without changing it yet. */
export function planExit(
  core: KernelCore,
  pc: ProcControl,
  outcome: 'done' | 'failed' | 'killed',
  result: unknown,
  reason: string | null,
): ExitPlan {
  const pcb = pc.pcb;
  const parent = pcb.parentPid === null ? undefined : core.procs.get(pcb.parentPid);
  return {
    outcome,
    result: result ?? null,
    reason,
    exitReason: outcome === 'done' ? null : `${outcome}: ${reason ?? ''}`.trim(),
    state: parent && isLive(parent.pcb.state) ? 'zombie' : 'terminated',
  };
}

/**
 * Ends a process: zombie until its parent collects it, terminated when nobody will. `committed` is the
 * plan a final step already committed with it (runner.ts); otherwise the exit commits here.
 */
export async function exitProcess(
  core: KernelCore,
  pc: ProcControl,
  outcome: 'done' | 'failed' | 'killed',
  result: unknown,
  reason: string | null,
  /** Lessons the process's model wrote about its run (runner.ts), stored with the extractive ones. */
  written: readonly Lesson[] = [],
  committed?: ExitPlan,
): Promise<void> {
  const { procs } = core;
  const pcb = pc.pcb;
  if (!isLive(pcb.state)) return;
  const plan = committed ?? planExit(core, pc, outcome, result, reason);
  if (!committed) {
    // Committed before the PCB changes: a storage outage here leaves the process live, to be parked and
    // reloaded (./storage-park.ts), never a zombie in memory that storage still calls running.
    await commit(core, pc, {
      effects: {
        stepNo: pcb.stepNo,
        outbox: [],
        acks: [],
        auditEntries: [exitEntry(plan, pcb.stepNo, pcb.usage)],
      },
      process: { ...processPatch(pcb), result: plan.result, exitReason: plan.exitReason, state: plan.state },
      actor: 'kernel',
    });
  }
  core.cpu.forget(pcb.pid);
  pcb.result = plan.result;
  pcb.exitReason = plan.exitReason;
  procs.setState(pc, 'zombie');
  if (plan.state === 'terminated') procs.setState(pc, 'terminated');
  // The exit is committed: what follows is housekeeping, and a failure there must not leave waiters hanging.
  await afterExit(core, pc, committed !== undefined, written).catch((e) =>
    log.warn(`after the exit of ${pcb.pid}: ${String(e)}`),
  );
  core.hooks.emit('proc.exit', {
    pid: pcb.pid,
    state: pcb.state,
    reason: pcb.exitReason,
    result: pcb.result,
  });
  // Orphaned zombies are reaped: nobody is left to collect them.
  for (const child of procs.all()) {
    if (child.pcb.parentPid === pcb.pid && child.pcb.state === 'zombie') {
      await reap(core, child.pcb.pid).catch((e) => log.warn(`reaping ${child.pcb.pid}: ${String(e)}`));
    }
  }
  // Terminated processes leave the in-memory table (storage keeps them): a long-running kernel stays small.
  if (pcb.state === 'terminated') procs.remove(pcb.pid);
  procs.exited(pcb.pid, statusOf(pcb));
}

/** Exit snapshot, context close, lessons: best effort once the exit is committed. */
async function afterExit(
  core: KernelCore,
  pc: ProcControl,
  committedWithStep: boolean,
  written: readonly Lesson[],
): Promise<void> {
  const { storage } = core;
  const pcb = pc.pcb;
  await storage.state
    .checkpoint(pcb.pid, 'exit')
    .catch((e) => log.warn(`exit snapshot of ${pcb.pid} failed: ${String(e)}`));
  if (core.context.has(pcb.pid)) await core.context.close(pcb.pid, { keepSwap: true }).catch(() => undefined);
  if (learningOn(core.config.learning, pcb.programState)) {
    // The lesson writer's model call (after the exit committed with the final step) is charged too.
    if (committedWithStep) await storage.state.updateProcess(pcb.pid, { usage: pcb.usage });
    await learnFromExit(core.learning, pcb.pid, pcb.programState, written);
  }
}

/** Collects a zombie child (zombie → terminated). */
export async function reap(core: KernelCore, pid: number): Promise<void> {
  const pc = core.procs.get(pid);
  if (!pc || pc.pcb.state !== 'zombie') return;
  core.procs.setState(pc, 'terminated');
  await core.storage.state.updateProcess(pid, { state: 'terminated' });
  core.procs.remove(pid);
}

/** This node stops running a process (another node owns it now); its state stays as committed. */
export function forget(core: KernelCore, pc: ProcControl): void {
  // Only this incarnation: after a re-claim the table holds a newer one of the same pid, which runs on.
  if (core.procs.get(pc.pcb.pid) !== pc) return;
  // Its row may still name this node (a lapsed lease nobody took yet): this node's claims look at it.
  core.procs.released.set(pc.pcb.pid, performance.now() + 4 * core.config.storage.lease_s * 1000);
  refileControls(core, pc);
  voidStep(core, pc);
  core.cpu.forget(pc.pcb.pid);
  core.procs.remove(pc.pcb.pid);
  // A loop parked here (suspended, waiting out a provider outage) wakes, finds the process gone, stops.
  for (const w of pc.resumeWaiters.splice(0)) w();
}

/**
 * A step of `pc` did not commit and will be redone (here after an outage, or wherever the process is
 * claimed next): nothing it did may outlive it in memory either. Its program state is the committed one
 * (a step's result replaces it only on the way to the commit, and a failed commit reloads the stored row);
 * the live context is dropped, so the redone step imports it from that state instead of seeing the void
 * step's model reply, tool results or user messages.
 */
export function voidStep(core: KernelCore, pc: ProcControl): void {
  pc.step = null;
  core.context.discard(pc.pcb.pid);
}

/**
 * Whether a user's message waits, unread, for `pid`. Also the way back for the `userMail` hint after a void
 * step: its poll cleared the hint, but the messages it took were never acknowledged, so the redone step
 * must take them again.
 */
export async function hasUserMail(core: KernelCore, pid: number): Promise<boolean> {
  return (await core.storage.coordination.peek(String(pid), { limit: 1, topic: USER_TOPIC })).length > 0;
}

/** Resolves with the process's status once it has exited (at once when it already has). */
export async function waitFor(core: KernelCore, pid: number, timeoutMs?: number): Promise<ProcStatus> {
  const pc = core.procs.get(pid);
  // On a cluster the process may run on, or move to, another node: its stored row is the truth there.
  const clustered = core.storage.driver.kind === 'postgres';
  if (!pc || !isLive(pc.pcb.state)) {
    const row = await core.storage.state.getProcess(pid);
    if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
    if (!isLive(row.state) || (!pc && !clustered)) return statusOfRow(row);
  }
  const until = { done: false };
  const local = pc && isLive(pc.pcb.state) ? core.procs.onExit(pid) : new Promise<never>(() => {});
  const exit = clustered ? Promise.race([local, exitedInStorage(core, pid, until)]) : local;
  let timer: NodeJS.Timeout | undefined;
  const timeout =
    timeoutMs === undefined
      ? new Promise<never>(() => {})
      : new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new KernelError('ETIMEDOUT', `process ${pid} still running after ${timeoutMs} ms`)),
            timeoutMs,
          );
          timer.unref();
        });
  return Promise.race([exit, timeout]).finally(() => {
    clearTimeout(timer);
    until.done = true;
  });
}

/**
 * Resolves once the process has exited on any node (its exit lands in the stored row); `until` stops it.
 * While the process runs on this node its local exit answers and the row is not read: a read per waiter
 * every `everyMs` kept a pool of 10 connections busy at 200 waiting agents (9.4 statements per step), and
 * every process that moves here or away is picked up at the next turn.
 */
async function exitedInStorage(
  core: KernelCore,
  pid: number,
  until: { done: boolean },
  everyMs = 200,
): Promise<ProcStatus> {
  let watched: ProcControl | undefined;
  let localExit: Promise<ProcStatus | null> = Promise.resolve(null);
  for (;;) {
    if (until.done) return new Promise<never>(() => {});
    const here = core.procs.get(pid);
    if (here && isLive(here.pcb.state)) {
      if (here !== watched) {
        watched = here;
        localExit = core.procs.onExit(pid);
      }
      const st = await Promise.race([localExit, sleep(everyMs)]);
      if (st) return st;
      continue;
    }
    const row = await core.storage.state.getProcess(pid);
    if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
    if (!isLive(row.state)) return statusOfRow(row);
    await sleep(everyMs);
  }
}

const sleep = (ms: number) => new Promise<null>((r) => setTimeout(() => r(null), ms));

/** A process as callers see it: the live PCB on this node, else the stored row. */
export async function infoOf(core: KernelCore, pid: number): Promise<ProcessInfo> {
  const pc = core.procs.get(pid);
  if (pc) return infoFromPcb(pc.pcb, core.tools.workspaceOf);
  const row = await core.storage.state.getProcess(pid);
  if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
  return infoFromRow(row, core.tools.workspaceOf);
}
