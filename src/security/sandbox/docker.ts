/**
 * DockerSandbox: each command in a throwaway container of a container engine — `docker`, or `podman`
 * (`security.container.engine`) — started with `run --rm -i`: never the image's root (the sandbox uid when
 * the kernel is root, else the kernel's uid), no capabilities, no_new_privs, a read-only root, tmpfs /tmp
 * nosuid,nodev, the request's paths bound in (the kernel's secrets and other processes' workspaces masked
 * inside them, as with bubblewrap), the engine's memory / pids limits and ulimits for CPU time and file
 * size. The wall-clock kill removes the container (`rm -f`): killing the engine's client alone leaves it
 * running.
 *
 * Network: always `--network none` — a bridge reaches the host's loopback-bound services through its
 * gateway and every private range, whatever the allowlist says. When the policy allows hosts, the only
 * route out is the kernel's allowlisting proxy (./proxy.ts), exactly as with bubblewrap: its unix socket
 * is bound into the container and socat bridges it to 127.0.0.1:SANDBOX_PROXY_PORT inside. The bridge is
 * the host's socat run by the host's dynamic loader from read-only binds (`ld.so --library-path`), so it
 * works in any image, musl or glibc, with or without socat of its own.
 *
 * The engine is probed at boot with the arguments real commands get (the image present, the user, the
 * read-only root); the engine's own environment (DOCKER_*, CONTAINERS_*, XDG_RUNTIME_DIR…) is passed to
 * it, never to the container.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import { KernelError } from '../../errors.js';
import * as P from '../../param.js';
import { logger } from '../../util/log.js';
import type {
  Sandbox,
  SandboxCapabilities,
  SandboxRequest,
  SandboxResult,
  WrappedCommand,
} from '../sandbox.js';
import { prepareWritable, type SandboxIdentity, sandboxIdentity } from './identity.js';
import { hiddenAncestor, maskTargets, planBinds } from './mounts.js';
import { startSandboxProxy } from './proxy.js';
import { runSupervised } from './run.js';

export interface DockerOptions {
  /** The image commands run in (default debian:stable-slim); it must already be present (no pull). */
  image?: string;
  /** The engine's client: `docker`, `podman`, or a path to either (default docker). */
  engine?: string;
}

const PROXY_SOCKET = '/run/aos-proxy.sock';
/** Every sandbox container carries it (with HOST_LABEL): what `ps --filter` finds and reapOrphans removes. */
export const LABEL = 'io.agent-os-kernel.sandbox';
const HOST_LABEL = 'io.agent-os-kernel.host';
const BRIDGE_DIR = '/run/aos-bridge';
/** The engine's own configuration, passed to its client (never to the container). */
const ENGINE_ENV =
  /^(PATH|HOME|TMPDIR|XDG_[A-Z_]+|DOCKER_[A-Z_]+|CONTAINERS_[A-Z_]+|CONTAINER_HOST|CONTAINER_CONNECTION|REGISTRY_AUTH_FILE)$/;

export function engineEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && ENGINE_ENV.test(k)) env[k] = v;
  return env;
}

let seq = 0;
const log = logger('sandbox');

export class DockerSandbox implements Sandbox {
  readonly name = 'docker';
  readonly capabilities: SandboxCapabilities = {
    filesystemIsolation: true,
    networkIsolation: true,
    networkAllowlist: true,
    resourceLimits: true,
    processIsolation: true,
  };
  readonly image: string;
  readonly engine: string;
  private readonly podman: boolean;

  constructor(opts: DockerOptions = {}) {
    this.image = opts.image ?? 'debian:stable-slim';
    this.engine = opts.engine ?? 'docker';
    this.podman = basename(this.engine).startsWith('podman');
    const why = this.probe();
    if (why)
      throw new KernelError(
        'ESANDBOX',
        `the docker sandbox cannot start a container with ${this.engine} (${why}); start the engine, make the image present (${this.engine} pull ${this.image}) or set security.container.engine / image, or choose security.sandbox: bubblewrap`,
        { details: { engine: this.engine, image: this.image } },
      );
    this.reapOrphans();
  }

