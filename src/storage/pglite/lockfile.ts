/**
 * The PGlite data-dir lockfile. PGlite is a single-process database: two processes opening one data dir
 * corrupt it. The lock names its holder precisely enough to tell a live kernel from a dead one wherever the
 * next kernel starts: pid, the pid's start time (a reused pid has another), the machine's boot id (a lock
 * from before a reboot is stale whatever its pid), the pid namespace (a container has its own; pid 1 there
 * is not pid 1 here) and the hostname (for the message). Judging a lock (`judgeLock`):
 * - same boot, same pid namespace: stale when the pid is dead or started at another time than recorded;
 * - same boot, another pid namespace (another container, or an earlier run of this one): the pid cannot be
 *   seen from here, so the holder refreshes the file's mtime every PGLITE_LOCK_REFRESH_MS from a worker
 *   thread (a long WASM query on the main thread cannot stall it); a lock not refreshed for
 *   PGLITE_LOCK_STALE_MS is stale, and the opener waits up to that long to find out;
 * - another boot: stale. A PGlite data dir belongs to one machine; it is never shared over a network
 *   filesystem (docs/storage.md).
 * Anything live is refused with ELOCKED naming the holder and the fix.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { KernelError } from '../../errors.js';
import { PGLITE_LOCK_FILE, PGLITE_LOCK_REFRESH_MS, PGLITE_LOCK_STALE_MS } from '../../param.js';
import { logger } from '../../util/log.js';
import { pidAlive } from '../../util/process.js';

const log = logger('storage.lock');

export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  /** /proc/sys/kernel/random/boot_id of the holder's machine (absent in locks of older kernels). */
  bootId?: string;
  /** The holder's pid namespace, e.g. "pid:[4026531836]". */
  pidNs?: string;
  /** The holder pid's start time in clock ticks since boot (/proc/PID/stat field 22). */
  procStart?: string;
}

export interface DirLock {
  readonly path: string;
  release(): void;
}

export interface LockTiming {
  /** How often the holder refreshes the lock's mtime. */
  refreshMs?: number;
  /** A lock from another pid namespace not refreshed for this long is stale. */
  staleMs?: number;
}

/** Locks in this process, so a second open from the same process is refused too. */
const heldHere = new Set<string>();

function readOr(f: () => string): string | undefined {
  try {
    return f().trim() || undefined;
  } catch {
    return undefined; // not Linux, or /proc not mounted
  }
}

/** This process as a lock holder. */
export function selfIdentity(): LockInfo {
  return {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    ...optional(
      'bootId',
      readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    ),
    ...optional(
      'pidNs',
      readOr(() => readlinkSync('/proc/self/ns/pid')),
    ),
    ...optional('procStart', procStartOf('self')),
  };
}

function optional<K extends string>(k: K, v: string | undefined): { [P in K]?: string } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: string };
}

/** Field 22 of /proc/PID/stat (start time); the command name in field 2 may hold spaces and parens. */
export function procStartOf(pid: number | 'self'): string | undefined {
  const stat = readOr(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  if (!stat) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.hostname === 'string') {
      const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
      return {
        pid: v.pid,
        hostname: v.hostname,
        startedAt: String(v.startedAt ?? '?'),
        ...optional('bootId', str(v.bootId)),
        ...optional('pidNs', str(v.pidNs)),
        ...optional('procStart', str(v.procStart)),
      };
    }
  } catch {
    // unreadable or half-written: treated as stale below
  }
  return null;
}

export type Verdict =
  | { kind: 'live' }
  | { kind: 'stale'; why: string }
  /** Held from another pid namespace: live only while its mtime keeps moving. */
  | { kind: 'unseen' };

/** Whether `holder`'s lock is held by a live process, seen from `me` (both as selfIdentity() gives them). */
export function judgeLock(holder: LockInfo | null, me: LockInfo): Verdict {
  if (holder === null) return { kind: 'stale', why: 'unreadable lock' };
  if (holder.bootId && me.bootId && holder.bootId !== me.bootId) {
    return { kind: 'stale', why: `written before this machine's last boot (pid ${holder.pid})` };
  }
  // Locks of older kernels carry no namespace: the hostname stood for it.
  const sameNs = holder.pidNs && me.pidNs ? holder.pidNs === me.pidNs : holder.hostname === me.hostname;
  if (!sameNs) return { kind: 'unseen' };
  if (holder.pid === me.pid)
    return { kind: 'stale', why: `left by an earlier process with our pid ${me.pid}` };
  if (!pidAlive(holder.pid)) return { kind: 'stale', why: `its kernel (pid ${holder.pid}) is dead` };
  const now = holder.procStart ? procStartOf(holder.pid) : undefined;
  if (now !== undefined && now !== holder.procStart) {
    return { kind: 'stale', why: `pid ${holder.pid} now belongs to another process` };
  }
  return { kind: 'live' };
}

