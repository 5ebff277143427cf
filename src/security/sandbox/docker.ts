/**
 * DockerSandbox: each command in a throwaway container (`docker run --rm`) with no network (or the host's
 * when '*' is allowed — Docker has no per-domain allowlist here), a read-only root, the request's paths
 * bound in, and Docker's own memory / pids / CPU limits. Needs a running Docker engine; `available()` says
 * whether one answers.
 */
import { execFileSync } from 'node:child_process';
import { basename, resolve } from 'node:path';
import { KernelError } from '../../errors.js';
import * as P from '../../param.js';
import type {
  Sandbox,
  SandboxCapabilities,
  SandboxRequest,
  SandboxResult,
  WrappedCommand,
} from '../sandbox.js';
import { prepareWritable, type SandboxIdentity, sandboxIdentity } from './identity.js';
import { runSupervised } from './run.js';

export interface DockerOptions {
  image?: string;
  docker?: string;
}

export class DockerSandbox implements Sandbox {
  readonly name = 'docker';
  readonly capabilities: SandboxCapabilities = {
    filesystemIsolation: true,
    networkIsolation: true,
    networkAllowlist: false,
    resourceLimits: true,
    processIsolation: true,
  };
  readonly image: string;
  private readonly bin: string;

  constructor(opts: DockerOptions = {}) {
    this.image = opts.image ?? 'debian:stable-slim';
    this.bin = opts.docker ?? 'docker';
    const why = DockerSandbox.unavailableReason(this.bin);
    if (why)
      throw new KernelError(
        'ESANDBOX',
        `Docker sandbox unavailable: ${why}; start a Docker engine or choose security.sandbox: bubblewrap`,
      );
  }

  /** Null when a Docker engine answers; otherwise why not. */
  static unavailableReason(bin = 'docker'): string | null {
    try {
      execFileSync(bin, ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 5_000 });
      return null;
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      return (e.stderr?.toString() || e.message).trim().split('\n')[0] ?? 'docker info failed';
    }
  }

  async exec(req: SandboxRequest): Promise<SandboxResult> {
    const w = await this.wrap(req);
    return runSupervised(w.command, w.args, {
      env: w.env,
      ...(req.stdin !== undefined ? { stdin: req.stdin } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
      timeoutMs: req.limits.wallSeconds * 1000,
      maxOutputBytes: req.maxOutputBytes ?? P.TOOL_OUTPUT_MAX_BYTES,
    });
  }

  async wrap(req: Omit<SandboxRequest, 'stdin' | 'maxOutputBytes' | 'signal'>): Promise<WrappedCommand> {
    const id = sandboxIdentity();
    // As root the container runs as the sandbox uid, which must own what it may write (as with bubblewrap).
    for (const p of req.writePaths ?? []) prepareWritable(resolve(p), id);
    const a = dockerRunArgs(req, this.image, id ?? ownIdentity(), {
      podman: basename(this.bin) === 'podman',
    });
    return {
      command: this.bin,
      args: a,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      cwd: process.cwd(),
      cleanup: async () => {},
    };
  }
}

/** The kernel's own uid and gid: without --user a container runs as the image's user, root by default. */
function ownIdentity(): SandboxIdentity {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/**
 * `docker run` arguments for one command. Never the image's root: `--user` is the sandbox uid when the
 * kernel is root (else the kernel's own uid) — a root inside the container owns the files it makes in the
 * bound workspace as host root, so `chmod u+s` on one left a setuid-root file on the host. No
 * capabilities, no_new_privs, a read-only root, tmpfs /tmp nosuid,nodev, and (podman, which accepts mount
 * options on -v) the bound paths nosuid,nodev.
 */
export function dockerRunArgs(
  req: Omit<SandboxRequest, 'stdin' | 'maxOutputBytes' | 'signal'>,
  image: string,
  id: SandboxIdentity,
  o: { podman?: boolean } = {},
): string[] {
  const l = req.limits;
  const a = [
    'run',
    '--rm',
    '-i',
    '--read-only',
    '--tmpfs',
    '/tmp:rw,nosuid,nodev,exec',
    '--user',
    `${id.uid}:${id.gid}`,
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
  ];
  a.push('--network', (req.network ?? []).includes('*') ? 'bridge' : 'none');
  a.push('--memory', `${Math.floor(l.memoryMb)}m`, '--memory-swap', `${Math.floor(l.memoryMb)}m`);
  a.push('--pids-limit', String(Math.floor(l.processes)));
  a.push(
    '--ulimit',
    `cpu=${Math.ceil(l.cpuSeconds)}`,
    '--ulimit',
    `fsize=${Math.floor(l.fileSizeMb * 1024 * 1024)}`,
  );
  const extra = o.podman ? ',nosuid,nodev' : '';
  for (const p of req.readPaths ?? []) a.push('-v', `${resolve(p)}:${resolve(p)}:ro${extra}`);
  for (const p of req.writePaths ?? []) a.push('-v', `${resolve(p)}:${resolve(p)}:rw${extra}`);
  a.push('-w', resolve(req.cwd));
  for (const [k, v] of Object.entries(req.env ?? {})) a.push('-e', `${k}=${v}`);
  a.push(image, req.command, ...req.args);
  return a;
}
