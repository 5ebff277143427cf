/**
 * Who a sandboxed command is on the host. A kernel running as an ordinary user needs nothing more: bwrap's
 * user namespace maps its uid. A kernel running as root must never hand root to a command — inside a user
 * namespace uid 0 is still host uid 0 for every file it touches (a setuid file it makes is setuid-root on
 * the host). So as root, bwrap itself is started through `setpriv` as SANDBOX_UID with no groups, an empty
 * capability bounding set and no_new_privs; the workspaces it may write are owned by that uid.
 */
import { lchownSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
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
 * Makes `dir` writable by the identity: when its top is owned by someone else, the tree is handed over
 * once (links are not followed: lchown). Files the kernel's own file tools create later take their
 * directory's owner (see src/io/builtin/fs-safe.ts), so this runs once per workspace.
 */
export function prepareWritable(dir: string, id: SandboxIdentity | null): void {
  if (!id) return;
  const st = lstatSync(dir);
  if (st.uid === id.uid && st.gid === id.gid) return;
  const walk = (p: string, depth: number) => {
    lchownSync(p, id.uid, id.gid);
    if (depth > 64) return;
    const s = lstatSync(p);
    if (!s.isDirectory()) return;
    for (const n of readdirSync(p)) walk(join(p, n), depth + 1);
  };
  walk(dir, 0);
}
