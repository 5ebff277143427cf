/**
 * The kernel as its users see it: the verbs of DESIGN §1 — spawn, run, status, suspend/resume/kill,
 * checkpoint, restore, shutdown (+ the seeds' aliases) — and read-only views of the subsystems (devices,
 * approvals, process table, memory, audit, mail, storage, learning). Everything else lives behind the KernelCore (./core.ts):
 * boot order in ./boot.ts, the step loop in ./runner.ts, the syscall gate in ./syscall-gate.ts, the one
 * commit path in ./commit.ts, lifecycle in ./lifecycle.ts and ./spawn.ts. Nothing inside calls back here.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import type { ProcStatus } from '../abi.js';
import type { AosConfig } from '../config/schema.js';
import type { ContextManager } from '../context/manager.js';
import { KernelError } from '../errors.js';
import type { HookBus } from '../hooks/bus.js';
import type { Learning } from '../learning/learning.js';
import { ProfileOptimizer } from '../learning/optimizer.js';
import { tokenizerName } from '../llm/tokenizer.js';
import type { KernelMetrics } from '../metrics/registry.js';
import { KILL_GRACE_MS } from '../param.js';
import type { AuditAnchors } from '../security/anchors.js';
import type { Storage } from '../storage/storage.js';
import { logger } from '../util/log.js';
import { bootCore, Core, type KernelOptions } from './boot.js';
import { type SendResult, sendMessage } from './conversation.js';
import type { Cpu } from './cpu.js';
import type { ToolRuntime } from './device-binding.js';
import {
  type AuditFacade,
  auditFacade,
  type MailFacade,
  type MemoryFacade,
  mailFacade,
  memoryFacade,
} from './facades.js';
import { type ForkOptions, type ForkResult, forkPoints, forkProcess } from './fork.js';
import type { ProcessInfo } from './info.js';
import { infoOf, waitFor } from './lifecycle.js';
import type { ModelResolver } from './model-resolver.js';
import { isClustered, NodeAgent } from './nodes.js';
import { PluginHost } from './plugin-host.js';
import {
  type Approvals,
  approvalsView,
  type ClusterView,
  clusterView,
  type KernelStatus,
  kernelStatus,
  removeWorkspace,
  resumeProcess,
  startKill,
  statusTable,
  suspendProcess,
} from './proc-verbs.js';
import type { ProcessTable } from './process-table.js';
import type { ProgramRegistry } from './program.js';
import { recover, restoreProcess, type SpawnOptions, spawnProcess } from './spawn.js';
import { type Caller, invokeOutside } from './syscall-gate.js';
import type { SyscallName } from './syscalls.js';

const log = logger('kernel');

export type { KernelOptions } from './boot.js';
export type { SendResult } from './conversation.js';
export type { ForkOptions, ForkResult } from './fork.js';
export type { ProcessInfo } from './info.js';
export type { Approvals, ClusterView, KernelStatus } from './proc-verbs.js';
export type { SpawnOptions } from './spawn.js';

export class Kernel {
  private readonly core: Core;
  /** Plugins from config and those added at run time (./plugin-host.ts). */
  plugins!: PluginHost<Kernel>;
  /** This kernel as a cluster node (storage on a PostgreSQL server); null on PGlite and memory://. */
  node: NodeAgent | null = null;
  private readonly bootedAt = Date.now();

  private constructor(readonly opts: KernelOptions) {
    // Unique per kernel process: two containers may share a hostname and both be pid 1, and a restarted
    // kernel may reuse a pid; the random part keeps their node rows (and leases) apart.
    this.core = new Core(opts.nodeId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`);
    this.memory = memoryFacade(this.core);
    this.audit = auditFacade(this.core);
    this.mail = mailFacade(this.core);
  }

  static async create(opts: KernelOptions = {}): Promise<Kernel> {
    const k = new Kernel(opts);
    try {
      await bootCore(opts, k.core); // config → storage → models → cpu → context → devices → anchors → syscalls
      k.plugins = new PluginHost(
        k,
        k.configFile ? dirname(k.configFile) : process.cwd(),
        () => k.core.storage?.audit,
      );
      if (opts.plugins !== false)
        for (const spec of k.config.plugins) await k.plugins.add(spec, { source: 'config' });
      k.hooks.emit('kernel.boot', { nodeId: k.nodeId });
      if (isClustered(k.core)) {
        // The tokenizer's first load blocks the event loop for a while (0.5 s, seconds on a loaded machine):
        // done before the node holds any lease, or its first heartbeat could come after the lease ran out.
        tokenizerName();
        // a node: register, heartbeat leases, claim processes nobody holds (recovery is a claim)
        k.node = new NodeAgent(k.core, k.config.storage.lease_s * 1000);
        await k.node.start(opts.recover !== false);
      } else if (opts.recover !== false) await recover(k.core); // resume live processes from their last step
    } catch (err) {
      await k.shutdown().catch(() => undefined);
      throw err;
    }
    return k;
  }

  // ── views of the subsystems (read-only) ──────────────────────────────────────────────────────────

  get nodeId(): string {
    return this.core.nodeId;
  }
  get config(): AosConfig {
    return this.core.config;
  }
  get configFile(): string | null {
    return this.core.configFile;
  }
  get hooks(): HookBus {
    return this.core.hooks;
  }
  get programs(): ProgramRegistry {
    return this.core.programs;
  }
  get metrics(): KernelMetrics {
    return this.core.metrics;
  }
  get storage(): Storage {
    return this.core.storage;
  }
  get models(): ModelResolver {
    return this.core.models;
  }
  get cpu(): Cpu {
    return this.core.cpu;
  }
  get context(): ContextManager {
    return this.core.context;
  }
  get anchors(): AuditAnchors | null {
    return this.core.anchors;
  }
  /** The processes this node runs (PCBs and their live companions). */
  get procs(): ProcessTable {
    return this.core.procs;
  }
  /** Devices: the tool registry, the one executor (policy, approval, sandbox, audit), MCP servers. */
  get devices(): ToolRuntime {
    return this.core.tools;
  }
  /** Alias of `devices`. */
  get tools(): ToolRuntime {
    return this.core.tools;
  }
  /** Tool calls waiting for a human decision — on every node, and decided wherever they were asked. */
  get approvals(): Approvals {
    return approvalsView(this.core, this.node);
  }
  /** Long-term memory: list, get, search; store/delete/reembed audited with the caller (./facades.ts). */
  readonly memory: MemoryFacade;
  /** The audit log: list, verify (chains, anchors), anchor now, a process's timeline. */
  readonly audit: AuditFacade;
  /** Processes' mailboxes: a process's messages, and those waiting for it. */
  readonly mail: MailFacade;
  /** Trajectories, analysis, lessons and evals over this kernel's storage (src/learning). */
  get learning(): Learning {
    return this.core.learning;
  }
  /** Operator-applied, audited, revertible profile changes from analysis suggestions. */
  get profileOptimizer(): ProfileOptimizer {
    return new ProfileOptimizer(this.core.storage.state, this.core.storage.audit);
  }
  isStopping(): boolean {
    return this.core.stopping;
  }

  // ── the user verbs ───────────────────────────────────────────────────────────────────────────────

  spawn(o: SpawnOptions): Promise<number> {
    return spawnProcess(this.core, o);
  }

  /** Seed-compatible alias. */
  spawnAgent(o: SpawnOptions): Promise<number> {
    return this.spawn(o);
  }

  /** Runs until every process has exited (or `timeoutMs` passes). Processes start running at spawn. */
  async run(opts: { timeoutMs?: number } = {}): Promise<void> {
    const idle = this.core.procs.onIdle();
    if (!opts.timeoutMs) return idle;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new KernelError('ETIMEDOUT', `kernel.run: processes still live after ${opts.timeoutMs} ms`)),
        opts.timeoutMs,
      );
      timer.unref();
    });
    return Promise.race([idle, timeout]).finally(() => clearTimeout(timer));
  }

  wait(pid: number, timeoutMs?: number): Promise<ProcStatus> {
    return waitFor(this.core, pid, timeoutMs);
  }

  status(): Promise<KernelStatus> {
    return kernelStatus(this.core, this.bootedAt);
  }

  /** The nodes on this storage (health, load) and the cluster-wide limits; one entry on embedded storage. */
  nodes(): Promise<ClusterView> {
    return clusterView(this.core, this.node);
  }

  /** Seed-compatible: the process table as text. */
  async printStatus(out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
    out(statusTable(await this.status()));
  }

  get(pid: number): Promise<ProcessInfo> {
    return infoOf(this.core, pid);
  }

  /** Suspends the process at its next preemption point, on whichever node runs it. */
  suspend(pid: number): Promise<void> {
    return suspendProcess(this.core, this.node, pid);
  }

  resume(pid: number): Promise<void> {
    return resumeProcess(this.core, this.node, pid);
  }

  /**
   * Graceful first: the current step finishes or is abandoned cleanly; in-flight calls are aborted after
   * `graceMs`. A process another node runs is killed there; this waits for its exit either way.
   */
  async kill(pid: number, reason = 'killed by request', graceMs = KILL_GRACE_MS): Promise<ProcStatus> {
    const timer = await startKill(this.core, this.node, pid, reason, graceMs);
    try {
      return await this.wait(pid);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Writes an explicit snapshot of the process's committed state; returns its checkpoint id. */
  async checkpoint(pid: number): Promise<number> {
    if (!(await this.core.storage.state.getProcess(pid)))
      throw new KernelError('ENOPROC', `no process ${pid}`);
    return this.core.storage.state.checkpoint(pid, 'checkpoint');
  }

  /**
   * Starts a process from any checkpoint (explicit, periodic or exit snapshot): a new pid by default (also
   * while the original runs: a fork), or `into: 'same'` to rewind an exited process to the checkpoint.
   */
  restore(
    checkpointId: number,
    o: { name?: string; priority?: number; into?: 'new' | 'same' } = {},
  ): Promise<number> {
    return restoreProcess(this.core, checkpointId, o);
  }

  /**
   * A user's message to a process (a conversation turn): it enters the mailbox with an audit entry, and the
   * process takes it as a user turn at its next step. A conversational program's exited process is
   * continued from its exit snapshot (same pid, step log and context, appended to).
   */
  send(pid: number, text: string, from = 'user'): Promise<SendResult> {
    return sendMessage(this.core, pid, text, from);
  }

  /**
   * Fork from a step: a new process from the snapshot of `stepNo` (optionally with a user message that
   * replaces the turn the source took next); the source is untouched. ENOTFOUND lists the forkable steps.
   */
  fork(pid: number, o: ForkOptions): Promise<ForkResult> {
    return forkProcess(this.core, pid, o);
  }

  /** The steps of a process a fork can start from, with their checkpoint ids. */
  forkPoints(pid: number): Promise<Map<number, { checkpointId: number; reason: string }>> {
    return forkPoints(this.core, pid);
  }

  /** Deletes an exited process's own workspace (kept after exit until this); `actor` is audited. */
  removeWorkspace(pid: number, actor?: string) {
    return removeWorkspace(this.core, pid, actor);
  }

  /** Seed-compatible alias. */
  restoreCheckpoint(checkpointId: number): Promise<number> {
    return this.restore(checkpointId);
  }

  /** The process's committed steps (its step log). */
  steps(pid: number, opts: { after?: number; limit?: number } = {}) {
    return this.core.storage.state.listSteps(pid, opts);
  }

  /** Invokes a syscall on behalf of a live process from outside a step (API, tests); committed at once. */
  syscall<K extends SyscallName>(pid: number, name: K, args: unknown, caller: Caller = {}) {
    return invokeOutside(this.core, pid, name, args, caller);
  }

  /** Stops every process loop (state is already committed), closes tools and storage. Idempotent. */
  async shutdown(): Promise<void> {
    const c = this.core;
    if (c.stopping) return;
    c.stopping = true;
    for (const pc of c.procs.all()) {
      for (const w of pc.resumeWaiters.splice(0)) w();
      pc.abort.abort(new KernelError('EABORTED', 'kernel shutdown'));
    }
    c.cpu?.close();
    await Promise.allSettled(c.procs.all().map((pc) => pc.loop));
    await c.cpu?.closeShared().catch((e) => log.warn(`returning shared limits failed: ${String(e)}`));
    // hand this node's processes back at once: another node claims them without waiting out the lease
    if (this.node) await this.node.stop().catch((e) => log.warn(`node leave failed: ${String(e)}`));
    await this.plugins?.closeAll();
    if (c.tools) await c.tools.close();
    if (c.anchors) await c.anchors.stop().catch((e) => log.warn(`final audit anchor failed: ${String(e)}`));
    c.hooks.emit('kernel.shutdown', { nodeId: c.nodeId });
    await c.tracer.shutdown().catch((e) => log.warn(`trace export at shutdown failed: ${String(e)}`));
    if (c.storage) await c.storage.close();
  }
}

export function createKernel(opts: KernelOptions = {}): Promise<Kernel> {
  return Kernel.create(opts);
}
