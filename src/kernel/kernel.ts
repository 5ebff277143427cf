/**
 * The kernel: process table, boot order, lifecycle. Agents run as step functions (./program.ts) driven by
 * ./runner.ts; they reach the world only through the syscall table (./syscalls.ts, mechanisms in
 * ./services.ts). LLM slots (the CPUs) are arbitrated by the scheduler through ./cpu.ts. Every step
 * commits in one transaction (step log + process row + audit + outgoing mail), so a crash loses at most
 * the in-flight model call; boot resumes every live process from its last committed step.
 */
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { loadConfig, parseConfig } from '../config/load.js';
import type { AosConfig, AosConfigInput } from '../config/schema.js';
import type { ContextManager } from '../context/manager.js';
import { rebindContextStates } from '../context/snapshot.js';
import { KernelError, panic } from '../errors.js';
import { HookBus } from '../hooks/bus.js';
import { loadPlugins } from '../hooks/plugins.js';
import { Learning } from '../learning/learning.js';
import { ProfileOptimizer } from '../learning/optimizer.js';
import { learnFromExit, lessonArgs } from '../learning/process-hooks.js';
import { createKernelMetrics, type KernelMetrics } from '../metrics/registry.js';
import {
  KILL_GRACE_MS,
  MAX_LIVE_CHILDREN,
  MAX_LIVE_PROCESSES,
  MAX_SPAWN_DEPTH,
  PRIORITY_DEFAULT,
} from '../param.js';
import { AuditAnchors } from '../security/anchors.js';
import type { ProcessRow, ProcessState } from '../storage/state/types.js';
import { createStorage, type Storage } from '../storage/storage.js';
import { logger } from '../util/log.js';
import { createContextManager } from './context-binding.js';
import { Cpu } from './cpu.js';
import { createToolRuntime, type ToolRuntime } from './device-binding.js';
import { infoFromPcb, infoFromRow, type ProcessInfo, statusOf, statusOfRow } from './info.js';
import { createModelResolver, type ModelResolver } from './model-resolver.js';
import { describeWait, isLive, type Pcb, transition, type WaitReason } from './pcb.js';
import { type BudgetVerdict, checkProcessBudget } from './process-budget.js';
import { type AgentProgram, ProgramRegistry, type StepRecord, type StepResult } from './program.js';
import { reactProgram } from './react.js';
import {
  addUsage,
  newStepUsage,
  type ProcControl,
  processPatch,
  runProcess,
  scheduleForcedKill,
} from './runner.js';
import {
  createServices,
  type KernelServices,
  type ProcStatus,
  type StepContext,
  type Sys,
} from './services.js';
import { type Caller, invoke, makeSys } from './syscall-gate.js';
import type { SyscallName } from './syscalls.js';

const log = logger('kernel');

export interface KernelOptions {
  /** Inline configuration (config.yaml's shape); when absent, `configPath` or ./config.yaml is read. */
  config?: AosConfigInput;
  configPath?: string;
  /** Storage URL overriding config.storage.url (`memory://`, `pglite://DIR`, `postgres://…`). */
  storage?: string;
  nodeId?: string;
  /** Model lookup; defaults to the configured providers, falling back to the simulator. */
  models?: ModelResolver;
  programs?: Array<AgentProgram<any>>;
  /** Resume live processes found in storage (default true). */
  recover?: boolean;
  /** Load `plugins:` from config (default true). */
  plugins?: boolean;
}

export interface SpawnOptions {
  name: string;
  task: string;
  priority?: number;
  model?: string;
  program?: string;
  policy?: Record<string, unknown>;
  budgets?: { maxTokens?: number; maxCostUsd?: number; maxSteps?: number; maxWallMs?: number };
  args?: unknown;
  parentPid?: number | null;
}

export type { ProcessInfo } from './info.js';

export interface KernelStatus {
  nodeId: string;
  uptimeMs: number;
  processes: ProcessInfo[];
  counts: Record<ProcessState, number>;
  scheduler: ReturnType<Cpu['snapshot']>;
}

