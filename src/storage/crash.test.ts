/**
 * Crash safety and the PGlite lock, with real processes: a child commits steps in a loop and is killed
 * with SIGKILL mid-write; after reopening (the dead child's lock is recovered) every step the child
 * reported as committed is there, contiguous, once. A second kernel on a locked data dir gets ELOCKED.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { KernelError } from '../errors.js';
import { ident } from './sql.js';
import { createStorage } from './storage.js';
import { pgUnreachableReason, randomSchema, TEST_PG_URL } from './testing/backends.case.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const REGISTER = join(here, 'testing', 'ts-register.mjs');
const CHILD = join(here, 'testing', 'crash-child.mjs');
const dirs: string[] = [];

function child(args: string[]): {
  proc: ChildProcess;
  lines: AsyncIterableIterator<string>;
  exited: Promise<unknown>;
} {
  const proc = spawn(process.execPath, ['--import', REGISTER, CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, AOS_LOG: 'error' },
  });
  const exited = new Promise((r) => proc.once('exit', r));
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  return { proc, lines, exited };
}

async function next(lines: AsyncIterableIterator<string>): Promise<string> {
  const r = await lines.next();
  if (r.done) throw new Error('child exited early (see its stderr above)');
  return r.value;
}

/** Lets the child commit at least `min` steps, kills it with SIGKILL, returns pid and last reported step. */
async function killMidWrite(args: string[], min: number): Promise<{ pid: number; reported: number }> {
  const c = child(args);
  const pid = Number((await next(c.lines)).replace('PID ', ''));
  let reported = 0;
  while (reported < min) reported = Number((await next(c.lines)).replace('COMMITTED ', ''));
  c.proc.kill('SIGKILL');
  await c.exited;
  // lines already buffered were printed after a commit too
  for (;;) {
    const r = await c.lines.next();
    if (r.done) break;
    if (r.value.startsWith('COMMITTED ')) reported = Number(r.value.slice(10));
  }
  return { pid, reported };
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'aos-crash-'));
  dirs.push(d);
  return d;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('crash safety [pglite file]', () => {
  it('a SIGKILLed writer loses no committed step, and its stale lock is recovered', async () => {
    const dir = join(tempDir(), 'data');
    const { pid, reported } = await killMidWrite([`pglite://${dir}`, 'steps'], 40);
    const s = await createStorage(`pglite://${dir}`); // would be ELOCKED if the stale lock were not recovered
    try {
      const steps = (await s.state.listSteps(pid, { limit: 100_000 })).map((x) => x.stepNo);
      expect(steps.length).toBeGreaterThanOrEqual(reported);
      expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
      const p = await s.state.getProcess(pid);
      expect(p?.stepNo).toBe(steps.length);
      expect(p?.programState).toEqual({ n: steps.length });
    } finally {
      await s.close();
    }
  });

  it('a second kernel on a locked data dir gets ELOCKED naming the holder', async () => {
    const dir = join(tempDir(), 'data');
    const c = child([`pglite://${dir}`, 'hold']);
    const holder = Number((await next(c.lines)).replace('READY ', ''));
    try {
      const err = await createStorage(`pglite://${dir}`).catch((e: unknown) => e);
      expect(KernelError.is(err, 'ELOCKED')).toBe(true);
      expect((err as Error).message).toContain(`pid ${holder}`);
      expect((err as Error).message).toContain(dir);
      // same process, second open: refused as well
      c.proc.kill('SIGTERM');
      await c.exited;
      const a = await createStorage(`pglite://${dir}`);
      await expect(createStorage(`pglite://${dir}`)).rejects.toMatchObject({ code: 'ELOCKED' });
      await a.close();
    } finally {
      c.proc.kill('SIGKILL');
    }
  });
});

const why = await pgUnreachableReason();
const ci = process.env.CI === 'true' || process.env.CI === '1';
describe.skipIf(why !== null && !ci)(`crash safety [postgres]${why ? ` — skipped: ${why}` : ''}`, () => {
  it('a SIGKILLed writer loses no committed step', async () => {
    if (why) throw new Error(`CI requires the PostgreSQL run: ${why}`);
    const schema = randomSchema();
    console.info(`[storage tests] crash test on PostgreSQL, throwaway schema ${schema}`);
    const { pid, reported } = await killMidWrite([TEST_PG_URL, 'steps', schema], 100);
    const s = await createStorage(TEST_PG_URL, { schema });
    try {
      const steps = (await s.state.listSteps(pid, { limit: 100_000 })).map((x) => x.stepNo);
      expect(steps.length).toBeGreaterThanOrEqual(reported);
      expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
    } finally {
      await s.driver.query(`DROP SCHEMA ${ident(schema)} CASCADE`);
      await s.close();
    }
  });
});
