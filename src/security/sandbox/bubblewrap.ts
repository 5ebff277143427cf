/**
 * BubblewrapSandbox: drives `bwrap` directly. Each command gets fresh pid/ipc/uts/net/cgroup namespaces, no
 * capabilities, no_new_privs, a minimal read-only root (/usr plus a short list of /etc files; no /home,
 * /root, /etc/shadow), a read-only /proc/sys, a private /tmp, and only the request's paths bound in (every
 * mount nosuid,nodev). As root, bwrap sets the mounts up with the host's privilege — no user namespace,
 * so it can bind a checkout under a 0700 home — and the command itself is started inside through
 * `setpriv` as an unprivileged uid (./identity.ts): inside a user namespace uid 0 would still be host root
 * for every file it touches. As an ordinary user, bwrap's user namespace maps the user. Limits: `prlimit`
 * inside (CPU, file size, and address space / process count when no cgroup can do it), a per-command
 * pids+memory cgroup when the kernel runs as root, and a wall-clock kill of the whole PID namespace.
 * Network: always a fresh, empty network namespace; when hosts are allowed (even `*`) the only route out
 * is the kernel's allowlisting proxy (./proxy.ts), which never connects to a loopback or private address
 * unless one is named literally. The mount table (binds, traversable parents, masks) is ./mounts.ts.
 * We do not use @anthropic-ai/sandbox-runtime: its current releases need Node >= 22.12 and zod 3.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KernelError } from '../../errors.js';
import * as P from '../../param.js';
import { logger } from '../../util/log.js';
import type { ResourceLimits } from '../policy.js';
import type {
  Sandbox,
  SandboxCapabilities,
  SandboxRequest,
  SandboxResult,
  WrappedCommand,
} from '../sandbox.js';
import { createCommandCgroup, joinScript } from './cgroup.js';
import {
  dropPrivilegeArgs,
  prepareWritable,
  type SandboxIdentity,
  SETUP_CAPS,
  sandboxIdentity,
} from './identity.js';
import { addMasks, hiddenAncestor, MountPlan, planBinds } from './mounts.js';
import { startSandboxProxy } from './proxy.js';
import { runSupervised } from './run.js';
import { seccompFile } from './seccomp.js';

/** /etc entries a program needs to run (users, DNS, TLS roots, dynamic linker); nothing secret. */
const ETC_FILES = [
  'passwd',
  'group',
  'hosts',
  'resolv.conf',
  'nsswitch.conf',
  'host.conf',
  'gai.conf',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'ssl/certs',
  'ssl/openssl.cnf',
  'ca-certificates',
  'ca-certificates.conf',
  'alternatives',
  'localtime',
  'mime.types',
  'gitconfig',
  'inputrc',
  'magic',
  'protocols',
  'services',
];
const PROXY_SOCKET = '/run/aos-proxy.sock';
const log = logger('sandbox');

let bwrapChecked: string | null = null;

/**
 * Verifies bwrap exists and can build the sandbox real commands get: the same launcher (seccomp filter on
 * a descriptor), the same namespaces, root mounts (a fresh /proc included: inside a container whose /proc
 * is masked, that is what fails), privilege drop and prlimit. The probe command checks the filter took:
 * it succeeds only if making a setuid file is refused. Throws ESANDBOX with the fix otherwise.
 */