export class Kernel {
  readonly nodeId: string;
  readonly hooks = new HookBus();
  readonly programs = new ProgramRegistry();
  readonly metrics: KernelMetrics;
  config!: AosConfig;
  configFile: string | null = null;
  storage!: Storage;
  models!: ModelResolver;
  cpu!: Cpu;
  tools!: ToolRuntime;
  context!: ContextManager;
  anchors: AuditAnchors | null = null;
  private learningLayer: Learning | null = null;
  private services!: KernelServices;
  /** Live and zombie processes this node runs; terminated ones are dropped (storage keeps them). */
  private readonly procs = new Map<number, ProcControl>();
  private liveProcs = 0;
  private readonly exitWaiters = new Map<number, Array<(s: ProcStatus) => void>>();
  private readonly idleWaiters: Array<() => void> = [];
  private teardowns: Array<() => void | Promise<void>> = [];
  private stopping = false;
  private readonly bootedAt = Date.now();

  private constructor(private readonly opts: KernelOptions) {
    this.nodeId = opts.nodeId ?? `${hostname()}:${process.pid}`;
    this.metrics = createKernelMetrics();
  }

  static async create(opts: KernelOptions = {}): Promise<Kernel> {
    const k = new Kernel(opts);
    try {
      await k.boot();
    } catch (err) {
      await k.shutdown().catch(() => undefined);
      throw err;
    }
    return k;
  }

  /** The boot sequence, in order. */
  private async boot(): Promise<void> {
    this.loadConfiguration(); // config.yaml or inline options, validated
    this.storage = await createStorage(this.opts.storage ?? this.config.storage.url, {
      dataDir: this.config.data_dir,
      snapshotEverySteps: this.config.storage.snapshot_every_steps,
    }); // driver + migrations + the five stores
    this.models = this.opts.models ?? createModelResolver(this.config); // providers, catalogue, simulator
    this.cpu = new Cpu(this.config, this.metrics, this.models); // scheduler: slots, queue, rate limits
    this.context = createContextManager(this); // pages, replacement, swap to storage
    this.tools = await createToolRuntime(this); // registry, sandbox, executor, approvals, MCP
    if (!(this.opts.storage ?? this.config.storage.url).startsWith('memory://')) {
      // An in-memory database leaves nothing to anchor: its chain is gone when the kernel stops.
      this.anchors = new AuditAnchors(this.storage.audit, {
        dataDir: resolve(this.config.data_dir),
        intervalMs: this.config.security.audit_anchor_interval_s * 1000,
      });
      this.anchors.start(); // signed anchors of the audit chain heads, outside the database
    }
    this.services = createServices(this); // syscall mechanisms
    this.programs.register(reactProgram); // built-in ReAct agent
    for (const p of this.opts.programs ?? []) this.programs.register(p); // user programs
    if (this.opts.plugins !== false && this.config.plugins.length > 0) {
      const base = this.configFile ? dirname(this.configFile) : process.cwd();
      const loaded = await loadPlugins(this.config.plugins, this, base); // hook bus plugins
      for (const p of loaded) if (p.teardown) this.teardowns.push(p.teardown);
    }
    this.hooks.emit('kernel.boot', { nodeId: this.nodeId });
    if (this.opts.recover !== false) await this.recover(); // resume live processes from their last step
  }

  private loadConfiguration(): void {
    if (this.opts.config) {
      this.config = parseConfig(this.opts.config, '<createKernel options>').config;
    } else {
      const loaded = loadConfig(this.opts.configPath ? { path: this.opts.configPath } : {});
      this.config = loaded.config;
      this.configFile = loaded.file;
    }
  }

  /** Trajectories, analysis, lessons and evals over this kernel's storage (src/learning). */
  get learning(): Learning {
    this.learningLayer ??= new Learning(this.storage);
    return this.learningLayer;
  }

  /** Devices: the tool registry, the one executor (policy, approval, sandbox, audit), MCP servers. */
  get devices(): ToolRuntime {
    return this.tools;
  }

  /** Tool calls waiting for a human decision. */
  get approvals(): ToolRuntime['approvals'] {
    return this.tools.approvals;
  }

  /** Operator-applied, audited, revertible profile changes from analysis suggestions. */
  get profileOptimizer(): ProfileOptimizer {
    return new ProfileOptimizer(this.storage.state, this.storage.audit);
  }

  // ── public API ───────────────────────────────────────────────────────────────────────────────────