  /**
   * Removes the sandbox containers a dead kernel on this host left running (SIGKILL, OOM, power loss): a
   * container's name carries its kernel's pid (containerName), its label this host's name. Only
   * containers whose kernel pid no longer exists go; a live pid — this kernel, another kernel on the host,
   * or a reused pid — keeps its containers. Returns the names removed.
   */
  reapOrphans(): string[] {
    let names: string[];
    try {
      const out = execFileSync(
        this.engine,
        [
          'ps',
          '-a',
          '--filter',
          `label=${LABEL}=1`,
          '--filter',
          `label=${HOST_LABEL}=${hostname()}`,
          '--format',
          '{{.Names}}',
        ],
        { stdio: 'pipe', timeout: 60_000, env: engineEnv() },
      );
      names = out
        .toString()
        .split('\n')
        .map((n) => n.trim())
        .filter(Boolean);
    } catch (err) {
      log.warn(`could not list leftover sandbox containers: ${firstLine(err, 'ps failed')}`);
      return [];
    }
    const dead = names.filter((n) => {
      const pid = Number(/^aos-sandbox-(\d+)-/.exec(n)?.[1]);
      return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid);
    });
    if (dead.length === 0) return [];
    const removed = this.removeContainers(dead);
    if (removed.length)
      log.info(`removed ${removed.length} sandbox container(s) a dead kernel left running`, {
        containers: removed,
      });
    return dead;
  }

  /**
   * Removes each named container with its own `rm -f` and returns those removed. One per call: podman 4.3's
   * `rm -f A B` where B is already gone (a dead kernel's container whose own --timeout fired after the
   * listing, and --rm took it) removes neither and exits 0.
   */
  removeContainers(names: readonly string[]): string[] {
    const removed: string[] = [];
    for (const name of names) {
      try {
        execFileSync(this.engine, ['rm', '-f', '--time', '0', name], {
          stdio: 'pipe',
          timeout: 120_000,
          env: engineEnv(),
        });
        removed.push(name);
      } catch (err) {
        log.warn(`could not remove leftover sandbox container ${name}: ${firstLine(err, 'rm failed')}`);
      }
    }
    return removed;
  }

  /** Null when the engine answers `info`; otherwise why not (its own words). */
  static unavailableReason(bin = 'docker'): string | null {
    try {
      execFileSync(bin, ['info'], { stdio: 'pipe', timeout: 30_000, env: engineEnv() });
      return null;
    } catch (err) {
      return firstLine(err, `${bin} info failed`);
    }
  }

  /** Runs what a real command gets (same flags) once: the engine, the image and the uid are there. */
  private probe(): string | null {
    const id = sandboxIdentity() ?? ownIdentity();
    const args = dockerRunArgs(
      { command: '/bin/sh', args: ['-c', PROBE], cwd: '/tmp', limits: PROBE_LIMITS },
      this.image,
      id,
      { podman: this.podman, name: containerName() },
    );
    try {
      const out = execFileSync(this.engine, args, { stdio: 'pipe', timeout: 120_000, env: engineEnv() });
      const uid = out.toString().trim();
      return uid === String(id.uid) ? null : `the probe ran as uid ${uid}, not ${id.uid}`;
    } catch (err) {
      return firstLine(err, `${this.engine} run failed`);
    }
  }

  async exec(req: SandboxRequest): Promise<SandboxResult> {
    const w = await this.wrap(req);
    try {
      const res = await runSupervised(w.command, w.args, {
        env: w.env,
        ...(req.stdin !== undefined ? { stdin: req.stdin } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
        timeoutMs: req.limits.wallSeconds * 1000,
        maxOutputBytes: req.maxOutputBytes ?? P.TOOL_OUTPUT_MAX_BYTES,
      });
      // Killing the client does not stop the container: it goes before the call returns.
      if (res.killed) await this.remove(nameOf(w.args));
      return res;
    } finally {
      await w.cleanup();
    }
  }

  /** `rm -f` of one container (through the spawner: the kernel's heap is never forked). */
  private async remove(name: string): Promise<void> {
    await runSupervised(this.engine, ['rm', '-f', '--time', '0', name], {
      env: engineEnv(),
      timeoutMs: 60_000,
      maxOutputBytes: 4096,
    });
  }

  async wrap(req: Omit<SandboxRequest, 'stdin' | 'maxOutputBytes' | 'signal'>): Promise<WrappedCommand> {
    const cleanups: Array<() => Promise<void> | void> = [];
    const cleanup = async () => {
      for (const c of cleanups.reverse()) await c();
    };
    try {
      const sid = sandboxIdentity();
      // As root the container runs as the sandbox uid, which must own what it may write (as with bubblewrap).
      for (const p of req.writePaths ?? []) prepareWritable(resolve(p), sid);
      const name = containerName();
      const o: RunArgOptions = { podman: this.podman, name };
      const network = req.network ?? [];
      if (network.length > 0) {
        const sock = await startSandboxProxy(network, req.onNetworkRefused, sid, cleanups);
        o.proxy = { socket: sock, bridge: socatBridge() };
      }
      const args = dockerRunArgs(req, this.image, sid ?? ownIdentity(), o);
      return {
        command: this.engine,
        args,
        env: engineEnv(),
        cwd: process.cwd(),
        cleanup,
        killAll: () => void this.remove(name).catch(() => undefined),
      };
    } catch (err) {
      await cleanup();
      throw err;
    }
  }
}

