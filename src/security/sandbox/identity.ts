/**
 * Who a sandboxed command is on the host. A kernel running as an ordinary user needs nothing more: bwrap's
 * user namespace maps its uid. A kernel running as root must never hand root to a command — inside a user
 * namespace uid 0 is still host uid 0 for every file it touches (a setuid file it makes is setuid-root on
 * the host). So as root, bwrap itself is started through `setpriv` as SANDBOX_UID with no groups, an empty
 * capability bounding set and no_new_privs; the workspaces it may write are owned by that uid.
 */
import { lchownSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { KernelError } from '../../errors.js';
import * as P from '../../param.js';

export interface SandboxIdentity {
  uid: number;
  gid: number;
}

/** The unprivileged identity commands run as, or null when the kernel itself is not root. */
export function sandboxIdentity(): SandboxIdentity | null {
  if (process.getuid?.() !== 0) return null;
  const fromEnv = Number(process.env.AOS_SANDBOX_UID);
  const uid = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : P.SANDBOX_UID;
  return { uid, gid: uid };
}

/** argv prefix that drops to the identity before bwrap runs (empty when the kernel is not root). */
export function dropPrivilegeArgs(id: SandboxIdentity | null): string[] {
  if (!id) return [];
  return [
    'setpriv',
    `--reuid=${id.uid}`,
    `--regid=${id.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

/**
 * Directories that are never handed to the sandbox identity: shared or system places whose ownership other
 * programs depend on (tmux, ssh, systemd, other users). A workspace must be a directory of its own.
 */
const SHARED_DIRS = [
  '/',
  '/tmp',
  '/var/tmp',
  '/dev/shm',
  '/home',
  '/root',
  '/run',
  '/var',
  '/usr',
  '/etc',
  '/opt',
  '/srv',
  '/mnt',
  '/media',
  '/boot',
  '/bin',
  '/sbin',
  '/lib',
  '/lib64',
  '/proc',
  '/sys',
  '/dev',
];

/** Why `dir` may not be given to the sandbox identity, or null when it may. */
export function sharedDirReason(dir: string): string | null {
  const real = realpathSync(dir);
  if (SHARED_DIRS.includes(real)) return `${real} is a shared system directory`;
  const home = homedir();
  if (real === home || real === dirname(home)) return `${real} is a home directory`;
  const st = lstatSync(real);
  if (st.mode & 0o1000) return `${real} is a sticky (shared) directory`;
  if (st.mode & 0o002) return `${real} is world-writable`;
  return null;
}

/**
 * Makes `dir` writable by the identity. When its top is owned by someone else, the tree is handed over
 * once: links are not followed (lchown), other file systems (mount points) are not entered, and only
 * entries owned by the top's previous owner change hands. A shared directory (/, /tmp, a home, anything
 * sticky or world-writable) is refused with ESANDBOX instead — handing /tmp over would give every
 * other program's files in it to the sandbox uid. Files the kernel's own file tools create later take
 * their directory's owner (see src/io/builtin/fs-safe.ts), so this runs once per workspace.
 */
export function prepareWritable(dir: string, id: SandboxIdentity | null): void {
  if (!id) return;
  const top = lstatSync(dir);
  if (top.uid === id.uid && top.gid === id.gid) return;
  const why = sharedDirReason(dir);
  if (why) {
    throw new KernelError(
      'ESANDBOX',
      `refusing to make ${dir} writable inside the sandbox: ${why}, and the kernel runs as root, so sandboxed commands (uid ${id.uid}) would need to own it; give the tool a directory of its own (security.workspace, or a writable path made for it with mkdir)`,
      { details: { path: dir, uid: id.uid } },
    );
  }
  const owner = top.uid;
  const walk = (p: string, depth: number) => {
    const s = lstatSync(p);
    if (s.dev !== top.dev || s.uid !== owner) return;
    lchownSync(p, id.uid, id.gid);
    if (!s.isDirectory() || depth >= 64) return;
    for (const n of readdirSync(p)) walk(join(p, n), depth + 1);
  };
  walk(dir, 0);
}

/**
 * The first directory on the way to `path` that the identity cannot enter, or null when it can reach it.
 * bwrap starts as the identity (no groups), so a bind source under a private directory (a 0700 home such
 * as /root, a 0700 mktemp dir) cannot be bound and the command would die with nothing but "exited".
 */
export function unreachableAncestor(path: string, id: SandboxIdentity | null): string | null {
  if (!id) return null;
  let dir = resolve(path);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(dir);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  for (const d of chain.slice(0, -1)) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(d);
    } catch {
      return null; // a missing path is reported by whoever needs it
    }
    const bit = st.uid === id.uid ? 0o100 : st.gid === id.gid ? 0o010 : 0o001;
    if (!(st.mode & bit)) return d;
  }
  return null;
}
