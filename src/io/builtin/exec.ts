/**
 * How built-in and CLI tools turn a command into a SandboxRequest from the process's policy: the workspace
 * is the cwd (writable when the level may write), allowed_paths are visible read-only, the network
 * allowlist applies when the level grants `net`, and resource limits come from the policy. Resource kills
 * become KernelErrors that say which limit fired.
 */
import { KernelError } from '../../errors.js';
import * as P from '../../param.js';
import type { SandboxResult } from '../../security/sandbox.js';
import type { ToolContext } from '../tool.js';
import { checkNamedPaths } from './named-paths.js';

export interface CommandOutcome {
  exit_code: number | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

export async function runInSandbox(
  ctx: ToolContext,
  command: string,
  args: readonly string[],
  opts: { stdin?: string; timeoutS?: number; network?: boolean; env?: Record<string, string> } = {},
): Promise<CommandOutcome> {
  const pol = ctx.policy;
  // Without isolation, the paths the command names are all that can be checked (./named-paths.ts).
  if (!ctx.sandbox.capabilities.filesystemIsolation) checkNamedPaths(pol, ctx.workspace, [command, ...args]);
  const write = pol.permits('fs.write');
  const wall = Math.min(opts.timeoutS ?? pol.limits.wallSeconds, pol.limits.wallSeconds);
  // Every connection the proxy refuses is audited as a deny before the tool's result is returned.
  const refusals: Array<Promise<void>> = [];
  const res = await ctx.sandbox.exec({
    command,
    args,
    cwd: ctx.workspace,
    ...(write
      ? { writePaths: [ctx.workspace], readPaths: [...pol.allowedPaths] }
      : { readPaths: [ctx.workspace, ...pol.allowedPaths] }),
    network: opts.network !== false && pol.permits('net') ? [...pol.networkAllow] : [],
    limits: { ...pol.limits, wallSeconds: wall },
    signal: ctx.signal,
    onNetworkRefused: (ev) => {
      refusals.push(
        ctx.audit?.('net.refused', { decision: 'deny', host: ev.host, port: ev.port, reason: ev.reason }) ??
          Promise.resolve(),
      );
    },
    maxOutputBytes: P.TOOL_OUTPUT_MAX_BYTES,
    ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
    env: { AOS_PID: String(ctx.pid), AOS_IDEMPOTENCY_KEY: ctx.idempotencyKey, ...(opts.env ?? {}) },
  });
  await Promise.all(refusals);
  throwIfKilled(res, { ...pol.limits, wallSeconds: wall });
  return { exit_code: res.exitCode, stdout: res.stdout, stderr: res.stderr, truncated: res.truncated };
}

const SIGNAL_LIMIT: Record<string, string> = {
  SIGXCPU: 'CPU time',
  SIGXFSZ: 'file size',
};

export function throwIfKilled(
  res: SandboxResult,
  limits: { wallSeconds: number; memoryMb: number; cpuSeconds: number; fileSizeMb: number },
): void {
  const details = {
    exitCode: res.exitCode,
    signal: res.signal,
    stderr: res.stderr.slice(-2000),
    stdout: res.stdout.slice(0, 2000),
  };
  if (res.killed === 'timeout') {
    throw new KernelError(
      'ETIMEDOUT',
      `the command did not finish within the wall-clock limit of ${limits.wallSeconds} s and was killed`,
      { details },
    );
  }
  if (res.killed === 'output') {
    throw new KernelError(
      'EOVERFLOW',
      `the command produced more than ${P.TOOL_OUTPUT_MAX_BYTES} bytes of output and was killed; narrow it (head, grep, a file)`,
      { details },
    );
  }
  if (res.killed === 'abort')
    throw new KernelError('EABORTED', 'the command was stopped because its step was aborted', { details });
  // 128 + signal number is how a shell (and bwrap) reports a child killed by a signal.
  const sig =
    res.signal ?? (res.exitCode !== null && res.exitCode > 128 ? signalName(res.exitCode - 128) : null);
  if (sig === 'SIGKILL') {
    throw new KernelError(
      'EQUOTA',
      `the command was killed (SIGKILL), most likely by the memory limit of ${limits.memoryMb} MB`,
      { details },
    );
  }
  if (sig && SIGNAL_LIMIT[sig]) {
    throw new KernelError(
      'EQUOTA',
      `the command exceeded its ${SIGNAL_LIMIT[sig]} limit (${sig === 'SIGXCPU' ? `${limits.cpuSeconds} s` : `${limits.fileSizeMb} MB`}) and was killed`,
      { details },
    );
  }
}

function signalName(n: number): string | null {
  return ({ 9: 'SIGKILL', 24: 'SIGXCPU', 25: 'SIGXFSZ' } as Record<number, string>)[n] ?? null;
}
