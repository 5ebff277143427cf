/**
 * Race-free file access for the file tools, which run in the kernel process (as root on many hosts) while
 * the agent's own shell can rename, unlink and symlink anything in the workspace at the same time.
 * Checking a path and then opening it is a race; so every open here is verified after the fact:
 *   - a file or directory is opened with O_NOFOLLOW | O_NONBLOCK (a FIFO never blocks the thread pool),
 *     then the descriptor's real path (/proc/self/fd/N) must be exactly the path the policy approved —
 *     a component swapped for a symlink in between shows up there and the descriptor is dropped unused;
 *   - fstat on the descriptor, not the name, decides whether it is a regular file;
 *   - a file is created or replaced as a temporary file inside a verified directory descriptor
 *     (/proc/self/fd/N/name is openat(2) for Node) and renamed over the name, so a link at the name is
 *     replaced, never followed, and a hard link to an outside file is never written through;
 *   - files the kernel creates take their directory's owner (the sandbox uid owns the workspace).
 * Errors name the path and the rule, never the file's content.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { KernelError } from '../../errors.js';
import type { SecurityPolicy } from '../../security/policy.js';

const LINUX = process.platform === 'linux';
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const O_NOCTTY = constants.O_NOCTTY ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;

/** What a non-regular file is, for the error message. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isSymbolicLink()) return 'symbolic link';
  return 'special file';
}

function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/** The path a descriptor really refers to (Linux), or null where the platform cannot say. */
async function realPathOf(fh: fs.FileHandle): Promise<string | null> {
  if (!LINUX) return null;
  return fs.readlink(fdPath(fh.fd));
}

function raced(path: string): KernelError {
  return new KernelError(
    'EPERM',
    `${path} changed while it was being opened (a symbolic link or a moved directory now points elsewhere); refused`,
    { details: { path, rule: 'path_race' } },
  );
}

function openError(err: unknown, path: string, what: string): KernelError {
  const code = (err as NodeJS.ErrnoException).code;
  if (err instanceof KernelError) return err;
  if (code === 'ELOOP' || code === 'EMLINK')
    return new KernelError('EPERM', `${path} is a symbolic link; use its target path instead`, {
      details: { path, rule: 'no_follow' },
    });
  if (code === 'ENOENT') return new KernelError('ENOTFOUND', `${path} does not exist`);
  if (code === 'ENOTDIR') return new KernelError('EINVAL', `${path}: a component is not a directory`);
  if (code === 'EISDIR') return new KernelError('EINVAL', `${path} is a directory; use list_dir`);
  if (code === 'ENXIO') return new KernelError('EINVAL', `${path} is not a regular file`);
  if (code === 'EACCES' || code === 'EPERM')
    return new KernelError('EPERM', `${path}: permission denied by the file system`);
  return new KernelError('ETOOL', `${what} ${path} failed (${code ?? 'error'})`);
}

/**
 * Opens `real` (a path the policy already approved) without following a link at any point the attacker
 * controls, and returns the descriptor only when it refers to exactly that path.
 */
