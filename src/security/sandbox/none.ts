/**
 * NoSandbox: runs commands directly on the host with only rlimits (prlimit) and the wall-clock kill.
 * No filesystem or network isolation — it warns loudly once per process, and its capability flags say so.
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import * as P from '../../param.js';
import { logger } from '../../util/log.js';
import type {
  Sandbox,
  SandboxCapabilities,
  SandboxRequest,
  SandboxResult,
  WrappedCommand,
} from '../sandbox.js';
import { prlimitArgs } from './bubblewrap.js';
import { minimalHostEnv } from './env.js';
import { runSupervised } from './run.js';

const log = logger('sandbox');

function hasPrlimit(): boolean {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

export class NoSandbox implements Sandbox {
  readonly name = 'none';
  readonly capabilities: SandboxCapabilities;
  private readonly prlimit: boolean;

  constructor(opts: { quiet?: boolean } = {}) {
    this.prlimit = hasPrlimit();
    this.capabilities = {
      filesystemIsolation: false,
      networkIsolation: false,
      networkAllowlist: false,
      resourceLimits: this.prlimit,
      processIsolation: false,
    };
    if (!opts.quiet) {
      log.warnOnce(
        'no-sandbox',
        "SANDBOX DISABLED (security.sandbox: none): tools run commands directly on this host with your user's rights; " +
          'paths and network are only checked by policy before a command starts, not enforced while it runs. ' +
          'Install bubblewrap and set security.sandbox: auto to isolate them.',
      );
    }
  }

  async exec(req: SandboxRequest): Promise<SandboxResult> {
    // HOME is the command's own directory, never the kernel user's: bash sources ~/.bashrc when its
    // stdin is a socket (ours is), so a host HOME ran the operator's shell start-up in every agent command
    // (on this machine: pyenv's rehash lock, left by a killed shell, hung every command for 60 s).
    const env = { ...minimalHostEnv(), HOME: req.cwd ?? tmpdir(), ...(req.env ?? {}) };
    // One-shot commands also get an address-space cap; long-lived wraps (Node MCP servers) cannot.
    const pre = this.prlimit ? prlimitArgs(req.limits, { pids: false, memory: false }) : [];
    const argv = [...pre, req.command, ...req.args];
    const w = { command: argv[0] as string, args: argv.slice(1), env, cwd: req.cwd };
    return runSupervised(w.command, w.args, {
      cwd: w.cwd,
      env: w.env,
      ...(req.stdin !== undefined ? { stdin: req.stdin } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
      timeoutMs: req.limits.wallSeconds * 1000,
      maxOutputBytes: req.maxOutputBytes ?? P.TOOL_OUTPUT_MAX_BYTES,
    });
  }

  async wrap(req: Omit<SandboxRequest, 'stdin' | 'maxOutputBytes' | 'signal'>): Promise<WrappedCommand> {
    const env = minimalHostEnv(req.env ?? {});
    const pre = this.prlimit ? prlimitArgs(req.limits, { pids: false, memory: true }) : [];
    const argv = [...pre, req.command, ...req.args];
    return { command: argv[0] as string, args: argv.slice(1), env, cwd: req.cwd, cleanup: async () => {} };
  }
}
