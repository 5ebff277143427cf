/**
 * kill -9 the kernel mid-run, restart it, and every agent finishes with contiguous step numbers and no
 * step committed twice — on embedded PGlite and on the real PostgreSQL server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStorage } from '../../src/storage/storage.js';
import { onLines } from '../../src/util/lines.js';
import { withPgSchema } from './aos-start.js';

const CHILD = new URL('./fixtures/crash-child.mjs', import.meta.url).pathname;
const AGENTS = 6;
const STEPS = 25;

function runChild(
  mode: 'start' | 'resume',
  storage: string,
  dataDir: string,
  onLine: (l: string, c: ChildProcess) => void,
) {
  const child = spawn(process.execPath, [CHILD, mode, storage, String(AGENTS), String(STEPS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AOS_LOG: 'error', AOS_DATA_DIR: dataDir },
  });
  let err = '';
  onLines(child.stdout!, (line) => onLine(line, child));
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr: err })),
  );
}

async function crashAndRecover(storage: string, dataDir: string): Promise<void> {
  const committed = new Map<number, number>();
  let seen = 0;
  const first = await runChild('start', storage, dataDir, (line, child) => {
    const m = /^STEP (\d+) (\d+)$/.exec(line);
    if (!m) return;
    committed.set(Number(m[1]), Number(m[2]));
    // Kill mid-run: enough steps in to have history, far from the end.
    if (++seen === Math.floor((AGENTS * STEPS) / 3)) child.kill('SIGKILL');
  });
  expect(first.signal, first.stderr).toBe('SIGKILL');

  let doneSeen = false;
  const second = await runChild('resume', storage, dataDir, (line) => {
    if (line === 'DONE') doneSeen = true;
  });
  expect(second.code, second.stderr).toBe(0);
  expect(doneSeen).toBe(true);

  const s = await createStorage(storage);
  try {
    const procs = await s.state.listProcesses({ limit: 100 });
    expect(procs).toHaveLength(AGENTS);
    for (const p of procs) {
      expect(p.state, `pid ${p.pid}: ${p.exitReason}`).toBe('terminated');
      expect(p.result).toBe(STEPS);
      const steps = await s.state.listSteps(p.pid, { limit: 1000 });
      // Contiguous 1..STEPS, and each step's record was produced from the state of the step before it.
      expect(steps.map((x) => x.stepNo)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      expect(steps.map((x) => (x.record as { n: number }).n)).toEqual(
        Array.from({ length: STEPS }, (_, i) => i + 1),
      );
      // Everything the killed kernel reported as committed is still there.
      expect(p.stepNo).toBeGreaterThanOrEqual(committed.get(p.pid) ?? 0);
    }
  } finally {
    await s.close();
  }
}

describe('crash recovery (SIGKILL mid-run)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('on PGlite: every agent finishes, steps contiguous, none twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-crash-'));
    dirs.push(dir);
    await crashAndRecover(`pglite://${dir}/data`, dir);
  }, 180_000);

  it('on PostgreSQL: every agent finishes, steps contiguous, none twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-crash-pg-'));
    dirs.push(dir);
    await withPgSchema('aos_crash', async (url) => {
      console.info(`crash-recovery on PostgreSQL ${url.replace(/:[^:@/]*@/, '@')}`);
      await crashAndRecover(url, dir);
    });
  }, 180_000);
});
