/**
 * The device seam: what a tool is (`Tool`), what it sees when it runs (`ToolContext`) and what the model
 * reads back (`ToolResult`). Definitions only — the registry is ./registry.ts, execution is ./executor.ts,
 * built-in tools are ./builtin/, CLI wrappers ./cli-tool.ts, MCP-backed tools ./mcp/.
 */
import type { z } from 'zod';
import type { KernelErrorCode } from '../errors.js';
import type { Permission } from '../security/permissions.js';
import type { SecurityPolicy } from '../security/policy.js';
import type { Sandbox } from '../security/sandbox.js';

export { PERMISSIONS, type Permission } from '../security/permissions.js';

/** Kernel syscalls reachable from a tool (`mem.store`, `mem.search`, `mem.recall`, `proc.spawn`, …). */
export interface SyscallPort {
  call(name: string, args: unknown): Promise<unknown>;
}

export interface ToolContext {
  pid: number;
  stepNo: number;
  callIndex: number;
  /** `${pid}:${stepNo}:${callIndex}` — the same for a retried step, so side effects reconcile. */
  idempotencyKey: string;
  policy: SecurityPolicy;
  /** Absolute path of the process's workspace (cwd of sandboxed commands). */
  workspace: string;
  sandbox: Sandbox;
  signal: AbortSignal;
  sys: SyscallPort;
  /** Who the audit names as the caller (default `pid:<pid>`; an API call names its token, `api:<name>`). */
  actor?: string;
  /** Fields the call's audit entry carries besides its own (the call's OpenTelemetry span ids). */
  auditTags?: Record<string, unknown>;
  /**
   * The caller knows no record can exist under this key yet (the kernel spawned the process or committed
   * its previous step itself, and this attempt is the step's first): the executor skips looking it up.
   */
  fresh?: boolean;
  /**
   * Appends an entry to the process's audit stream while the tool runs (a refused connection, a denied
   * path inside a tool). Set by the executor; absent when the executor has no audit log.
   */
  audit?(kind: string, payload: Record<string, unknown>): Promise<void>;
  /**
   * Writes what the effect will leave behind (e.g. a file's content hash) into the call's intent record,
   * before making it. Set by the executor when it keeps records.
   */
  recordPlan?(plan: unknown): Promise<void>;
  /**
   * Called right before the call's effect starts (after its intent is durable, and again after a plan is
   * recorded); it throws to refuse — on a node, when this node no longer holds the process's lease with a
   * margin (src/kernel/lease-guard.ts). Set by the kernel for a call inside a step.
   */
  beforeEffect?(): Promise<void>;
  /** The plan an interrupted earlier attempt of this same call recorded (a re-run of an idempotent tool). */
  priorPlan?: unknown;
  /**
   * The caller's step commit, for the entry of a `pure` tool's call: set by the kernel for a call made
   * inside a step, whose commit writes the entry with the step (see Tool.pure).
   */
  stepAudit?(entry: { kind: string; payload: Record<string, unknown> }): void;
}

export interface Tool<I = unknown, O = unknown> {
  /** Bare name (`read_file`); with `namespace` the full name is `namespace.name` (`filesystem.read_file`). */
  name: string;
  namespace?: string;
  description: string;
  input: z.ZodType<I>;
  output?: z.ZodType<O>;
  permissions: Permission[];
  timeoutMs?: number;
  /**
   * Safe to run again after an interrupted attempt (same arguments, same call): a call with an intent but no
   * result is re-run. A non-idempotent one is never repeated: the process is told its outcome is unknown.
   */
  idempotent?: boolean;
  /**
   * Its only effects are kernel syscalls (memory, mail, spawn, kv), which are exactly-once on their own
   * (committed with the step, or recorded with their effect): the executor keeps no record for it.
   */
  kernelEffects?: boolean;
  /**
   * No effect outside its result: it computes from its arguments alone (no files, network, commands,
   * syscalls). Its call's audit entry is then committed with the step that made the call instead of
   * written at once — one write fewer per call, and nothing is lost: a step that never commits left no
   * effect of the call to account for. A claim, like `idempotent`: the kernel cannot check a plugin's or
   * an MCP tool's `run`, so declare it only for code that provably touches nothing.
   */
  pure?: boolean;
  /** Pre-built JSON Schema for the arguments (MCP tools bring their own); otherwise derived from `input`. */
  jsonSchema?: Record<string, unknown>;
  run(args: I, ctx: ToolContext): Promise<O>;
}

/** A tool whose input/output types are erased, as the registry stores it. */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds tools of every argument type
export type AnyTool = Tool<any, any>;

export interface ToolResult {
  ok: boolean;
  /** What the model reads (capped at TOOL_OUTPUT_MAX_BYTES, marked when truncated). */
  output: string;
  data?: unknown;
  error?: { code: KernelErrorCode; message: string; details?: Record<string, unknown> };
  truncated: boolean;
  durationMs: number;
  idempotencyKey: string;
  /** True when the result came from the idempotency record of an earlier attempt, not a new run. */
  replayed?: boolean;
}

/** Identity helper that keeps the argument type inferred from the zod schema. */
export function defineTool<S extends z.ZodType, O>(
  tool: Omit<Tool<z.infer<S>, O>, 'input'> & { input: S },
): Tool<z.infer<S>, O> {
  return tool as Tool<z.infer<S>, O>;
}

export function fullToolName(t: Pick<Tool, 'name' | 'namespace'>): string {
  return t.namespace ? `${t.namespace}.${t.name}` : t.name;
}

export function idempotencyKey(pid: number, stepNo: number, callIndex: number): string {
  return `${pid}:${stepNo}:${callIndex}`;
}
