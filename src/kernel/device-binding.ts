/**
 * The kernel's device layer: binds the tool registry, executor, sandbox, approvals and per-process
 * security policies (src/io, src/security) to processes. `io.tool_call` lands here; the executor validates,
 * checks policy, asks for approval, runs in the sandbox, caps output and audits.
 */
import { randomUUID } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import type { AosConfig } from '../config/schema.js';
import type { HookBus } from '../hooks/bus.js';
import { builtinTools } from '../io/builtin/index.js';
import { cliToolsFromConfig } from '../io/cli-tools-config.js';
import { createToolExecutor, type ToolExecutor } from '../io/executor.js';
import { SqlIdempotencyStore } from '../io/idempotency.js';
import { McpManager } from '../io/mcp/manager.js';
import { ToolRegistry } from '../io/registry.js';
import { idempotencyKey, type ToolContext, type ToolResult } from '../io/tool.js';
import { type WorkspaceInfo, Workspaces } from '../io/workspaces.js';
import type { ToolSpec } from '../llm/model.js';
import * as P from '../param.js';
import { ApprovalManager } from '../security/approvals.js';
import { SecurityPolicy, type SecurityPolicyOptions } from '../security/policy.js';
import { chooseSandbox, type SandboxStatus } from '../security/sandbox/select.js';
import type { Sandbox } from '../security/sandbox.js';
import { ControlStore } from '../storage/state/controls.js';
import type { Storage } from '../storage/storage.js';
import { logger } from '../util/log.js';
import { describeWait, type Pcb } from './pcb.js';
import type { ProcControl, ProcessTable } from './process-table.js';
import type { StepContext, Sys, ToolOutcome } from './syscalls.js';

const log = logger('kernel.devices');

export interface ToolRuntime {
  readonly registry: ToolRegistry;
  readonly executor: ToolExecutor;
  readonly approvals: ApprovalManager;
  readonly sandbox: Sandbox;
  /** Which sandbox was chosen, whether it isolates, and the warning when it does not (health, banner). */
  readonly sandboxStatus: SandboxStatus;
  /** The workspace root (`security.workspace`); a process works in `workspaceOf(pcb)` below it. */
  readonly workspace: string;
  readonly workspaces: Workspaces;
  /** Where `pcb` works: its own `proc/<pid>`, a named `shared/<name>`, or the root (shared_workspace). */
  workspaceOf(pcb: Pick<Pcb, 'pid' | 'policy'>): WorkspaceInfo;
  /** MCP servers from `mcp.servers`; their tools are registered as `server.tool`. */
  readonly mcp: McpManager;
  policyFor(pcb: Pcb): SecurityPolicy;
  specsFor(pcb: Pcb, filter?: string[]): ToolSpec[];
  execute(
    pc: ProcControl,
    step: StepContext,
    callIndex: number,
    call: { id: string; name: string; arguments: string },
    auditTags?: Record<string, unknown>,
  ): Promise<ToolOutcome>;
  /**
   * A tool call from outside a step (the API): the same executor — hooks, policy, approval, sandbox,
   * idempotency record, audit — named after its caller. `sys` serves the tool's syscalls, if any.
   */
  callFromOutside(
    call: { name: string; arguments: Record<string, unknown> },
    o: { pcb: Pcb; actor: string; sys: ToolContext['sys']; signal: AbortSignal },
  ): Promise<ToolResult>;
  close(): Promise<void>;
}

/** What the device layer needs of the kernel (a tool's own syscalls go back through the gate via `sysFor`). */
export interface DeviceHost {
  readonly config: AosConfig;
  readonly configFile: string | null;
  readonly storage: Storage;
  readonly hooks: HookBus;
  readonly procs: ProcessTable;
  readonly nodeId: string;
  sysFor(pc: ProcControl, step: StepContext): Sys;
  /** Resolves when `pc` may start an effect (a node: its lease held with a margin), else EFENCED. */
  holdLease(pc: ProcControl, what: string): Promise<void>;
}

