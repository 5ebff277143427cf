/**
 * The process table: the PCBs this node runs and their live companions (abort controller, suspend/kill
 * requests, the in-flight step, time-slice counters). It owns every state change (`setState`, which checks
 * the PCB's state machine and keeps metrics and the `proc.state` event in step), the live count, and the
 * waiters on a process's exit or on the table going idle. Node ownership and leases belong here too.
 * Terminated processes leave the table; storage keeps them.
 */

import { newUsage, type ProcessUsage, type ProcStatus, type StepContext } from '../abi.js';
import { KernelError, panic } from '../errors.js';
import type { HookBus } from '../hooks/bus.js';
import type { KernelMetrics } from '../metrics/registry.js';
import type { TraceSpan } from '../metrics/tracing.js';
import { storedCopy } from '../storage/state/delta.js';
import type { ProcessRow } from '../storage/state/types.js';
import {
  describeWait,
  isLive,
  type Pcb,
  type ProcessState,
  parseProviderWait,
  transition,
  type WaitReason,
} from './pcb.js';

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
  /** The in-flight step's span (tracing on), parent of its model and tool calls' spans. */
  stepSpan: TraceSpan | null;
  /** The in-flight step, while one runs: internal callers (the summariser) buffer their effects into it. */
  step: StepContext | null;
  /** Steps and tokens since the process last yielded (time-slice accounting). */
  slice: { steps: number; tokens: number };
  startedAt: number;
  /** A user message may be waiting in the mailbox (set by a send, cleared when the program takes it). */
  userMail: boolean;
  /** Consecutive provider outages that parked this process (the backoff exponent; 0 after a good step). */
  parkAttempts: number;
  /**
   * A single-node kernel spawned the process or committed its last step, so no model-call journal row or
   * effect record exists for the next step (rows for step N+1 are only written by a run that began after
   * step N committed; a restore deletes the later ones). False for a process loaded from storage (boot,
   * restore), after a step attempt that did not commit, and always on nodes (another node may have taken
   * the process over and run the step). The runner turns it into `freshStep`.
   */
  recordsClean: boolean;
  /** The step in flight when it is that step's first attempt on a clean record (see recordsClean): its
   *  journal slots and effect records are not read back, since there is nothing to read. */
  freshStep: StepContext | null;
  /**
   * On a node: performance.now() before which this node surely holds the process's lease (the last
   * renewal's send time + the period; ./lease-guard.ts). 0: unknown — renewed before the next effect.
   */
  leaseUntil: number;
}

export class ProcessTable {
  private readonly procs = new Map<number, ProcControl>();
  private liveProcs = 0;
  private readonly exitWaiters = new Map<number, Array<(s: ProcStatus) => void>>();
  private readonly idleWaiters: Array<() => void> = [];
  /**
   * On a node: pids this node stopped driving while storage may still name it their owner (a lease it lost
   * that nobody took yet), with the time (performance.now()) to stop looking: its claims look at these
   * rows directly (src/storage/state/nodes.ts), besides unowned processes and those of dead nodes.
   */
  readonly released = new Map<number, number>();

  constructor(
    private readonly nodeId: string,
    private readonly metrics: KernelMetrics,
    private readonly hooks: HookBus,
  ) {}

  get(pid: number): ProcControl | undefined {
    return this.procs.get(pid);
  }

  /** The control block of a live process on this node, or ENOPROC. */
  live(pid: number): ProcControl {
    const pc = this.procs.get(pid);
    if (!pc || !isLive(pc.pcb.state)) throw new KernelError('ENOPROC', `no live process ${pid} on this node`);
    return pc;
  }

  all(): ProcControl[] {
    return [...this.procs.values()];
  }

  liveCount(): number {
    return this.liveProcs;
  }

  /** Generations of live ancestors above `pid` on this node (stops counting past `max`). */
  depth(pid: number, max: number): number {
    let depth = 0;
    for (let p: number | null = pid; p !== null && depth <= max; depth++)
      p = this.procs.get(p)?.pcb.parentPid ?? null;
    return depth;
  }