export function checkBubblewrap(bin = 'bwrap'): void {
  if (bwrapChecked === bin) return;
  try {
    const id = sandboxIdentity();
    const probe = 'touch /tmp/p && ! chmod u+s /tmp/p 2>/dev/null';
    const a = [
      ...rootMounts().args,
      '--chdir',
      '/',
      '--',
      ...dropPrivilegeArgs(id),
      ...(id ? ['env', '-C', '/', '--'] : []),
      'prlimit',
      '--core=0',
      '--',
      '/bin/sh',
      '-c',
      probe,
    ];
    const run = () => {
      const [cmd, args] = launcher(bin, [...sessionArgs(id), ...a], []);
      execFileSync(cmd, args, { stdio: 'pipe', timeout: 10_000 });
    };
    try {
      run();
    } catch (err) {
      // A container's seccomp profile (podman's default) refuses sethostname without CAP_SYS_ADMIN: the
      // sandbox then keeps the container's hostname (its UTS namespace is still its own).
      if (!/Can't set hostname/.test(String((err as { stderr?: unknown }).stderr ?? ''))) throw err;
      setHostname = false;
      run();
      log.info(
        'bwrap cannot set a hostname here (sethostname refused): sandboxes keep the hostname they start with',
      );
    }
    bwrapChecked = bin;
  } catch (err) {
    if (err instanceof KernelError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    const status = (err as { status?: unknown }).status;
    const stderr = String((err as { stderr?: unknown }).stderr ?? '')
      .trim()
      .split('\n')[0];
    // Inside a container the usual cause is the runtime's masks over /proc (and Docker's seccomp profile).
    const inContainer = existsSync('/run/.containerenv') || existsSync('/.dockerenv');
    const fix = inContainer
      ? 'inside a container, start it with --security-opt systempaths=unconfined (podman: or unmask=/proc/*; Docker also needs --security-opt seccomp=unconfined), see docs/deploy.md'
      : 'install the "bubblewrap" package and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)';
    const why =
      stderr ||
      (status === 1
        ? 'its seccomp filter did not take: a setuid file could be made inside'
        : msg.split('\n')[0]);
    throw new KernelError(
      'ESANDBOX',
      `bubblewrap cannot create a sandbox here (${why}); ${fix}, or set security.sandbox: none`,
      { cause: err, details: { inContainer } },
    );
  }
}

/**
 * How bwrap is started, for the probe and every command alike: a shell opens the seccomp program on
 * descriptor 3 (`bwrap --seccomp 3` reads it from there), joins the command's cgroups when there are
 * any (race-free: before exec, see ./cgroup.ts), and execs bwrap.
 */
function launcher(bin: string, bwrapArgs: string[], procsFiles: readonly string[]): [string, string[]] {
  const script = `exec 3<"$1" || exit 126; shift; ${procsFiles.length > 0 ? joinScript(procsFiles) : 'exec "$@"'}`;
  return ['/bin/sh', ['-c', script, 'sh', seccompFile(), bin, '--seccomp', '3', ...bwrapArgs]];
}

/** Whether bwrap may name the sandbox's UTS namespace (the probe finds out). */
let setHostname = true;

/** Namespaces, privileges and session of every command (the probe's too). */
function sessionArgs(id: SandboxIdentity | null): string[] {
  return ['--new-session', ...isolationArgs(id), ...(setHostname ? ['--hostname', 'aos-sandbox'] : [])];
}

export interface BubblewrapOptions {
  /** Path of the bwrap binary. */
  bwrap?: string;
}

export class BubblewrapSandbox implements Sandbox {
  readonly name = 'bubblewrap';
  readonly capabilities: SandboxCapabilities = {
    filesystemIsolation: true,
    networkIsolation: true,
    networkAllowlist: true,
    resourceLimits: true,
    processIsolation: true,
  };
  private readonly bin: string;

  constructor(opts: BubblewrapOptions = {}) {
    this.bin = opts.bwrap ?? 'bwrap';
    checkBubblewrap(this.bin);
  }

  async exec(req: SandboxRequest): Promise<SandboxResult> {
    const w = await this.wrap(req);
    try {
      return await runSupervised(w.command, w.args, {
        cwd: w.cwd,
        env: w.env,
        ...(req.stdin !== undefined ? { stdin: req.stdin } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
        timeoutMs: req.limits.wallSeconds * 1000,
        maxOutputBytes: req.maxOutputBytes ?? P.TOOL_OUTPUT_MAX_BYTES,
        ...(w.killAll ? { onKill: w.killAll } : {}),
      });
    } finally {
      await w.cleanup();
    }
  }

  async wrap(req: Omit<SandboxRequest, 'stdin' | 'maxOutputBytes' | 'signal'>): Promise<WrappedCommand> {
    const cleanups: Array<() => Promise<void> | void> = [];
    const cleanup = async () => {
      for (const c of cleanups.reverse()) await c();
    };
    try {
      const id = sandboxIdentity();
      for (const p of req.writePaths ?? []) prepareWritable(resolve(p), id);
      const binds = planBinds(req.readPaths ?? [], req.writePaths ?? [], id);
      for (const p of [...binds.map((b) => b.dest), resolve(req.cwd)]) {
        const blocked = hiddenAncestor(p, binds, id);
        if (blocked)
          throw new KernelError(
            'ESANDBOX',
            `the sandbox runs commands as uid ${id!.uid} (the kernel runs as root), which cannot enter ${blocked} on the way to ${p}: it is inside a bound tree that keeps the host's mode; make it traversable (chmod o+x ${blocked}) or keep the workspace outside that tree`,
            { details: { path: p, blocked, uid: id!.uid } },
          );
      }
      const cg = createCommandCgroup(req.limits);
      if (cg) cleanups.push(() => cg.release());
      const a: string[] = sessionArgs(id);
      const plan = rootMounts();
      // The Node runtime that started us, when it lives outside /usr (nvm, volta, a tarball).
      const nodePrefix = dirname(dirname(process.execPath));
      if (!nodePrefix.startsWith('/usr')) plan.bind(nodePrefix, nodePrefix, 'ro');
      // Parents before children, so a read-only parent does not hide a writable child.
      for (const b of binds) plan.bind(b.src, b.dest, b.rw ? 'rw' : 'ro');
      // The kernel's and the user's secrets stay hidden even when a bind contains them (allowed_paths '/').
      addMasks(plan, binds);
      // As root, bwrap keeps no capability that could enter the workspace (the uid's 0700 directory): the
      // command changes into it itself, once it is the sandbox uid (env -C).
      a.push(...plan.args, '--chdir', id ? '/' : resolve(req.cwd));

      const env: Record<string, string> = {
        PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
        HOME: '/tmp',
        TMPDIR: '/tmp',
        LANG: process.env.LANG ?? 'C.UTF-8',
        TERM: 'dumb',
        ...(req.env ?? {}),
      };
      const network = req.network ?? [];
      let inner: string[] = [req.command, ...req.args];
      // No --share-net, ever: host loopback (databases, the kernel's API) must not be in reach.
      if (network.length > 0) {
        // Root's 0700 directory (bwrap binds as root); the socket itself belongs to the sandbox uid.
        const sock = await startSandboxProxy(network, req.onNetworkRefused, id, cleanups);
        a.push('--bind', sock, PROXY_SOCKET);
        const url = `http://127.0.0.1:${P.SANDBOX_PROXY_PORT}`;
        Object.assign(env, {
          HTTP_PROXY: url,
          HTTPS_PROXY: url,
          http_proxy: url,
          https_proxy: url,
          ALL_PROXY: url,
          NO_PROXY: '',
        });
        // Inside the empty net namespace only loopback exists; socat bridges it to the proxy's socket.
        inner = [
          '/bin/sh',
          '-c',
          `socat TCP-LISTEN:${P.SANDBOX_PROXY_PORT},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:${PROXY_SOCKET} & ` +
            `i=0; while [ $i -lt 100 ] && ! (echo > /dev/tcp/127.0.0.1/${P.SANDBOX_PROXY_PORT}) 2>/dev/null; do i=$((i+1)); sleep 0.02; done; "$@"; rc=$?; kill %1 2>/dev/null; exit $rc`,
          'sh',
          ...inner,
        ];
        // /dev/tcp is a bash feature; use bash for the wait loop.
        inner[0] = '/bin/bash';
      }
      a.push(
        '--',
        ...dropPrivilegeArgs(id),
        ...(id ? ['env', '-C', resolve(req.cwd), '--'] : []),
        ...prlimitArgs(req.limits, { pids: !!cg?.enforcesPids, memory: !!cg?.enforcesMemory }),
        ...inner,
      );
      const [command, args] = launcher(this.bin, a, cg?.procsFiles ?? []);
      return {
        command,
        args,
        env,
        cwd: resolve(req.cwd),
        cleanup,
        ...(cg ? { killAll: () => cg.killAll() } : {}),
      };
    } catch (err) {
      await cleanup();
      throw err;
    }
  }
}

/**
 * Namespaces and privileges: every namespace fresh (network included), no capabilities. As root there is
 * no user namespace (bwrap mounts with the host's privilege) and bwrap keeps only what the command's
 * setpriv needs to become the sandbox uid (SETUP_CAPS); as a user, bwrap's user namespace maps the user.
 */
function isolationArgs(id: SandboxIdentity | null): string[] {
  const a = ['--die-with-parent'];
  // No --disable-userns: it writes /proc/sys/user/max_user_namespaces, read-only where a container mounts
  // /proc/sys read-only (podman, Docker by default);
  // the seccomp filter refuses a nested user namespace in both modes (./seccomp.ts).
  if (!id) return [...a, '--unshare-all', '--unshare-user', '--cap-drop', 'ALL'];
  a.push('--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try');
  a.push('--cap-drop', 'ALL');
  for (const c of SETUP_CAPS) a.push('--cap-add', c);
  return a;
}

/**
 * Root filesystem: /usr read-only, the merged-/usr symlinks, a short list of /etc files, a fresh /proc
 * with /proc/sys (sysctls, core_pattern) read-only, /dev, and world-writable (sticky) tmpfs /tmp.
 */
function rootMounts(): MountPlan {
  const plan = new MountPlan().bind('/usr', '/usr', 'ro');
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const p = `/${d}`;
    if (!existsSync(p)) continue;
    if (lstatSync(p).isSymbolicLink()) plan.symlink(`usr/${d}`, p);
    else plan.bind(p, p, 'ro');
  }
  for (const f of ETC_FILES) plan.bind(`/etc/${f}`, `/etc/${f}`, 'ro-try');
  plan.special('--proc', '/proc').bind('/proc/sys', '/proc/sys', 'ro');
  plan.special('--dev', '/dev').tmpfs('/dev/shm', '1777').tmpfs('/tmp', '1777');
  plan.dir('/run').dir('/var').dir('/var/tmp', '1777');
  return plan;
}

/** `prlimit` prefix; process count and memory only where no cgroup enforces them. */
export function prlimitArgs(l: ResourceLimits, cgroup: { pids: boolean; memory: boolean }): string[] {
  const mb = 1024 * 1024;
  const out = [
    'prlimit',
    `--cpu=${Math.ceil(l.cpuSeconds)}`,
    `--fsize=${Math.floor(l.fileSizeMb * mb)}`,
    '--core=0',
  ];
  if (!cgroup.memory) out.push(`--as=${Math.floor(l.memoryMb * mb)}`);
  // RLIMIT_NPROC does not bind uid 0; as root commands run as the sandbox uid (./identity.ts) instead.
  const id = sandboxIdentity();
  if (!cgroup.pids && (process.getuid?.() !== 0 || id))
    out.push(`--nproc=${Math.floor(l.processes) + currentUserProcesses(id?.uid)}`);
  out.push('--');
  return out;
}

let procCount = { n: 0, at: 0 };

/** RLIMIT_NPROC counts every process of the uid, so the cap is relative to what already runs (cached 1 s). */
function currentUserProcesses(forUid?: number): number {
  const now = Date.now();
  if (now - procCount.at < 1000) return procCount.n;
  try {
    const uid = forUid ?? process.getuid?.() ?? 0;
    const out = execFileSync('ps', ['-U', String(uid), '-o', 'pid='], { encoding: 'utf8' });
    procCount = { n: out.split('\n').filter(Boolean).length, at: now };
  } catch {
    procCount = { n: 0, at: now };
  }
  return procCount.n;
}