async function openVerified(real: string, shown: string, flags: number): Promise<fs.FileHandle> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(real, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch (err) {
    throw openError(err, shown, 'opening');
  }
  try {
    const at = await realPathOf(fh);
    if (at !== null && at !== real) throw raced(shown);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

export interface OpenedFile {
  fh: fs.FileHandle;
  stat: Stats;
  real: string;
}

/** Opens an approved path for reading; refuses anything that is not a regular file, without blocking. */
export async function openRegularForRead(
  policy: SecurityPolicy,
  path: string,
  workspace: string,
  mode: 'read' | 'write' = 'read',
): Promise<OpenedFile> {
  const real = policy.resolvePath(path, mode, workspace);
  // A cheap pre-check so a device is not even opened in the common case; fstat below is the real test.
  const pre = await fs.lstat(real).catch((err) => {
    throw openError(err, path, 'reading');
  });
  if (!pre.isFile() && !pre.isSymbolicLink()) throw notRegular(path, pre);
  const fh = await openVerified(real, path, constants.O_RDONLY);
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) throw notRegular(path, stat);
    return { fh, stat, real };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

function notRegular(path: string, st: Stats): KernelError {
  if (st.isDirectory()) return new KernelError('EINVAL', `${path} is a directory; use list_dir`);
  return new KernelError(
    'EINVAL',
    `${path} is not a regular file (${fileKind(st)}); the file tools read and write regular files only`,
    { details: { path, kind: fileKind(st) } },
  );
}

/** Reads up to `max` bytes of an opened file. */
export async function readPrefix(f: OpenedFile, max: number): Promise<Buffer> {
  const n = Math.min(f.stat.size, max);
  const buf = Buffer.alloc(n);
  let off = 0;
  while (off < n) {
    const { bytesRead } = await f.fh.read(buf, off, n - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off === n ? buf : buf.subarray(0, off);
}

/** A directory the policy approved, held open and verified; children are reached through it. */
export interface VerifiedDir {
  fh: fs.FileHandle;
  real: string;
  stat: Stats;
  /** A path naming `name` inside this exact directory (openat semantics through /proc/self/fd). */
  child(name: string): string;
  close(): Promise<void>;
}

export async function openDirVerified(real: string, shown: string): Promise<VerifiedDir> {
  const fh = await openVerified(real, shown, constants.O_RDONLY | O_DIRECTORY);
  const stat = await fh.stat();
  if (!stat.isDirectory()) {
    await fh.close();
    throw new KernelError('EINVAL', `${shown}: not a directory`);
  }
  return {
    fh,
    real,
    stat,
    child: (name) => (LINUX ? join(fdPath(fh.fd), name) : join(real, name)),
    close: () => fh.close(),
  };
}

/** Opens a subdirectory of a verified directory without following a link at its name. */
async function openChildDir(parent: VerifiedDir, name: string, shown: string): Promise<VerifiedDir> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(parent.child(name), constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    throw openError(err, shown, 'opening');
  }
  const real = join(parent.real, name);
  const at = await realPathOf(fh).catch(() => null);
  if (at !== null && at !== real) {
    await fh.close();
    throw raced(shown);
  }
  const stat = await fh.stat();
  return {
    fh,
    real,
    stat,
    child: (n) => (LINUX ? join(fdPath(fh.fd), n) : join(real, n)),
    close: () => fh.close(),
  };
}

/** Lists a verified directory (entries with their types) without re-resolving its path. */
export async function readDirVerified(dir: VerifiedDir) {
  return fs.readdir(LINUX ? fdPath(dir.fh.fd) : dir.real, { withFileTypes: true });
}

export { openChildDir };

/**
 * The directory a write goes to, opened and verified. With `createDirs`, missing components are made one
 * at a time inside the previous verified directory (never through a link), owned like their parent.
 */
async function openParentForWrite(
  policy: SecurityPolicy,
  path: string,
  workspace: string,
  createDirs: boolean,
): Promise<{ dir: VerifiedDir; name: string }> {
  const real = policy.resolvePath(path, 'write', workspace);
  const name = basename(real);
  const parent = dirname(real);
  if (!createDirs) {
    const dir = await openDirVerified(parent, dirname(path)).catch((err) => {
      if (err instanceof KernelError && err.code === 'ENOTFOUND')
        throw new KernelError(
          'ENOTFOUND',
          `the directory of ${path} does not exist; create it first (write_file with create_dirs: true)`,
        );
      throw err;
    });
    return { dir, name };
  }
  // The deepest existing ancestor, then each missing component made through the previous descriptor.
  const missing: string[] = [];
  let top = parent;
  for (;;) {
    const st = await fs.lstat(top).catch(() => null);
    if (st) break;
    missing.unshift(basename(top));
    top = dirname(top);
  }
  policy.resolvePath(top, 'write', workspace);
  let dir = await openDirVerified(top, top);
  for (const comp of missing) {
    try {
      await fs.mkdir(dir.child(comp), 0o755);
      const made = await openChildDir(dir, comp, path);
      await adoptOwner(made.fh, dir.stat);
      await dir.close();
      dir = made;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        await dir.close();
        throw err instanceof KernelError ? err : openError(err, path, 'creating a directory for');
      }
      const next = await openChildDir(dir, comp, path).finally(() => dir.close());
      dir = next;
    }
  }
  return { dir, name };
}

/** As root, a file the kernel makes belongs to its directory's owner (the sandbox uid owns workspaces). */
async function adoptOwner(fh: fs.FileHandle, like: { uid: number; gid: number }): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const st = await fh.stat();
  if (st.uid !== like.uid || st.gid !== like.gid) await fh.chown(like.uid, like.gid);
}

export interface WriteOptions {
  append?: boolean;
  createDirs?: boolean;
  maxBytes: number;
}

/**
 * Writes `data` to an approved path. Replace = a temporary file in the verified directory, renamed over
 * the name (a link or hard link at the name is replaced, never written through); append = open the name
 * with O_NOFOLLOW inside the verified directory, regular files with one link only.
 */
export async function writeVerified(
  policy: SecurityPolicy,
  path: string,
  workspace: string,
  data: Buffer,
  o: WriteOptions,
): Promise<number> {
  if (data.length > o.maxBytes) {
    throw new KernelError(
      'EQUOTA',
      `content is ${data.length} bytes; this process may write files of at most ${o.maxBytes} bytes`,
    );
  }
  const { dir, name } = await openParentForWrite(policy, path, workspace, o.createDirs ?? false);
  try {
    const target = dir.child(name);
    const existing = await fs.lstat(target).catch(() => null);
    if (existing?.isSymbolicLink())
      throw new KernelError('EPERM', `${path} is a symbolic link; write to its target path instead`, {
        details: { path, rule: 'no_follow' },
      });
    if (existing && !existing.isFile()) throw notRegular(path, existing);
    if (o.append) {
      let fh: fs.FileHandle;
      try {
        fh = await fs.open(
          target,
          constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
          0o644,
        );
      } catch (err) {
        throw openError(err, path, 'appending to');
      }
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw notRegular(path, st);
        if (st.nlink > 1)
          throw new KernelError(
            'EPERM',
            `${path} has ${st.nlink} hard links, so appending could change a file elsewhere; write it whole instead`,
            { details: { path, rule: 'hard_link' } },
          );
        if (st.size + data.length > o.maxBytes)
          throw new KernelError(
            'EQUOTA',
            `${path} would be ${st.size + data.length} bytes; this process may write files of at most ${o.maxBytes} bytes`,
          );
        await adoptOwner(fh, dir.stat);
        await fh.write(data, 0, data.length);
      } finally {
        await fh.close();
      }
      return data.length;
    }
    const tmpName = `.${name.slice(0, 64)}.aos-${randomBytes(6).toString('hex')}.tmp`;
    const tmp = dir.child(tmpName);
    const fh = await fs
      .open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600)
      .catch((err) => {
        throw openError(err, path, 'writing');
      });
    try {
      try {
        await fh.write(data, 0, data.length);
        // Keep the replaced file's permissions (never its setuid/setgid bits) and owner.
        await fh.chmod(existing ? existing.mode & 0o777 : 0o644);
        await adoptOwner(fh, existing ?? dir.stat);
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.unlink(tmp).catch(() => {});
      throw err instanceof KernelError ? err : openError(err, path, 'writing');
    }
    return data.length;
  } finally {
    await dir.close();
  }
}