const PROBE =
  'id -u; ! touch /aos-probe 2>/dev/null || { echo "the root filesystem is writable" >&2; exit 3; }';
const PROBE_LIMITS = { memoryMb: 64, cpuSeconds: 10, processes: 16, fileSizeMb: 1, wallSeconds: 60 };

function firstLine(err: unknown, fallback: string): string {
  const e = err as { stderr?: Buffer; message?: string };
  const text = (e.stderr?.toString() || e.message || '').trim();
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? fallback
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function containerName(): string {
  return `aos-sandbox-${process.pid}-${++seq}-${randomBytes(3).toString('hex')}`;
}

function nameOf(args: readonly string[]): string {
  return args[args.indexOf('--name') + 1] as string;
}

/** The kernel's own uid and gid: without --user a container runs as the image's user, root by default. */
function ownIdentity(): SandboxIdentity {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

export interface Bridge {
  /** Host files bound read-only into BRIDGE_DIR (socat, its libraries, the dynamic loader). */
  files: string[];
  /** The loader's and socat's names there. */
  loader: string;
  socat: string;
}

let bridge: Bridge | null = null;

/** The host's socat and everything it loads, found once with ldd. */
export function socatBridge(): Bridge {
  if (bridge) return bridge;
  let socat: string;
  let ldd: string;
  try {
    socat = realpathSync(execFileSync('sh', ['-c', 'command -v socat'], { encoding: 'utf8' }).trim());
    ldd = execFileSync('ldd', [socat], { encoding: 'utf8' });
  } catch {
    throw new KernelError(
      'ESANDBOX',
      'the docker sandbox needs socat on the host to bridge the network allowlist into a container (apt-get install socat)',
    );
  }
  const libs: string[] = [];
  let loader = '';
  for (const line of ldd.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (!m) continue;
    const real = realpathSync(m[1] as string);
    if (!m[0].includes('=>')) loader = basename(m[1] as string);
    libs.push(`${real}\0${basename(m[1] as string)}`);
  }
  if (!loader) throw new KernelError('ESANDBOX', `cannot find the dynamic loader of ${socat} (ldd: ${ldd})`);
  bridge = { files: [`${socat}\0socat`, ...libs], loader, socat: 'socat' };
  return bridge;
}

export interface RunArgOptions {
  /** podman accepts mount options on -v (nosuid,nodev). */
  podman?: boolean;
  /** The container's name (the wall-clock kill removes it by name). */
  name?: string;
  /** Egress only through the kernel's proxy at `socket`, bridged inside by `bridge`. */
  proxy?: { socket: string; bridge: Bridge };
}

/** `soft:hard` of one of the kernel's own rlimits (/proc/self/limits), `unlimited` as is. */
function ownLimit(name: string): string {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(name));
    const m = line && /^.{26}(\S+)\s+(\S+)/.exec(line);
    if (m) return `${m[1] === 'unlimited' ? -1 : m[1]}:${m[2] === 'unlimited' ? -1 : m[2]}`;
  } catch {
    // not Linux: the engine's default
  }
  return '1024:4096';
}