export async function createToolRuntime(k: DeviceHost): Promise<ToolRuntime> {
  const sec = k.config.security;
  const workspaces = new Workspaces(sec.workspace, sec.shared_workspace);
  workspaces.init();
  const workspace = workspaces.root;
  const { sandbox, status: sandboxStatus } = chooseSandbox(sec.sandbox, {
    dockerImage: sec.container.image,
    engine: sec.container.engine,
  });
  if (sandboxStatus.fallbackReason) {
    // Never silent: a boot where `auto` found no working bubblewrap (so every command is refused) is on
    // the record (stream `kernel`); an explicit `sandbox: none` is the config's choice, reported by health
    // and the banner.
    await k.storage.audit.append({
      stream: 'kernel',
      kind: 'sandbox.unavailable',
      actor: 'kernel',
      payload: {
        configured: sandboxStatus.configured,
        chosen: sandboxStatus.name,
        isolated: false,
        reason: sandboxStatus.fallbackReason,
        warning: sandboxStatus.warning,
      },
    });
  }
  // built-ins, then the agent-native CLI tools config declares (cli.<name>)
  const registry = new ToolRegistry()
    .registerAll(builtinTools())
    .registerAll(cliToolsFromConfig(k.config.cli_tools));
  // One policy per distinct stored policy, not per process: building one resolves every blocked path
  // (realpath), and processes mostly share theirs. Keyed by the stored policy's JSON, so a process whose
  // policy is replaced gets the new one on its next call.
  const policies = new Map<string, SecurityPolicy>();
  // A policy's tool list (io.tools), per filter, until the registry changes (an MCP server's tools).
  const specCache = new WeakMap<SecurityPolicy, { gen: number; byFilter: Map<string, ToolSpec[]> }>();

  // On a node, pending approvals are listed on every node (src/kernel/control.ts decides them anywhere),
  // and the wait is written to the process row, so every node shows waiting(approval) — not the state of
  // the last commit — while a human decides (fenced by the lease: a node that lost the process writes nothing).
  const shared = k.storage.driver.kind === 'postgres' ? new ControlStore(k.storage.driver) : null;
  const rowWrites = new Map<string, Promise<void>>();
  const writeWait = (pc: ProcControl, waitOn: string | null): Promise<void> =>
    k.storage.state
      .updateProcess(
        pc.pcb.pid,
        { state: waitOn ? 'waiting' : 'running', waitOn },
        { expectEpoch: pc.pcb.leaseEpoch },
      )
      .then(
        () => undefined,
        (e: unknown) => {
          log.warn(`pid ${pc.pcb.pid}: its approval wait not stored for other nodes: ${String(e)}`);
        },
      );
  const approvals = new ApprovalManager({
    audit: k.storage.audit,
    timeoutMs: sec.approval_timeout_s * 1000,
    onPending: async (p) => {
      const pc = k.procs.get(p.pid);
      const mine = pc && pc.pcb.state === 'waiting';
      if (mine) k.procs.setState(pc, 'waiting', { on: 'approval', id: p.id });
      if (shared) {
        await shared
          .putApproval({ ...p, node: k.nodeId })
          .catch((e) => log.warn(`approval ${p.id} not listed for other nodes: ${String(e)}`));
        if (mine) {
          const w = writeWait(pc, describeWait({ on: 'approval', id: p.id }));
          rowWrites.set(p.id, w);
          await w;
        }
      }
      k.hooks.emit('approval.pending', { pid: p.pid, id: p.id, tool: p.tool });
    },
    onDecided: async (p) => {
      const pc = k.procs.get(p.pid);
      const mine = pc && pc.pcb.state === 'waiting';
      if (mine) k.procs.setState(pc, 'waiting', { on: 'tool', name: p.tool });
      if (!shared) return;
      await shared.dropApproval(p.id).catch(() => undefined);
      // After the pending write (a decision may come while it is in flight): the row is in its step again.
      const pending = rowWrites.get(p.id);
      rowWrites.delete(p.id);
      if (pending) await pending;
      if (mine && pending) await writeWait(pc, null);
    },
  });

  const defaults = new SecurityPolicy({ ...sec.default_policy, allowed_paths: [] });
  const policyFor = (pcb: Pick<Pcb, 'pid' | 'policy'>): SecurityPolicy => {
    const key = JSON.stringify(pcb.policy ?? {});
    let p = policies.get(key);
    if (!p) {
      // The workspace is never among allowed_paths: resolvePath and the sandbox get it apart, per call.
      p = new SecurityPolicy({
        ...sec.default_policy,
        allowed_paths: sec.default_policy.allowed_paths.map((x) => resolve(x)),
        ...(pcb.policy as SecurityPolicyOptions),
      });
      if (policies.size >= P.POLICY_CACHE_MAX) policies.clear();
      policies.set(key, p);
    }
    return p;
  };
  // From the stored policy alone (no SecurityPolicy built): process listings ask it for every row.
  const workspaceOf = (pcb: Pick<Pcb, 'pid' | 'policy'>): WorkspaceInfo =>
    workspaces.of(pcb.pid, {
      workspace: (pcb.policy as { workspace?: string }).workspace ?? sec.default_policy.workspace,
    });
  // Made at spawn; made again before a call if it is gone (a process another node spawned, a removal).
  const made = new Set<string>();
  const workDir = (pcb: Pick<Pcb, 'pid' | 'policy'>): string => {
    const ws = workspaceOf(pcb);
    if (!made.has(ws.path)) {
      workspaces.ensure(ws);
      made.add(ws.path);
    }
    return ws.path;
  };
  // pid 0 is the API's own: tool calls without a process, and MCP servers' tool discovery.
  const apiWorkspace = workspaceOf({ pid: 0, policy: {} });
  workspaces.ensure(apiWorkspace);
  const mcp = new McpManager(registry, {
    sandbox,
    workspace: apiWorkspace.path,
    workspaceRoot: workspace,
    limits: defaults.limits,
    dataDir: resolve(k.config.data_dir),
    packageRoots: [k.configFile ? dirname(k.configFile) : process.cwd(), process.cwd()],
  });
  // A server that fails to start is reported by `aos mcp list` / the API, not fatal to boot.
  if (k.config.mcp.servers.length) await mcp.start(k.config.mcp.servers);

  const executor = createToolExecutor({
    registry,
    sandbox,
    audit: k.storage.audit,
    approvals,
    // On a node, a tool call's intent and result land only under the lease the writer holds (fencing).
    idempotency: new SqlIdempotencyStore(
      k.storage.driver,
      k.storage.driver.kind === 'postgres' ? (pid) => k.procs.get(pid)?.pcb.leaseEpoch : undefined,
    ),
    // A call from the API without a process is audited in the `api` stream.
    auditStream: (pid) => (pid ? `proc:${pid}` : 'api'),
    // The one place a tool call's hooks fire: once per call, with the parsed arguments.
    hooks: {
      before: (ev) =>
        k.hooks.has('io.tool_call.before')
          ? k.hooks.before('io.tool_call.before', ev).then((e) => ({ args: e.args }))
          : undefined,
      after: (ev) =>
        k.hooks.emit('io.tool_call.after', {
          pid: ev.pid,
          tool: ev.tool,
          ok: ev.ok,
          output: ev.output,
          ms: ev.ms,
        }),
    },
  });

  return {
    registry,
    executor,
    approvals,
    sandbox,
    sandboxStatus,
    workspace,
    workspaces,
    workspaceOf,
    mcp,
    policyFor,
    specsFor(pcb, filter) {
      const policy = policyFor(pcb);
      let cached = specCache.get(policy);
      if (!cached || cached.gen !== registry.generation) {
        cached = { gen: registry.generation, byFilter: new Map() };
        specCache.set(policy, cached);
      }
      const fkey = filter ? JSON.stringify(filter) : '';
      let specs = cached.byFilter.get(fkey);
      if (!specs) {
        const allowed = policy.allowedTools;
        specs = registry.specs((full, tool) => {
          if (filter && !filter.includes(full)) return false;
          if (allowed && !allowed.includes(full)) return false;
          return policy.checkTool(full, tool.permissions).decision !== 'deny';
        });
        cached.byFilter.set(fkey, specs);
      }
      // The caller's own copy of the list and its entries (a program may change what it is given).
      return specs.map((s) => ({ ...s }));
    },
    async execute(pc, step, callIndex, call, auditTags) {
      const pcb = pc.pcb;
      const res = await executor.execute(call, {
        pid: pcb.pid,
        stepNo: step.stepNo,
        callIndex,
        idempotencyKey: idempotencyKey(pcb.pid, step.stepNo, callIndex),
        fresh: pc.freshStep === step,
        policy: policyFor(pcb),
        workspace: workDir(pcb),
        sandbox,
        signal: step.signal,
        beforeEffect: () => k.holdLease(pc, `tool call ${call.name}`),
        sys: { call: (name, args) => k.sysFor(pc, step).call(name as never, args as never) },
        // a pure tool's entry is committed with this step (Tool.pure), in the order the calls were made
        stepAudit: (entry) => step.auditEntries.push(entry),
        ...(auditTags ? { auditTags } : {}),
      });
      return {
        ok: res.ok,
        output: res.output,
        truncated: res.truncated,
        durationMs: res.durationMs,
        ...(res.error ? { error: { code: res.error.code, message: res.error.message } } : {}),
      };
    },
    async callFromOutside(call, o) {
      const id = randomUUID();
      return executor.execute(
        { id: `api_${id}`, name: call.name, arguments: JSON.stringify(call.arguments) },
        {
          pid: o.pcb.pid,
          stepNo: 0,
          callIndex: 0,
          idempotencyKey: `api:${id}`,
          policy: policyFor(o.pcb),
          workspace: workDir(o.pcb),
          sandbox,
          signal: o.signal,
          sys: o.sys,
          actor: o.actor,
        },
      );
    },
    async close() {
      policies.clear();
      await mcp.close();
    },
  };
}
