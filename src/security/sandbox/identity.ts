/**
 * Who a sandboxed command is on the host. A kernel running as an ordinary user needs nothing more: bwrap's
 * user namespace maps its uid. A kernel running as root must never hand root to a command — inside a user
 * namespace uid 0 is still host uid 0 for every file it touches (a setuid file it makes is setuid-root on
 * the host). So as root, bwrap sets up the sandbox with the host's privilege (no user namespace: it can
 * bind any source, a checkout under a 0700 home included), and the command is started inside it through
 * `setpriv` as SANDBOX_UID with no groups, no capabilities (bounding set emptied) and no_new_privs; the
 * workspaces it may write are owned by that uid. Because bwrap resolves bind sources as root, a source
 * whose path the sandbox uid could change (a directory it owns on the way) is refused (swappableAncestor):
 * another sandboxed command could swap a component for a link and have root bind what it points at.
 */
import { lchownSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
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

/**
 * argv prefix run inside the sandbox, after bwrap's privileged setup, that becomes the identity for good:
 * uid and gid, no supplementary groups, empty inheritable, ambient and bounding capability sets (the uid
 * change clears the rest), no_new_privs. Empty when the kernel is not root. bwrap must leave it
 * CAP_SETUID, CAP_SETGID and CAP_SETPCAP (setupCaps) and nothing else.
 */
export function dropPrivilegeArgs(id: SandboxIdentity | null): string[] {
  if (!id) return [];
  return [
    'setpriv',
    `--reuid=${id.uid}`,
    `--regid=${id.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--ambient-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

/** The capabilities bwrap (run as root) keeps for the command's setpriv: just enough to drop to the uid. */
export const SETUP_CAPS = ['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP'] as const;

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

/** Whether `id` may change the entries of directory `st` (rename, unlink, create: swap one for a link). */
function writableBy(st: { uid: number; gid: number; mode: number }, id: SandboxIdentity): boolean {
  if (st.uid === id.uid) return true;
  if (st.gid === id.gid && st.mode & 0o020) return true;
  // World-writable without the sticky bit: anyone may rename anything in it. Sticky (/tmp): only an
  // entry's owner may, and no sticky shared directory is ever made writable inside the sandbox.
  return (st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0;
}

/**
 * The first directory on the way to `real` (a path without symlinks) whose entries the identity could
 * change, or null. bwrap binds sources as root, so such a directory would let one sandboxed command
 * replace a later command's bind source with a link to anything on the host.
 */
export function swappableAncestor(real: string, id: SandboxIdentity | null): string | null {
  if (!id) return null;
  for (let d = dirname(real); ; d = dirname(d)) {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(d);
    } catch {
      return null; // a missing path is reported by whoever needs it
    }
    if (writableBy(st, id)) return d;
    if (d === '/' || dirname(d) === d) return null;
  }
}

/** Whether `id` may enter a directory with this owner and mode (no supplementary groups). */
export function enterableBy(st: { uid: number; gid: number; mode: number }, id: SandboxIdentity): boolean {
  const bit = st.uid === id.uid ? 0o100 : st.gid === id.gid ? 0o010 : 0o001;
  return (st.mode & bit) !== 0;
}

/** The real path of `p` (symlinks resolved), or its absolute form when it does not exist. */
export function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}