/**
 * RLIMIT_NPROC counts every process of the uid on the host, so it is no per-container cap (that is
 * --pids-limit); it is only set because podman would otherwise raise it. conmon, which starts the
 * container, runs with P.CONTAINER_NPROC_MAX at most here, and the hard limit cannot be raised.
 */
function ownNproc(): string {
  const [soft, hard] = ownLimit('Max processes').split(':').map(Number) as [number, number];
  const cap = (n: number) => (n < 0 ? P.CONTAINER_NPROC_MAX : Math.min(n, P.CONTAINER_NPROC_MAX));
  return `${cap(soft)}:${cap(hard)}`;
}

/** `0100007F:0C38` — how /proc/net/tcp names 127.0.0.1:port. */
function procNetAddr(port: number): string {
  return `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * `docker run` arguments for one command. Never the image's root: `--user` is the sandbox uid when the
 * kernel is root (else the kernel's own uid) — a root inside the container owns the files it makes in the
 * bound workspace as host root, so `chmod u+s` on one left a setuid-root file on the host. No
 * capabilities, no_new_privs, a read-only root, tmpfs /tmp nosuid,nodev, (podman, which accepts mount
 * options on -v) the bound paths nosuid,nodev, denied paths inside binds masked, and no network: with
 * `proxy`, egress is the kernel's proxy only.
 */
export function dockerRunArgs(
  req: Omit<SandboxRequest, 'stdin' | 'maxOutputBytes' | 'signal'>,
  image: string,
  id: SandboxIdentity,
  o: RunArgOptions = {},
): string[] {
  const l = req.limits;
  const binds = planBinds(req.readPaths ?? [], req.writePaths ?? [], sandboxIdentity());
  for (const b of binds) {
    if (b.dest === '/')
      throw new KernelError(
        'ESANDBOX',
        "the docker sandbox cannot bind the host's / into a container (allowed_paths ['/']); name the directories the agent needs, or use security.sandbox: bubblewrap",
      );
    if (/[:,]/.test(b.src) || /[:,]/.test(b.dest))
      throw new KernelError(
        'ESANDBOX',
        `the docker sandbox cannot bind a path with ':' or ',' in it: ${b.src}`,
      );
  }
  const cwd = resolve(req.cwd);
  const blocked = hiddenAncestor(cwd, binds, sandboxIdentity());
  if (blocked)
    throw new KernelError(
      'ESANDBOX',
      `the container runs commands as uid ${id.uid}, which cannot enter ${blocked} on the way to ${cwd}; make it traversable (chmod o+x ${blocked}) or keep the workspace outside that tree`,
    );
  const a = ['run', '--rm', '-i', '--pull=never'];
  if (o.name) a.push('--name', o.name, '--label', `${LABEL}=1`, '--label', `${HOST_LABEL}=${hostname()}`);
  // podman's conmon kills the container at its wall limit even when the kernel that started it is gone
  // (SIGKILL, OOM): without it a `sleep 300` of a dead kernel ran on. Docker has no such flag; its
  // leftovers go at the next boot (reapOrphans).
  if (o.podman) a.push('--timeout', String(Math.ceil(l.wallSeconds) + P.SANDBOX_CONTAINER_TIMEOUT_GRACE_S));
  a.push(
    '--read-only',
    '--user',
    `${id.uid}:${id.gid}`,
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--network',
    'none',
    '--hostname',
    'aos-sandbox',
  );
  if (o.podman && process.getuid?.() !== 0) a.push('--userns', 'keep-id');
  // podman fills a tmpfs with what the image (or a bind) has at that path unless told not to: a mask
  // over a bound /etc/ssh showed the host's files again.
  const fresh = o.podman ? ',notmpcopyup' : '';
  if (!binds.some((b) => b.dest === '/tmp')) a.push('--tmpfs', `/tmp:rw,nosuid,nodev,exec,mode=1777${fresh}`);
  a.push('--memory', `${Math.floor(l.memoryMb)}m`, '--memory-swap', `${Math.floor(l.memoryMb)}m`);
  a.push('--pids-limit', String(Math.floor(l.processes)));
  a.push(
    '--ulimit',
    `cpu=${Math.ceil(l.cpuSeconds)}`,
    '--ulimit',
    `fsize=${Math.floor(l.fileSizeMb * 1024 * 1024)}`,
    '--ulimit',
    'core=0',
  );
  // podman sets RLIMIT_NOFILE and RLIMIT_NPROC to its own maxima (2^20, 2^22) once any --ulimit is given,
  // which a root without CAP_SYS_RESOURCE (a container's) cannot raise to: `error setting rlimit type 7`.
  if (o.podman) a.push('--ulimit', `nofile=${ownLimit('Max open files')}`, '--ulimit', `nproc=${ownNproc()}`);
  const extra = o.podman ? ',nosuid,nodev' : '';
  const masks = maskTargets(binds);
  const masked = new Set(masks.map((m) => m.dest));
  // Parents first; a bind that is itself a masked path is not bound at all (the mask is all it shows).
  for (const b of binds)
    if (!masked.has(b.dest)) a.push('-v', `${b.src}:${b.dest}:${b.rw ? 'rw' : 'ro'}${extra}`);
  // The engines order mounts by depth, so a mask lands over its bind and a deeper bind over the mask.
  for (const m of masks)
    a.push(
      ...(m.dir
        ? ['--tmpfs', `${m.dest}:ro,nosuid,nodev,noexec,size=4k,mode=0755${fresh}`]
        : ['-v', `/dev/null:${m.dest}:ro`]),
    );
  a.push('-w', cwd);
  const env: Record<string, string> = { HOME: '/tmp', TMPDIR: '/tmp', ...(req.env ?? {}) };
  let inner = [req.command, ...req.args];
  if (o.proxy) {
    const url = `http://127.0.0.1:${P.SANDBOX_PROXY_PORT}`;
    Object.assign(env, {
      HTTP_PROXY: url,
      HTTPS_PROXY: url,
      http_proxy: url,
      https_proxy: url,
      ALL_PROXY: url,
      NO_PROXY: '',
    });
    a.push('-v', `${o.proxy.socket}:${PROXY_SOCKET}:rw`);
    for (const f of o.proxy.bridge.files) {
      const [src, as] = f.split('\0') as [string, string];
      a.push('-v', `${src}:${BRIDGE_DIR}/${as}:ro`);
    }
    const b = o.proxy.bridge;
    const socat = `${BRIDGE_DIR}/${b.loader} --library-path ${BRIDGE_DIR} ${BRIDGE_DIR}/${b.socat}`;
    // Inside only loopback exists; the bridge listens there, and the command starts once it does
    // (/proc/net/tcp lists the listening socket: no connection is made to find out).
    const listening = `*": ${procNetAddr(P.SANDBOX_PROXY_PORT)} 00000000:0000 0A "*`;
    inner = [
      '/bin/sh',
      '-c',
      `${socat} TCP-LISTEN:${P.SANDBOX_PROXY_PORT},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:${PROXY_SOCKET} & ` +
        `i=0; while [ $i -lt 500 ]; do up=; while IFS= read -r l; do case "$l" in ${listening}) up=1;; esac; done < /proc/net/tcp; ` +
        `[ -n "$up" ] && break; i=$((i+1)); sleep 0.01 2>/dev/null || :; done; ` +
        `"$@"; rc=$?; kill $! 2>/dev/null; exit $rc`,
      'sh',
      ...inner,
    ];
  }
  for (const [k, v] of Object.entries(env)) a.push('-e', `${k}=${v}`);
  a.push(image, ...inner);
  return a;
}