  liveChildren(pid: number): number {
    let n = 0;
    for (const pc of this.procs.values()) if (pc.pcb.parentPid === pid && isLive(pc.pcb.state)) n++;
    return n;
  }

  /** Takes a stored process into the table (spawn, restore, recovery after a crash). */
  adopt(row: ProcessRow, defaultModel: string): ProcControl {
    if (this.procs.has(row.pid)) panic(`process ${row.pid} adopted twice`);
    const parked = row.state === 'waiting' ? parseProviderWait(row.waitOn) : null;
    const pcb: Pcb = {
      pid: row.pid,
      parentPid: row.parentPid,
      name: row.name,
      task: row.task,
      program: row.program,
      createdAt: row.createdAt.getTime(),
      priority: row.priority,
      model: row.model ?? defaultModel,
      // A step in flight when the last owner stopped is redone from the last commit; a process parked on a
      // provider outage stays parked until its retry time (./provider-park.ts).
      state: parked
        ? 'waiting'
        : row.state === 'running' || row.state === 'waiting' || row.state === 'new'
          ? 'ready'
          : row.state,
      waitOn: parked,
      vruntime: row.vruntime,
      usage: { ...newUsage(), ...row.usage },
      budgets: row.budgets as Pcb['budgets'],
      stepNo: row.stepNo,
      programState: row.programState,
      storedState: storedCopy(row.programState),
      result: row.result,
      exitReason: row.exitReason,
      policy: row.policy,
      ownerNode: this.nodeId,
      leaseEpoch: row.leaseEpoch,
    };
    const pc: ProcControl = {
      pcb,
      killReason: null,
      suspendRequested: pcb.state === 'suspended',
      resumeWaiters: [],
      abort: new AbortController(),
      loop: null,
      stepUsage: newUsage(),
      stepSpan: null,
      step: null,
      slice: { steps: 0, tokens: 0 },
      startedAt: Date.now(),
      userMail: false,
      parkAttempts: 0,
      recordsClean: false,
      freshStep: null,
      leaseUntil: 0,
    };
    this.procs.set(row.pid, pc);
    if (isLive(pcb.state)) this.liveProcs += 1;
    this.metrics.processes.inc({ state: pcb.state });
    return pc;
  }

  setState(pc: ProcControl, to: ProcessState, waitOn: WaitReason | null = null): void {
    const from = pc.pcb.state;
    if (from === to && to !== 'waiting') return;
    if (from === 'waiting' && to === 'waiting') {
      // Same state, new reason (a tool call now waits on a human approval): not a transition.
      if (waitOn === null) panic(`pid=${pc.pcb.pid} waits on nothing`);
      pc.pcb.waitOn = waitOn;
      this.hooks.emit('proc.state', { pid: pc.pcb.pid, from, to, waitOn: describeWait(waitOn) });
      return;
    }
    transition(pc.pcb, to, waitOn);
    if (isLive(from) && !isLive(to)) this.liveProcs -= 1;
    this.metrics.processes.dec({ state: from });
    this.metrics.processes.inc({ state: to });
    this.hooks.emit('proc.state', { pid: pc.pcb.pid, from, to, waitOn: describeWait(waitOn) });
  }

  /** Drops a process from the table (terminated, fenced off, or replaced by a rewind). */
  remove(pid: number): void {
    const pc = this.procs.get(pid);
    if (!pc) return;
    this.procs.delete(pid);
    if (isLive(pc.pcb.state)) this.liveProcs -= 1;
    this.checkIdle();
  }

  /** Resolves when `pid` exits (the caller has checked it is live here). */
  onExit(pid: number): Promise<ProcStatus> {
    return new Promise<ProcStatus>((resolve) => {
      const list = this.exitWaiters.get(pid) ?? [];
      list.push(resolve);
      this.exitWaiters.set(pid, list);
    });
  }

  exited(pid: number, st: ProcStatus): void {
    for (const w of this.exitWaiters.get(pid) ?? []) w(st);
    this.exitWaiters.delete(pid);
    this.checkIdle();
  }

  /** Resolves when no live process is left. */
  onIdle(): Promise<void> {
    if (this.liveProcs === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (this.liveProcs > 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
