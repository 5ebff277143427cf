/**
 * The lockfile judges its holder where the next kernel actually starts: after a reboot (another boot id),
 * on a reused pid (another start time — pid 1 of a restarted container is alive, and is us), and from
 * another pid namespace (a container), where only the holder's refreshes tell it is alive. Real processes
 * hold the locks: a child of this test, and a child in a new pid namespace made with unshare(1).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PGLITE_LOCK_FILE } from '../../param.js';
import { acquireDirLock, type LockInfo, procStartOf, selfIdentity } from './lockfile.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const REGISTER = join(here, '..', 'testing', 'ts-register.mjs');
const LOCKFILE = pathToFileURL(join(here, 'lockfile.ts')).href;
const TIMING = { refreshMs: 100, staleMs: 3_000 };
const dirs: string[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'aos-lock-'));
  dirs.push(d);
  return d;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function writeLock(dir: string, info: Partial<LockInfo>): void {
  writeFileSync(join(dir, PGLITE_LOCK_FILE), JSON.stringify({ ...selfIdentity(), ...info }));
}

function lockOf(dir: string): LockInfo {
  return JSON.parse(readFileSync(join(dir, PGLITE_LOCK_FILE), 'utf8')) as LockInfo;
}

/** A node process (optionally behind `prefix`, e.g. unshare) that takes the lock and says LOCKED. */
async function holder(
  dir: string,
  prefix: string[] = [],
): Promise<{ proc: ChildProcess; exited: Promise<unknown> }> {
  const code = `const { acquireDirLock } = await import(${JSON.stringify(LOCKFILE)});
await acquireDirLock(${JSON.stringify(dir)}, ${JSON.stringify(TIMING)});
console.log('LOCKED'); setInterval(() => {}, 1000);`;
  const argv = [...prefix, process.execPath, '--import', REGISTER, '--input-type=module', '-e', code];
  const proc = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env },
  });
  const exited = new Promise((r) => proc.once('exit', r));
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.value !== 'LOCKED') throw new Error('lock holder exited early (see its stderr above)');
  return { proc, exited };
}

function canUnsharePid(): string | null {
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `unshare --pid needs root or user namespaces here: ${(err as Error).message.split('\n')[0]}`;
  }
}

describe('PGlite lockfile: who holds it', () => {
  it('records boot id, pid namespace and the pid start time', async () => {
    const dir = tempDir();
    const lock = await acquireDirLock(dir, TIMING);
    const info = lockOf(dir);
    expect(info.pid).toBe(process.pid);
    expect(info.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    expect(info.pidNs).toMatch(/^pid:\[\d+\]$/);
    expect(info.procStart).toBe(procStartOf(process.pid));
    lock.release();
  });

  it('a live pid recorded before the last boot is stale (the lock is recovered)', async () => {
    const dir = tempDir();
    // pid 1 is alive here, but the lock says it was written on another boot of the machine
    writeLock(dir, { pid: 1, bootId: '00000000-0000-0000-0000-000000000000' });
    const lock = await acquireDirLock(dir, TIMING);
    expect(lockOf(dir).pid).toBe(process.pid);
    lock.release();
  });

  it('our own pid left by an earlier process (pid 1 of a restarted container) is stale', async () => {
    const dir = tempDir();
    writeLock(dir, { procStart: '1' }); // our pid, same boot and namespace, but not started by us
    const lock = await acquireDirLock(dir, TIMING);
    expect(lockOf(dir).procStart).toBe(procStartOf(process.pid));
    lock.release();
  });

  it('a reused pid (alive, started at another time than recorded) is stale; the real holder is not', async () => {
    const dir = tempDir();
    const h = await holder(dir);
    const real = lockOf(dir);
    expect(real.pid).toBe(h.proc.pid);
    await expect(acquireDirLock(dir, TIMING)).rejects.toMatchObject({
      code: 'ELOCKED',
      message: expect.stringContaining(`pid ${h.proc.pid}`),
    });
    // the same live pid, recorded with another start time: someone else's lock, long gone
    writeLock(dir, { pid: real.pid, procStart: String(Number(real.procStart) - 1) });
    const lock = await acquireDirLock(dir, TIMING);
    expect(lockOf(dir).pid).toBe(process.pid);
    lock.release();
    h.proc.kill('SIGKILL');
    await h.exited;
  });

  const noUnshare = canUnsharePid();
  it.skipIf(noUnshare !== null)(
    `a holder in another pid namespace is live while it refreshes, stale once killed${noUnshare ? ` (skipped: ${noUnshare})` : ''}`,
    async () => {
      const dir = tempDir();
      const h = await holder(dir, ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child']);
      const info = lockOf(dir);
      expect(info.pidNs).not.toBe(selfIdentity().pidNs);
      expect(info.pid).toBe(1); // unshare --fork: the holder is pid 1 of its own namespace
      await expect(acquireDirLock(dir, TIMING)).rejects.toMatchObject({ code: 'ELOCKED' });
      h.proc.kill('SIGKILL'); // unshare dies; --kill-child takes the holder with it
      await h.exited;
      const lock = await acquireDirLock(dir, TIMING); // waits until the lock has not moved for staleMs
      expect(lockOf(dir).pid).toBe(process.pid);
      lock.release();
    },
    30_000,
  );
});
