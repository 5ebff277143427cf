/**
 * Building a ToolContext: the kernel makes one per tool call; tests and embedders use the same helper.
 * A syscall table is a plain object of handlers; unknown syscalls fail with ENOTFOUND naming the known ones.
 */
import { KernelError } from '../errors.js';
import { SecurityPolicy } from '../security/policy.js';
import type { Sandbox } from '../security/sandbox.js';
import { idempotencyKey, type SyscallPort, type ToolContext } from './tool.js';

export type SyscallTable = Record<string, (args: unknown) => unknown | Promise<unknown>>;

export function syscallPort(table: SyscallTable): SyscallPort {
  return {
    async call(name, args) {
      const h = table[name];
      if (!h)
        throw new KernelError(
          'ENOTFOUND',
          `syscall ${name} is not available here (available: ${Object.keys(table).join(', ') || 'none'})`,
        );
      return h(args);
    },
  };
}

export interface ToolContextOptions {
  pid: number;
  stepNo?: number;
  callIndex?: number;
  workspace: string;
  sandbox: Sandbox;
  policy?: SecurityPolicy;
  signal?: AbortSignal;
  sys?: SyscallPort | SyscallTable;
}

export function createToolContext(o: ToolContextOptions): ToolContext {
  const stepNo = o.stepNo ?? 0;
  const callIndex = o.callIndex ?? 0;
  const sys =
    o.sys === undefined
      ? syscallPort({})
      : typeof o.sys.call === 'function'
        ? (o.sys as SyscallPort)
        : syscallPort(o.sys as SyscallTable);
  return {
    pid: o.pid,
    stepNo,
    callIndex,
    idempotencyKey: idempotencyKey(o.pid, stepNo, callIndex),
    policy: o.policy ?? new SecurityPolicy(),
    workspace: o.workspace,
    sandbox: o.sandbox,
    signal: o.signal ?? new AbortController().signal,
    sys,
  };
}
