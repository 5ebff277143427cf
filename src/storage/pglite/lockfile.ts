/**
 * The PGlite data-dir lockfile. PGlite is a single-process database: two processes opening one data dir
 * corrupt it. The lock holds pid + hostname + start time; a lock whose holder pid is dead on this host is
 * stale and recovered, anything else is refused with ELOCKED naming the holder.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { KernelError } from '../../errors.js';
import { PGLITE_LOCK_FILE } from '../../param.js';
import { logger } from '../../util/log.js';

const log = logger('storage.lock');

export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
}

export interface DirLock {
  readonly path: string;
  release(): void;
}

/** Locks in this process, so a second open from the same process is refused too. */
const heldHere = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the pid exists but belongs to someone else — alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.hostname === 'string') {
      return { pid: v.pid, hostname: v.hostname, startedAt: String(v.startedAt ?? '?') };
    }
  } catch {
    // unreadable or half-written: treated as stale below
  }
  return null;
}

export function acquireDirLock(dataDir: string): DirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, PGLITE_LOCK_FILE);
  const me: LockInfo = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (heldHere.has(path)) throw locked(dataDir, path, me);
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      heldHere.add(path);
      return {
        path,
        release() {
          heldHere.delete(path);
          const cur = readLock(path);
          if (cur && cur.pid === me.pid && cur.hostname === me.hostname) rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw KernelError.wrap(err, 'EBACKEND', `cannot create lockfile ${path}`);
      }
    }
    const holder = readLock(path);
    const stale =
      holder === null ||
      (holder.hostname === me.hostname && holder.pid !== process.pid && !pidAlive(holder.pid));
    if (!stale) throw locked(dataDir, path, holder);
    log.warn(`recovering stale lock of a dead kernel (pid ${holder?.pid ?? '?'})`, { dataDir });
    rmSync(path, { force: true });
  }
  throw new KernelError('ELOCKED', `could not take the lock on ${dataDir} after recovering a stale lock`, {
    retryable: true,
    details: { dataDir },
  });
}

function locked(dataDir: string, path: string, holder: LockInfo | null): KernelError {
  const who = holder
    ? `pid ${holder.pid} on ${holder.hostname} (since ${holder.startedAt})`
    : 'another open in this process';
  return new KernelError(
    'ELOCKED',
    `PGlite data dir ${dataDir} is in use by another kernel: ${who}. ` +
      `Stop that kernel, point storage.url at another directory, or use postgres:// to share one database ` +
      `between kernels. If the holder is gone, delete ${path}.`,
    { details: { dataDir, lockFile: path, holder } },
  );
}