  async spawn(o: SpawnOptions): Promise<number> {
    if (this.stopping) throw new KernelError('ESTATE', 'the kernel is shutting down; spawn refused');
    const program = this.programs.get(o.program ?? 'react');
    const model = o.model ?? this.models.defaultModel();
    this.models.resolve(model); // fail now, not at the first step, when the model is unknown
    let req = {
      parentPid: o.parentPid ?? null,
      name: o.name,
      task: o.task,
      priority: o.priority ?? PRIORITY_DEFAULT,
      model,
    };
    if (this.hooks.has('proc.spawn.before')) req = await this.hooks.before('proc.spawn.before', req);
    if (!Number.isInteger(req.priority) || req.priority < 0 || req.priority > 99) {
      throw new KernelError(
        'EINVAL',
        `priority must be an integer 0–99 (lower is more urgent), got ${req.priority}`,
      );
    }
    this.checkSpawnLimits(req.parentPid);
    const row = await this.storage.state.createProcess({
      name: req.name,
      task: req.task,
      parentPid: req.parentPid,
      priority: req.priority,
      state: 'new',
      model,
      program: program.name,
      policy: o.policy ?? {},
      budgets: o.budgets ?? {},
      ownerNode: this.nodeId,
    });
    const args = await lessonArgs(this.learning, this.config.learning, program.name, row.task, o.args);
    const programState = await program.init({ pid: row.pid, name: row.name, task: row.task, args });
    const updated = await this.storage.state.updateProcess(row.pid, { programState, state: 'ready' });
    const pc = this.adopt(updated);
    this.hooks.emit('proc.spawn.after', { pid: row.pid, parentPid: req.parentPid, name: row.name });
    this.start(pc);
    return row.pid;
  }

  /** Fork-bomb guards: an agent that keeps spawning copies of itself hits EQUOTA, not the machine's memory. */
  private checkSpawnLimits(parentPid: number | null): void {
    if (this.liveCount() >= MAX_LIVE_PROCESSES) {
      throw new KernelError(
        'EQUOTA',
        `spawn refused: ${MAX_LIVE_PROCESSES} live processes (MAX_LIVE_PROCESSES)`,
      );
    }
    if (parentPid === null) return;
    let depth = 0;
    for (let p: number | null = parentPid; p !== null && depth <= MAX_SPAWN_DEPTH; depth++) {
      p = this.procs.get(p)?.pcb.parentPid ?? null;
    }
    if (depth >= MAX_SPAWN_DEPTH) {
      throw new KernelError(
        'EQUOTA',
        `spawn refused: process ${parentPid} is ${depth} generations deep (MAX_SPAWN_DEPTH ${MAX_SPAWN_DEPTH}); an agent may be spawning copies of itself`,
      );
    }
    let children = 0;
    for (const pc of this.procs.values())
      if (pc.pcb.parentPid === parentPid && isLive(pc.pcb.state)) children++;
    if (children >= MAX_LIVE_CHILDREN) {
      throw new KernelError(
        'EQUOTA',
        `spawn refused: process ${parentPid} already has ${children} live children (MAX_LIVE_CHILDREN)`,
      );
    }
  }

  /** Seed-compatible alias. */
  spawnAgent(o: SpawnOptions): Promise<number> {
    return this.spawn(o);
  }