export async function acquireDirLock(dataDir: string, timing: LockTiming = {}): Promise<DirLock> {
  const refreshMs = timing.refreshMs ?? PGLITE_LOCK_REFRESH_MS;
  const staleMs = timing.staleMs ?? PGLITE_LOCK_STALE_MS;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 }); // private from the start: PGlite's files go in it
  const path = join(dataDir, PGLITE_LOCK_FILE);
  const me = selfIdentity();
  for (let attempt = 0; attempt < 3; attempt++) {
    if (heldHere.has(path)) throw locked(dataDir, path, me, 'another open in this process');
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      heldHere.add(path);
      return held(path, me, refreshMs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw KernelError.wrap(err, 'EBACKEND', `cannot create lockfile ${path}`);
      }
    }
    const holder = readLock(path);
    let verdict = judgeLock(holder, me);
    if (verdict.kind === 'unseen') verdict = await watchUnseen(path, holder as LockInfo, staleMs);
    if (verdict.kind === 'live') throw locked(dataDir, path, holder, null);
    log.warn(`recovering a stale lock: ${verdict.why}`, { dataDir });
    rmSync(path, { force: true });
  }
  throw new KernelError('ELOCKED', `could not take the lock on ${dataDir} after recovering a stale lock`, {
    retryable: true,
    details: { dataDir },
  });
}

/** A lock held by a process we cannot see: stale once its mtime has not moved for `staleMs`. */
async function watchUnseen(
  path: string,
  holder: LockInfo,
  staleMs: number,
): Promise<Exclude<Verdict, { kind: 'unseen' }>> {
  const mtime = () => {
    try {
      return statSync(path).mtimeMs;
    } catch {
      return null; // released meanwhile
    }
  };
  const first = mtime();
  if (first === null) return { kind: 'stale', why: 'released while we looked' };
  const age = () => Date.now() - first;
  if (age() < staleMs) {
    log.warn(
      `data dir locked by pid ${holder.pid} on ${holder.hostname} in another pid namespace (another container, ` +
        `or an earlier run of this one); waiting up to ${Math.ceil((staleMs - age()) / 1000)} s to see whether it is alive`,
    );
  }
  while (age() < staleMs) {
    await new Promise((r) => setTimeout(r, Math.min(250, staleMs / 4)));
    const m = mtime();
    if (m === null) return { kind: 'stale', why: 'released while we looked' };
    if (m !== first) return { kind: 'live' };
  }
  return {
    kind: 'stale',
    why: `pid ${holder.pid} on ${holder.hostname} (another pid namespace) has not refreshed it for ${Math.round(age() / 1000)} s`,
  };
}

/** Refreshes the lock's mtime from a worker thread until released (dynamic imports: CJS or ESM scope alike). */
const REFRESHER = `
Promise.all([import('node:worker_threads'), import('node:fs')]).then(([{ workerData, parentPort }, { utimesSync }]) => {
  const t = setInterval(() => { try { const d = new Date(); utimesSync(workerData.path, d, d); } catch {} }, workerData.ms);
  parentPort.on('message', () => { clearInterval(t); process.exit(0); });
});
`;

function held(path: string, me: LockInfo, refreshMs: number): DirLock {
  // No inherited flags (loaders, --inspect): the worker needs nothing but node:fs.
  const worker = new Worker(REFRESHER, { eval: true, execArgv: [], workerData: { path, ms: refreshMs } });
  worker.unref();
  worker.on('error', (err) => log.warn(`lock refresher stopped: ${err.message}`, { path }));
  return {
    path,
    release() {
      if (!heldHere.delete(path)) return;
      worker.postMessage('stop');
      const cur = readLock(path);
      if (cur && cur.pid === me.pid && cur.procStart === me.procStart && cur.bootId === me.bootId) {
        rmSync(path, { force: true });
      }
    },
  };
}

function locked(dataDir: string, path: string, holder: LockInfo | null, self: string | null): KernelError {
  const who = holder && !self ? `pid ${holder.pid} on ${holder.hostname} (since ${holder.startedAt})` : self;
  return new KernelError(
    'ELOCKED',
    `PGlite data dir ${dataDir} is in use by another kernel: ${who}. ` +
      `Stop that kernel, point storage.url at another directory, or use postgres:// to share one database ` +
      `between kernels. If the holder is gone, delete ${path}.`,
    { details: { dataDir, lockFile: path, holder } },
  );
}
