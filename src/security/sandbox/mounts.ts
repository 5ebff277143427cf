/**
 * The bubblewrap mount table of one command: which host paths are bound where, which directories bwrap
 * makes on the way (always 0755 — bwrap would make them 0700, and as root they belong to root, so the
 * sandbox uid could not pass), and the masks over denied paths. As root, bwrap binds sources with the
 * host's privilege, so the table also refuses a source whose path the sandbox uid could change (a
 * component swapped for a link between this check and bwrap's mount would bind whatever it points at),
 * and names a path the command could not reach inside (a bound tree such as allowed_paths ['/'] shows
 * the host's 0700 /root on the way to it).
 */
import { lstatSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KernelError } from '../../errors.js';
import { fixedDenyList, workspaceContainerPaths } from '../secrets.js';
import { enterableBy, realOrResolved, type SandboxIdentity, swappableAncestor } from './identity.js';

export interface Bind {
  /** Host path (symlinks resolved, so bwrap follows none). */
  src: string;
  /** Where the command sees it (the path it was given). */
  dest: string;
  rw: boolean;
}

/** `p` is `root` or inside it. */
export function within(p: string, root: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : `${root}/`);
}

/** Builds bwrap's setup arguments in order, making every parent directory it needs traversable. */
export class MountPlan {
  readonly args: string[] = [];
  private readonly trees: string[] = [];
  private readonly made = new Set<string>(['/']);

  /** Records a mount point; a tree (a bound host directory, /proc, /dev) has contents of its own. */
  private mark(dest: string, tree: boolean): void {
    this.made.add(dest);
    if (tree) this.trees.push(dest);
  }

  private parents(dest: string): void {
    const chain: string[] = [];
    for (let d = dirname(dest); !this.made.has(d); d = dirname(d)) {
      if (this.trees.some((t) => within(d, t))) break; // exists inside a bound tree, with the host's mode
      chain.unshift(d);
    }
    for (const d of chain) {
      this.args.push('--perms', '0755', '--dir', d);
      this.made.add(d);
    }
  }

  bind(src: string, dest: string, how: 'ro' | 'rw' | 'ro-try' | 'dev-null'): this {
    this.parents(dest);
    const flag = { ro: '--ro-bind', rw: '--bind', 'ro-try': '--ro-bind-try', 'dev-null': '--ro-bind' }[how];
    this.args.push(flag, how === 'dev-null' ? '/dev/null' : src, dest);
    this.mark(dest, true);
    return this;
  }

  tmpfs(dest: string, perms: string): this {
    this.parents(dest);
    this.args.push('--perms', perms, '--tmpfs', dest);
    this.mark(dest, false); // empty: what goes under it is made like any other parent
    return this;
  }

  dir(dest: string, perms = '0755'): this {
    this.parents(dest);
    if (!this.made.has(dest)) this.args.push('--perms', perms, '--dir', dest);
    this.mark(dest, false);
    return this;
  }

  symlink(target: string, dest: string): this {
    this.parents(dest);
    this.args.push('--symlink', target, dest);
    this.mark(dest, false);
    return this;
  }

  special(flag: '--proc' | '--dev', dest: string): this {
    this.parents(dest);
    this.args.push(flag, dest);
    this.mark(dest, true);
    return this;
  }
}

/**
 * The request's binds, deduplicated (read-write wins) and ordered parents first. With an identity (the
 * kernel is root), a source under a directory the sandbox uid may change is refused with ESANDBOX —
 * unless that directory lies inside a tree this same command gets read-write, where the source is
 * already visible as it is (a package's node_modules inside the workspace), so it is not bound again.
 */
