/**
 * Where a process's tools work. Each process gets a directory of its own by default,
 * `<root>/proc/<pid>/` (root = `security.workspace`), made at spawn: its file tools, shell, CLI tools,
 * MCP servers and the sandbox's read-write bind all use it, so one agent's files — a planted
 * `.git/config`, a script — are never another agent's. Sharing is explicit: a policy's `workspace: <name>`
 * puts every process that names it in `<root>/shared/<name>/`, and `security.shared_workspace: true` puts
 * every process in the root itself (the behaviour before per-process workspaces).
 *
 * A fork (restore into a new pid) gets a copy of its source's own workspace (links copied as links,
 * FIFOs, devices and sockets skipped, at most WORKSPACE_COPY_MAX_BYTES), a named one stays shared.
 * Workspaces outlive their process, for inspection, until `aos workspace rm <pid>` removes them.
 */

import { randomUUID } from 'node:crypto';
import {
  chownSync,
  closeSync,
  constants,
  existsSync,
  fchownSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { chmod, copyFile, lchown, lstat, mkdir, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { KernelError } from '../errors.js';
import * as P from '../param.js';
import { type SecurityPolicy, WORKSPACE_NAME } from '../security/policy.js';
import { type SandboxIdentity, sandboxIdentity } from '../security/sandbox/identity.js';
import { registerWorkspaceContainers } from '../security/secrets.js';
import { logger } from '../util/log.js';

const log = logger('io.workspaces');

/** The two directories the root holds in per-process mode. */
const PROC_DIR = 'proc';
const SHARED_DIR = 'shared';

export interface WorkspaceInfo {
  /** Absolute path. */
  path: string;
  /** `own` (proc/<pid>), `shared` (a named one) or `all` (security.shared_workspace: the root itself). */
  kind: 'own' | 'shared' | 'all';
  /** The shared workspace's name, for kind `shared`. */
  name?: string;
}

/** A fork's workspace copy, made before the fork: `place` gives it the new pid's name, `discard` drops it. */
export interface StagedCopy {
  files: number;
  bytes: number;
  place(to: WorkspaceInfo): void;
  discard(): void;
}

export class Workspaces {
  readonly root: string;
  private readonly id: SandboxIdentity | null;

  constructor(
    root: string,
    readonly sharedAll: boolean,
    id: SandboxIdentity | null = sandboxIdentity(),
  ) {
    this.root = resolve(root);
    this.id = id;
  }

  /** Where process `pid` with `policy` works (a pure function of both: nothing to store). */
  of(pid: number, policy: Pick<SecurityPolicy, 'workspace'>): WorkspaceInfo {
    if (policy.workspace !== undefined && !WORKSPACE_NAME.test(policy.workspace))
      throw new KernelError(
        'EINVAL',
        `workspace ${JSON.stringify(policy.workspace)} is not a workspace name`,
      );
    if (policy.workspace !== undefined)
      return { path: join(this.root, SHARED_DIR, policy.workspace), kind: 'shared', name: policy.workspace };
    if (this.sharedAll) return { path: this.root, kind: 'all' };
    return { path: join(this.root, PROC_DIR, String(pid)), kind: 'own' };
  }

  /**
   * Boot: the root and its two directories exist and belong to the kernel. A root that a sandboxed
   * command used to own (it was everyone's workspace) is taken back, so no bind source below it has a
   * directory on the way the sandbox uid could swap. Files left in the root from before are named once.
   */
  init(): void {
    mkdirSync(this.root, { recursive: true });
    if (this.sharedAll) return;
    const kernelUid = process.getuid?.() ?? -1;
    const kernelGid = process.getgid?.() ?? -1;
    for (const d of [this.root, join(this.root, PROC_DIR), join(this.root, SHARED_DIR)]) {
      mkdirSync(d, { recursive: true, mode: 0o755 });
      const st = lstatSync(d);
      if (this.id && st.uid === this.id.uid) chownSync(d, kernelUid, kernelGid);
    }
    registerWorkspaceContainers([PROC_DIR, SHARED_DIR].map((d) => realpathSync(join(this.root, d))));
    const legacy = readdirSync(this.root).filter((n) => n !== PROC_DIR && n !== SHARED_DIR);
    if (legacy.length) {
      log.warn(
        `${this.root} holds ${legacy.length} entr${legacy.length === 1 ? 'y' : 'ies'} from before per-process workspaces (${legacy.slice(0, 5).join(', ')}${legacy.length > 5 ? ', …' : ''}); ` +
          `agents no longer see them — each process works in ${join(this.root, PROC_DIR)}/<pid>. ` +
          'Set security.shared_workspace: true to keep one workspace for every process, or move them into a named one (shared/<name>, policy workspace: <name>)',
      );
    }
  }

  /** Makes the directory (spawn, restore, boot recovery); writable by the sandbox uid when the kernel is root. */
  ensure(ws: WorkspaceInfo): void {
    if (ws.kind === 'all') return;
    mkdirSync(ws.path, { recursive: true, mode: 0o700 });
    if (this.id && lstatSync(ws.path).uid !== this.id.uid) lchownSync(ws.path, this.id.uid, this.id.gid);
  }

  /**
   * Writes `files` (relative path → content) into `ws` before its process's first step — an eval suite's
   * files, a test's fixtures. Never through a link: a symlinked directory or file on the way (a shared
   * workspace's, planted by an agent) is refused (EPERM), so a seed lands nowhere but in the workspace.
   * Owned by the sandbox uid when the kernel is root, like the directory.
   */
  seed(ws: WorkspaceInfo, files: Readonly<Record<string, string>>): void {
    this.ensure(ws);
    for (const [rel, content] of Object.entries(files)) {
      const parts = checkSeedPath(rel).split(sep);
      let dir = ws.path;
      for (const part of parts.slice(0, -1)) {
        dir = join(dir, part);
        if (!existsSync(dir)) {
          mkdirSync(dir, { mode: 0o755 });
          if (this.id) lchownSync(dir, this.id.uid, this.id.gid);
        } else if (!lstatSync(dir).isDirectory()) {
          throw new KernelError(
            'EPERM',
            `seed file ${rel}: ${dir} is not a directory (a link is never followed)`,
          );
        }
      }
      let fd: number;
      try {
        fd = openSync(
          join(dir, parts.at(-1)!),
          constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
          0o644,
        );
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
        throw new KernelError('EPERM', `seed file ${rel} is a link in ${ws.path} (a link is never followed)`);
      }
      try {
        if (this.id) fchownSync(fd, this.id.uid, this.id.gid);
        writeSync(fd, content);
      } finally {
        closeSync(fd);
      }
    }
  }

  /**
   * A fork's copy of its source's own workspace, staged in `proc/.fork-*` before the fork exists (a copy
   * refused for its size refuses the fork); `place()` then names it after the new pid. Null when the
   * source's workspace is shared (the fork shares it too).
   */
  async stageFork(from: WorkspaceInfo): Promise<StagedCopy | null> {
    if (from.kind !== 'own') return null;
    const path = join(this.root, PROC_DIR, `.fork-${randomUUID()}`);
    const stats = await this.copy(from.path, path);
    return {
      ...stats,
      place: (to) => {
        if (to.kind !== 'own' || existsSync(to.path))
          return void rmSync(path, { recursive: true, force: true });
        renameSync(path, to.path);
      },
      discard: () => rmSync(path, { recursive: true, force: true }),
    };
  }

  /**
   * Copies regular files, directories and symlinks (as links, never followed); everything else is
   * skipped, setuid/setgid bits dropped. EQUOTA past WORKSPACE_COPY_MAX_BYTES or WORKSPACE_COPY_MAX_ENTRIES,
   * and nothing of the target is left behind.
   */
  private async copy(fromPath: string, toPath: string): Promise<{ files: number; bytes: number }> {
    this.ensure({ path: toPath, kind: 'own' });
    const from = { path: fromPath };
    if (!existsSync(from.path)) return { files: 0, bytes: 0 };
    let bytes = 0;
    let entries = 0;
    const owner = this.id;
    const walk = async (src: string, dst: string, depth: number): Promise<void> => {
      for (const name of await readdir(src)) {
        const s = join(src, name);
        const d = join(dst, name);
        const st = await lstat(s);
        if (++entries > P.WORKSPACE_COPY_MAX_ENTRIES || bytes + st.size > P.WORKSPACE_COPY_MAX_BYTES) {
          throw new KernelError(
            'EQUOTA',
            `the workspace ${from.path} is larger than a fork copies (WORKSPACE_COPY_MAX_BYTES ${P.WORKSPACE_COPY_MAX_BYTES} bytes, WORKSPACE_COPY_MAX_ENTRIES ${P.WORKSPACE_COPY_MAX_ENTRIES} entries); remove what the fork does not need, or run both in a named shared workspace (policy workspace: <name>)`,
          );
        }
        if (st.isDirectory()) {
          if (depth >= P.WORKSPACE_COPY_MAX_DEPTH) continue;
          await mkdir(d, { mode: (st.mode & 0o777) | 0o700 });
          await walk(s, d, depth + 1);
        } else if (st.isFile()) {
          // COPYFILE_EXCL: never through a name that exists (the target is new); no setuid/setgid bits.
          await copyFile(s, d, constants.COPYFILE_EXCL);
          await chmod(d, st.mode & 0o777);
          bytes += st.size;
        } else if (st.isSymbolicLink()) {
          await symlink(await readlink(s), d);
        } else continue;
        if (owner) await lchown(d, owner.uid, owner.gid);
      }
    };
    try {
      await walk(from.path, toPath, 0);
    } catch (err) {
      await rm(toPath, { recursive: true, force: true });
      throw err;
    }
    return { files: entries, bytes };
  }

  /** Removes an exited process's own workspace; a shared one is never removed this way. */
  async remove(ws: WorkspaceInfo): Promise<boolean> {
    if (ws.kind !== 'own') {
      throw new KernelError(
        'EINVAL',
        `${ws.path} is ${ws.kind === 'all' ? 'every process’s workspace (security.shared_workspace)' : `the shared workspace "${ws.name}"`}; remove its files yourself`,
      );
    }
    if (!existsSync(ws.path)) return false;
    await rm(ws.path, { recursive: true, force: true });
    return true;
  }
}

/**
 * A seed file's path, normalised: relative, inside the workspace, naming a file. EINVAL naming the fix
 * otherwise (checked at spawn, before the process exists).
 */
export function checkSeedPath(rel: string): string {
  const n = normalize(rel);
  if (!rel || isAbsolute(rel) || n === '.' || n === '..' || n.startsWith(`..${sep}`) || n.endsWith(sep))
    throw new KernelError(
      'EINVAL',
      `file ${JSON.stringify(rel)} is not a file path inside the workspace: give a relative path such as "data/notes.txt"`,
    );
  return n;
}