  /** Runs until every process has exited (or `timeoutMs` passes). Processes start running at spawn. */
  async run(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.liveCount() === 0) return;
    await new Promise<void>((resolve, reject) => {
      this.idleWaiters.push(resolve);
      if (opts.timeoutMs) {
        setTimeout(
          () =>
            reject(
              new KernelError('ETIMEDOUT', `kernel.run: processes still live after ${opts.timeoutMs} ms`),
            ),
          opts.timeoutMs,
        ).unref();
      }
    });
  }

  async wait(pid: number, timeoutMs?: number): Promise<ProcStatus> {
    const pc = this.procs.get(pid);
    if (!pc || !isLive(pc.pcb.state)) {
      const row = await this.storage.state.getProcess(pid);
      if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
      if (!isLive(row.state) || !pc) return statusOfRow(row);
    }
    return new Promise<ProcStatus>((resolve, reject) => {
      const list = this.exitWaiters.get(pid) ?? [];
      list.push(resolve);
      this.exitWaiters.set(pid, list);
      if (timeoutMs !== undefined) {
        setTimeout(
          () => reject(new KernelError('ETIMEDOUT', `process ${pid} still running after ${timeoutMs} ms`)),
          timeoutMs,
        ).unref();
      }
    });
  }

  async status(): Promise<KernelStatus> {
    const rows = await this.storage.state.listProcesses({ limit: 1000 });
    const processes = rows.map((r) => this.infoOfRow(r));
    const counts = {
      new: 0,
      ready: 0,
      running: 0,
      waiting: 0,
      suspended: 0,
      zombie: 0,
      terminated: 0,
    } as Record<ProcessState, number>;
    for (const p of processes) counts[p.state] += 1;
    return {
      nodeId: this.nodeId,
      uptimeMs: Date.now() - this.bootedAt,
      processes,
      counts,
      scheduler: this.cpu.snapshot(),
    };
  }

  async printStatus(out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
    const s = await this.status();
    out(
      `node ${s.nodeId}  processes ${s.processes.length}  ${Object.entries(s.counts)
        .filter(([, n]) => n)
        .map(([k, n]) => `${k}=${n}`)
        .join(' ')}\n`,
    );
    out(
      `${'PID'.padEnd(6)}${'STATE'.padEnd(12)}${'PRI'.padEnd(5)}${'STEP'.padEnd(6)}${'TOKENS'.padEnd(9)}NAME\n`,
    );
    for (const p of s.processes) {
      const tok = p.usage.tokensIn + p.usage.tokensOut;
      out(
        `${String(p.pid).padEnd(6)}${p.state.padEnd(12)}${String(p.priority).padEnd(5)}${String(p.stepNo).padEnd(6)}${String(tok).padEnd(9)}${p.name}\n`,
      );
    }
  }

  async get(pid: number): Promise<ProcessInfo> {
    const pc = this.procs.get(pid);
    if (pc) return infoFromPcb(pc.pcb);
    const row = await this.storage.state.getProcess(pid);
    if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
    return this.infoOfRow(row);
  }

  async suspend(pid: number): Promise<void> {
    const pc = this.live(pid);
    if (pc.pcb.state === 'suspended') return;
    pc.suspendRequested = true;
  }

  async resume(pid: number): Promise<void> {
    let pc = this.procs.get(pid);
    if (!pc) {
      const row = await this.storage.state.getProcess(pid);
      if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
      if (row.state !== 'suspended')
        throw new KernelError('ESTATE', `process ${pid} is ${row.state}, not suspended`);
      pc = this.adopt(row);
      pc.suspendRequested = true;
      this.start(pc);
    }
    pc.suspendRequested = false;
    for (const w of pc.resumeWaiters.splice(0)) w();
  }

  /** Graceful first: the current step finishes or is abandoned cleanly; in-flight calls are aborted after `graceMs`. */
  async kill(pid: number, reason = 'killed by request', graceMs = KILL_GRACE_MS): Promise<ProcStatus> {
    const pc = this.live(pid);
    pc.killReason = reason;
    if (pc.pcb.state === 'suspended' || pc.pcb.state === 'new') {
      for (const w of pc.resumeWaiters.splice(0)) w();
    }
    this.cpu.cancel(pid);
    const timer = scheduleForcedKill(pc, graceMs);
    const st = await this.wait(pid);
    clearTimeout(timer);
    return st;
  }

  /** Writes an explicit snapshot of the process's committed state; returns its checkpoint id. */
  async checkpoint(pid: number): Promise<number> {
    const row = await this.storage.state.getProcess(pid);
    if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
    return this.storage.state.checkpoint(pid, 'checkpoint');
  }

  /**
   * Starts a process from any checkpoint (explicit, periodic or exit snapshot): a new pid by default (also
   * while the original runs: a fork), or `into: 'same'` to rewind an exited process to the checkpoint.
   * Program state, step number, context pages, usage and unconsumed mail come with it (storage/state/restore.ts).
   */
  async restore(
    checkpointId: number,
    o: { name?: string; priority?: number; into?: 'new' | 'same' } = {},
  ): Promise<number> {
    if (this.stopping) throw new KernelError('ESTATE', 'the kernel is shutting down; restore refused');
    const res = await this.storage.driver.transaction(async (tx) => {
      const r = await this.storage.state.restore(
        {
          snapshotId: checkpointId,
          into: o.into ?? 'new',
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(o.priority !== undefined ? { priority: o.priority } : {}),
          ownerNode: this.nodeId,
          rebind: rebindContextStates,
        },
        tx,
      );
      await this.storage.audit.append(
        {
          stream: `proc:${r.process.pid}`,
          kind: 'proc.restore',
          actor: 'kernel',
          payload: {
            checkpoint: checkpointId,
            from: r.sourcePid,
            into: o.into ?? 'new',
            stepNo: r.stepNo,
            discardedSteps: r.discardedSteps,
            mail: r.mail,
            pages: r.pages,
          },
        },
        tx,
      );
      return r;
    });
    const row = res.process;
    if (!this.programs.names().includes(row.program)) this.programs.get(row.program); // ENOTFOUND, clearly
    const old = this.procs.get(row.pid);
    if (old) this.procs.delete(row.pid); // a rewound zombie: its old control block is history
    const pc = this.adopt(row);
    this.start(pc);
    return row.pid;
  }

  /** Seed-compatible alias. */
  restoreCheckpoint(checkpointId: number): Promise<number> {
    return this.restore(checkpointId);
  }

  async steps(pid: number, opts: { after?: number; limit?: number } = {}) {
    return this.storage.state.listSteps(pid, opts);
  }

  /** Invokes a syscall on behalf of a process from outside a step (API, tests). Audited directly. */
  async syscall<K extends SyscallName>(pid: number, name: K, args: unknown, caller: Caller = {}) {
    const pc = this.live(pid);
    const step: StepContext = {
      stepNo: pc.pcb.stepNo,
      signal: pc.abort.signal,
      callIndex: 0,
      outbox: [],
      acks: [],
      auditEntries: [],
    };
    const res = await invoke(this, pc, step, name, args, caller);
    await this.storage.driver.transaction(async (tx) => {
      for (const m of step.outbox)
        await this.storage.coordination.send(
          { from: String(pid), to: String(m.to), ...(m.topic ? { topic: m.topic } : {}), body: m.body },
          tx,
        );
      if (step.acks.length) await this.storage.coordination.ack(String(pid), step.acks, tx);
      for (const e of step.auditEntries)
        await this.storage.audit.append(
          { stream: `proc:${pid}`, kind: e.kind, actor: `pid:${pid}`, payload: e.payload },
          tx,
        );
    });
    this.afterCommit(step);
    return res;
  }

  /** Stops every process loop (state is already committed), closes tools and storage. Idempotent. */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const pc of this.procs.values()) {
      for (const w of pc.resumeWaiters.splice(0)) w();
      pc.abort.abort(new KernelError('EABORTED', 'kernel shutdown'));
    }
    this.cpu?.close();
    await Promise.allSettled([...this.procs.values()].map((pc) => pc.loop));
    for (const t of this.teardowns.reverse())
      await Promise.resolve(t()).catch((e) => log.warn(`plugin teardown failed: ${String(e)}`));
    if (this.tools) await this.tools.close();
    if (this.anchors)
      await this.anchors.stop().catch((e) => log.warn(`final audit anchor failed: ${String(e)}`));
    this.hooks.emit('kernel.shutdown', { nodeId: this.nodeId });
    if (this.storage) await this.storage.close();
  }

  // ── internals used by the runner and services ─────────────────────────────────────────────────────

  isStopping(): boolean {
    return this.stopping;
  }

  live(pid: number): ProcControl {
    const pc = this.procs.get(pid);
    if (!pc || !isLive(pc.pcb.state)) throw new KernelError('ENOPROC', `no live process ${pid} on this node`);
    return pc;
  }

  control(pid: number): ProcControl | undefined {
    return this.procs.get(pid);
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

  /** Parks a process whose suspension was requested until resume() (or kill) wakes it. */
  async park(pc: ProcControl, reason?: string): Promise<void> {
    if (pc.pcb.state !== 'suspended') {
      this.setState(pc, 'suspended');
      await this.storage.state.updateProcess(pc.pcb.pid, {
        state: 'suspended',
        ...(reason ? { exitReason: reason } : {}),
      });
    }
    while (pc.suspendRequested && pc.killReason === null && !this.stopping) {
      await new Promise<void>((r) => pc.resumeWaiters.push(r));
    }
    if (pc.killReason === null && !this.stopping) {
      this.setState(pc, 'ready');
      await this.storage.state.updateProcess(pc.pcb.pid, { state: 'ready', exitReason: null });
    }
  }

  budgetExceeded(pc: ProcControl): BudgetVerdict | null {
    return checkProcessBudget(pc.pcb, Date.now() - pc.startedAt);
  }

  sliceExpired(pc: ProcControl): boolean {
    return this.cpu.timeSliceExpired(pc.pcb, pc.slice);
  }

  /** Accounts one LLM call's usage to the process and the step being built. */
  account(pc: ProcControl, d: Partial<Pcb['usage']>, model: string): void {
    addUsage(pc.pcb.usage, d);
    addUsage(pc.stepUsage, d);
    pc.slice.tokens += (d.tokensIn ?? 0) + (d.tokensOut ?? 0);
    this.metrics.tokens.inc({ kind: 'input', model }, (d.tokensIn ?? 0) - (d.tokensCached ?? 0));
    this.metrics.tokens.inc({ kind: 'cached', model }, d.tokensCached ?? 0);
    this.metrics.tokens.inc({ kind: 'output', model }, d.tokensOut ?? 0);
    if (d.cost) this.metrics.costUsd.inc({ model }, d.cost);
  }

  sysFor(pc: ProcControl, step: StepContext): Sys {
    return makeSys(this, pc, step);
  }

  /** The syscall mechanisms (for the gate in ./syscall-gate.ts). */
  servicesTable(): KernelServices {
    return this.services;
  }

  /** One transaction: step row + process row + audit entries + outgoing mail. */
  async commitStep(
    pc: ProcControl,
    step: StepContext,
    res: StepResult<unknown>,
    record: StepRecord,
  ): Promise<void> {
    const pcb = pc.pcb;
    pcb.programState = res.state;
    const t0 = performance.now();
    await this.storage.driver.transaction(async (tx) => {
      await this.storage.state.commitStep(
        {
          pid: pcb.pid,
          stepNo: step.stepNo,
          kind: record.kind,
          record,
          usage: pc.stepUsage,
          processPatch: { ...processPatch(pcb), state: res.kind === 'continue' ? 'ready' : pcb.state },
          expectEpoch: pcb.leaseEpoch,
        },
        tx,
      );
      for (const m of step.outbox) {
        await this.storage.coordination.send(
          { from: String(pcb.pid), to: String(m.to), ...(m.topic ? { topic: m.topic } : {}), body: m.body },
          tx,
        );
      }
      if (step.acks.length) await this.storage.coordination.ack(String(pcb.pid), step.acks, tx, step.stepNo);
      for (const e of step.auditEntries) {
        await this.storage.audit.append(
          { stream: `proc:${pcb.pid}`, kind: e.kind, actor: `pid:${pcb.pid}`, payload: e.payload },
          tx,
        );
      }
    });
    this.metrics.stepCommitSeconds.observe((performance.now() - t0) / 1000);
    pcb.stepNo = step.stepNo;
    this.metrics.steps.inc();
    this.hooks.emit('proc.step', { pid: pcb.pid, stepNo: step.stepNo, kind: record.kind, record });
    this.afterCommit(step);
  }

  private afterCommit(step: StepContext): void {
    for (const m of step.outbox) this.services.wakeMailbox(m.to);
  }

  /** Ends a process: zombie until its parent collects it, terminated when nobody will. */
  async exitProcess(
    pc: ProcControl,
    outcome: 'done' | 'failed' | 'killed',
    result: unknown,
    reason: string | null,
  ): Promise<void> {
    const pcb = pc.pcb;
    if (!isLive(pcb.state)) return;
    this.cpu.forget(pcb.pid);
    pcb.result = result ?? null;
    pcb.exitReason = outcome === 'done' ? null : `${outcome}: ${reason ?? ''}`.trim();
    const parentLive =
      pcb.parentPid !== null &&
      this.procs.has(pcb.parentPid) &&
      isLive(this.procs.get(pcb.parentPid)!.pcb.state);
    this.setState(pc, 'zombie');
    if (!parentLive) this.setState(pc, 'terminated');
    await this.storage.driver.transaction(async (tx) => {
      await this.storage.state.updateProcess(pcb.pid, { ...processPatch(pcb), state: pcb.state }, {}, tx);
      await this.storage.audit.append(
        {
          stream: `proc:${pcb.pid}`,
          kind: 'proc.exit',
          actor: 'kernel',
          payload: { outcome, reason: pcb.exitReason, steps: pcb.stepNo, usage: pcb.usage },
        },
        tx,
      );
    });
    await this.storage.state
      .checkpoint(pcb.pid, 'exit')
      .catch((e) => log.warn(`exit snapshot of ${pcb.pid} failed: ${String(e)}`));
    if (this.context.has(pcb.pid))
      await this.context.close(pcb.pid, { keepSwap: true }).catch(() => undefined);
    if (this.config.learning.enabled) await learnFromExit(this.learning, pcb.pid, pcb.programState);
    this.hooks.emit('proc.exit', {
      pid: pcb.pid,
      state: pcb.state,
      reason: pcb.exitReason,
      result: pcb.result,
    });
    const st = statusOf(pcb);
    for (const w of this.exitWaiters.get(pcb.pid) ?? []) w(st);
    this.exitWaiters.delete(pcb.pid);
    // Orphaned zombies are reaped: nobody is left to collect them.
    for (const child of this.procs.values()) {
      if (child.pcb.parentPid === pcb.pid && child.pcb.state === 'zombie') await this.reap(child.pcb.pid);
    }
    // Terminated processes leave the in-memory table (storage keeps them): a long-running kernel stays small.
    if (pcb.state === 'terminated') this.procs.delete(pcb.pid);
    this.checkIdle();
  }

  /** Collects a zombie child (zombie → terminated). */
  async reap(pid: number): Promise<void> {
    const pc = this.procs.get(pid);
    if (!pc || pc.pcb.state !== 'zombie') return;
    this.setState(pc, 'terminated');
    await this.storage.state.updateProcess(pid, { state: 'terminated' });
    this.procs.delete(pid);
  }

  forget(pc: ProcControl): void {
    this.cpu.forget(pc.pcb.pid);
    if (this.procs.delete(pc.pcb.pid) && isLive(pc.pcb.state)) this.liveProcs -= 1;
    this.checkIdle();
  }

  liveCount(): number {
    return this.liveProcs;
  }

  // ── process table ────────────────────────────────────────────────────────────────────────────────

  private adopt(row: ProcessRow): ProcControl {
    if (this.procs.has(row.pid)) panic(`process ${row.pid} adopted twice`);
    const pcb: Pcb = {
      pid: row.pid,
      parentPid: row.parentPid,
      name: row.name,
      task: row.task,
      program: row.program,
      createdAt: row.createdAt.getTime(),
      priority: row.priority,
      model: row.model ?? this.models.defaultModel(),
      state: row.state === 'running' || row.state === 'waiting' || row.state === 'new' ? 'ready' : row.state,
      waitOn: null,
      vruntime: row.vruntime,
      usage: { ...newStepUsage(), ...row.usage },
      budgets: row.budgets as Pcb['budgets'],
      stepNo: row.stepNo,
      programState: row.programState,
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
      stepUsage: newStepUsage(),
      step: null,
      slice: { steps: 0, tokens: 0 },
      startedAt: Date.now(),
    };
    this.procs.set(row.pid, pc);
    if (isLive(pcb.state)) this.liveProcs += 1;
    this.metrics.processes.inc({ state: pcb.state });
    return pc;
  }

  private start(pc: ProcControl): void {
    pc.loop = runProcess(this, pc).catch(async (err) => {
      // A panic or storage failure inside one process must not take the kernel down silently.
      log.error(`process ${pc.pcb.pid} loop crashed: ${err instanceof Error ? err.message : String(err)}`);
      if (isLive(pc.pcb.state) && !this.stopping) {
        await this.exitProcess(pc, 'failed', null, `kernel error: ${String(err)}`).catch(() => undefined);
      }
    });
  }

  private async recover(): Promise<void> {
    const rows = await this.storage.state.listProcesses({
      states: ['new', 'ready', 'running', 'waiting', 'suspended'],
      limit: 100_000,
    });
    for (const row of rows) {
      if (this.procs.has(row.pid)) continue;
      const pc = this.adopt(row);
      if (row.state !== 'suspended') this.start(pc);
    }
    if (rows.length) log.info(`recovered ${rows.length} live process(es) from storage`);
  }

  private checkIdle(): void {
    if (this.liveCount() > 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private infoOfRow(row: ProcessRow): ProcessInfo {
    const pc = this.procs.get(row.pid);
    return pc ? infoFromPcb(pc.pcb) : infoFromRow(row);
  }
}

export function createKernel(opts: KernelOptions = {}): Promise<Kernel> {
  return Kernel.create(opts);
}