export function planBinds(
  readPaths: readonly string[],
  writePaths: readonly string[],
  id: SandboxIdentity | null,
): Bind[] {
  const byDest = new Map<string, Bind>();
  for (const [p, rw] of [
    ...readPaths.map((x) => [x, false] as const),
    ...writePaths.map((x) => [x, true] as const),
  ]) {
    const dest = resolve(p);
    const prev = byDest.get(dest);
    byDest.set(dest, { src: realOrResolved(p), dest, rw: rw || (prev?.rw ?? false) });
  }
  const all = [...byDest.values()].sort((x, y) => x.dest.length - y.dest.length);
  if (!id) return all;
  return all.filter((b) => {
    const open = swappableAncestor(b.src, id);
    if (!open) return true;
    if (all.some((w) => w !== b && w.rw && within(b.dest, w.dest) && within(open, w.src))) return false;
    throw new KernelError(
      'ESANDBOX',
      `refusing to bind ${b.src} into the sandbox: the sandbox uid ${id.uid} may change ${open} on the way to it, so another sandboxed command could swap it for a link to any host path (bubblewrap binds as root); keep workspaces, tools and MCP servers under directories the sandbox uid does not own`,
      { details: { path: b.src, writable: open, uid: id.uid } },
    );
  });
}

/**
 * The first directory on the way to `target` that the command, as `id`, cannot enter inside the sandbox,
 * or null. Directories bwrap makes are 0755; only those inside a bound tree keep a host mode that may
 * stop the uid (a 0700 /root under allowed_paths ['/']).
 */
export function hiddenAncestor(
  target: string,
  binds: readonly Bind[],
  id: SandboxIdentity | null,
): string | null {
  if (!id) return null;
  for (let d = dirname(resolve(target)); d !== '/'; d = dirname(d)) {
    let cover: Bind | undefined;
    for (const b of binds) if (within(d, b.dest) && (!cover || b.dest.length > cover.dest.length)) cover = b;
    if (!cover) continue;
    const host = cover.src + d.slice(cover.dest.length);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(host);
    } catch {
      continue;
    }
    if (!enterableBy(st, id)) return host;
  }
  return null;
}

/** A mount over a denied path inside a bound tree: an empty directory, or /dev/null over a file. */
export interface Mask {
  dest: string;
  dir: boolean;
}

/**
 * Where the request's binds expose a denied path (the fixed deny list, the kernel's own files, other
 * processes' workspaces `<root>/proc` and `<root>/shared`), in order; nothing under a masked directory is
 * masked again. Shared by bubblewrap (addMasks) and the container sandbox (./docker.ts).
 */
export function maskTargets(binds: readonly Bind[]): Mask[] {
  const seen = new Set<string>();
  const hidden: string[] = [];
  const out: Mask[] = [];
  for (const m of [...new Set([...fixedDenyList(), ...workspaceContainerPaths()])].sort()) {
    if (hidden.some((h) => within(m, h))) continue; // already under an empty tmpfs
    for (const b of binds) {
      // a bind that IS a denied path is masked whole (allowed_paths naming the data dir or ~/.ssh)
      if (!within(m, b.src)) continue;
      const dest = b.dest + m.slice(b.src.length);
      if (seen.has(dest)) continue;
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(m);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) continue;
      seen.add(dest);
      if (st.isDirectory()) hidden.push(m);
      out.push({ dest, dir: st.isDirectory() });
    }
  }
  return out;
}

/**
 * Mounts over every denied path inside a bound tree: an empty tmpfs on a directory, /dev/null on a file.
 * A bind of this command's that lies under a masked directory (its own workspace under `<root>/proc`, with
 * `<root>` or `/` among allowed_paths) is bound again on top of the mask.
 */
export function addMasks(plan: MountPlan, binds: readonly Bind[]): void {
  for (const m of maskTargets(binds)) {
    if (!m.dir) {
      plan.bind('/dev/null', m.dest, 'dev-null');
      continue;
    }
    plan.tmpfs(m.dest, '0755');
    for (const inner of binds)
      if (inner.dest !== m.dest && within(inner.dest, m.dest))
        plan.bind(inner.src, inner.dest, inner.rw ? 'rw' : 'ro');
  }
}
