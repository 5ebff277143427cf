/**
 * Single-node chaos: a kernel in a child OS process runs 20 agents whose every step has side effects of
 * every kind (write_file, shell, kv compare-and-set, memory, mail). The test SIGKILLs it at random moments
 * at least 20 times, restarting it each time, and then checks the world: no effect repeated, no step past
 * `done`, no process stuck, every agent's result right, and every model call's spend accounted once.
 * On embedded PGlite (a file) and on the PostgreSQL server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStorage } from '../../src/storage/storage.js';
import { workspacePath } from '../../src/testing.js';
import { withPgSchema } from './aos-start.js';

const CHILD = new URL('./fixtures/chaos-child.mjs', import.meta.url).pathname;
const AGENTS = 20;
const STEPS = 10;
const KILLS = 20;
const STUCK_MS = 120_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  done: boolean;
  /** No step committed for STUCK_MS in a run nobody was killing: a process is stuck. */
  stuck: boolean;
}

/**
 * One kernel lifetime. With `kill`, it is SIGKILLed `kill.delayMs` after its `kill.afterSteps`-th committed
 * step: a random moment in the middle of the work (mid model call, mid tool, mid commit, between a final
 * step and its exit).
 */
function runChild(
  mode: 'start' | 'resume',
  storage: string,
  ws: string,
  kill: { afterSteps: number; delayMs: number } | null,
): Promise<Run> {
  const child: ChildProcess = spawn(
    process.execPath,
    [CHILD, mode, storage, ws, String(AGENTS), String(STEPS)],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AOS_LOG: 'error' } },
  );
  let buf = '';
  let err = '';
  let done = false;
  let stuck = false;
  let steps = 0;
  let ready = false;
  // Liveness, not speed: a run must keep committing steps until it is done. Generous on purpose.
  let watchdog: NodeJS.Timeout | undefined;
  const feed = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      stuck = true;
      child.kill('SIGKILL');
    }, STUCK_MS);
  };
  feed();
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
      if (line === 'DONE') done = true;
      else if (line === 'READY') ready = true;
      else if (line.startsWith('STEP ')) {
        feed();
        // counted from READY: in 'start' mode every agent has been spawned by then
        if (kill && ready && ++steps === kill.afterSteps)
          setTimeout(() => child.kill('SIGKILL'), kill.delayMs);
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code, signal, stderr: err.slice(-4000), done, stuck });
    }),
  );
}

interface Figures {
  kills: number;
  restarts: number;
  stepsChecked: number;
  duplicates: number;
  unknownOutcomes: number;
}

async function chaos(storage: string, dir: string): Promise<Figures> {
  const ws = join(dir, 'ws');
  mkdirSync(ws, { recursive: true });
  let kills = 0;
  let restarts = 0;
  let mode: 'start' | 'resume' = 'start';
  for (let round = 0; round < KILLS * 4; round++) {
    const kill =
      kills < KILLS
        ? { afterSteps: 1 + Math.floor(Math.random() * 8), delayMs: Math.floor(Math.random() * 150) }
        : null;
    const r = await runChild(mode, storage, ws, kill);
    expect(
      r.stuck,
      `no step committed for ${STUCK_MS / 1000} s after ${kills} kills: a process is stuck`,
    ).toBe(false);
    if (r.signal === 'SIGKILL') {
      kills += 1;
      if (mode === 'start') mode = 'resume'; // killed only after READY: every agent was spawned
      restarts += 1;
      continue;
    }
    expect(r.code, r.stderr).toBe(0);
    if (mode === 'start') mode = 'resume';
    if (r.done && kills >= KILLS) break;
    restarts += 1;
  }
  expect(kills).toBeGreaterThanOrEqual(KILLS);

  const s = await createStorage(storage);
  let stepsChecked = 0;
  let duplicates = 0;
  let unknownOutcomes = 0;
  try {
    const procs = await s.state.listProcesses({ limit: 1000 });
    expect(procs).toHaveLength(AGENTS);
    const memRows = await s.driver.query<{ content: string; n: string }>(
      "SELECT content, count(*) AS n FROM memories WHERE content LIKE 'chaos %' GROUP BY content",
    );
    const memories = new Map(memRows.rows.map((r) => [r.content, Number(r.n)]));
    for (const p of procs) {
      // zero stuck processes, every result right, zero steps past done
      expect(p.state, `pid ${p.pid}: ${p.exitReason}`).toBe('terminated');
      expect(p.exitReason, `pid ${p.pid}`).toBeNull();
      expect(p.result, `pid ${p.pid} result`).toBe(STEPS);
      const steps = await s.state.listSteps(p.pid, { limit: 1000 });
      expect(
        steps.map((x) => x.stepNo),
        `pid ${p.pid} steps`,
      ).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      stepsChecked += steps.length;
      const st = p.programState as { mail: number[][]; unknown: number[]; errors: string[] };
      expect(st.errors, `pid ${p.pid} tool errors`).toEqual([]);
      // mail: every step read exactly the message its previous step sent
      expect(st.mail, `pid ${p.pid} mail`).toEqual(Array.from({ length: STEPS - 1 }, (_, i) => [i + 1]));
      // write_file (idempotent by content): every line exactly once, in order
      const lines = readFileSync(join(workspacePath(ws, p.pid), 'files', `agent-${p.pid}.log`), 'utf8')
        .trim()
        .split('\n');
      const want = Array.from({ length: STEPS }, (_, i) => `${p.pid} ${i + 1}`);
      duplicates += lines.length - new Set(lines).size;
      expect(lines, `pid ${p.pid} write_file lines`).toEqual(want);
      // shell (not idempotent): at most once; a missing line only where the agent was told "outcome unknown"
      const shellFile = join(workspacePath(ws, p.pid), 'files', `shell-${p.pid}.log`);
      const sh = existsSync(shellFile) ? readFileSync(shellFile, 'utf8').trim().split('\n') : [];
      duplicates += sh.length - new Set(sh).size;
      expect(sh.length, `pid ${p.pid} shell lines`).toBe(new Set(sh).size);
      for (const w of want) if (!sh.includes(w)) expect(st.unknown).toContain(Number(w.split(' ')[1]));
      unknownOutcomes += st.unknown.length;
      // memory: one row per step
      for (let n = 1; n <= STEPS; n++) {
        const c = memories.get(`chaos ${p.pid} ${n}`) ?? 0;
        if (c > 1) duplicates += c - 1;
        expect(c, `memory chaos ${p.pid} ${n}`).toBe(1);
      }
    }
    // kv: the shared counter went up exactly once per committed step
    const total = await s.state.kvGet('shared', 'total');
    expect(total?.value).toBe(AGENTS * STEPS);
    // mail: one message per (agent, step), never duplicated
    const mail = await s.driver.query<{ n: string }>(
      "SELECT count(*) AS n FROM mailbox WHERE topic = 'chain' GROUP BY sender, body HAVING count(*) > 1",
    );
    expect(mail.rows).toEqual([]);
    // spend: every model response that arrived is in the journal and charged to its process once
    const journal = await s.driver.query<{ calls: string; tin: string }>(
      "SELECT count(*) AS calls, coalesce(sum((usage->>'input')::bigint), 0) AS tin FROM llm_calls WHERE response IS NOT NULL",
    );
    const charged = procs.reduce((a, p) => a + p.usage.apiCalls, 0);
    const chargedIn = procs.reduce((a, p) => a + p.usage.tokensIn, 0);
    expect(charged).toBe(Number(journal.rows[0]!.calls));
    expect(chargedIn).toBe(Number(journal.rows[0]!.tin));
    expect((await s.audit.verify()).ok).toBe(true);
  } finally {
    await s.close();
  }
  return { kills, restarts, stepsChecked, duplicates, unknownOutcomes };
}

describe('chaos: random SIGKILLs of a single node with side-effecting agents', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('on PGlite (a file): zero repeated effects, zero steps past done, zero stuck processes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-chaos-'));
    dirs.push(dir);
    const f = await chaos(`pglite://${dir}/data`, dir);
    console.info(`chaos [pglite] ${JSON.stringify(f)}`);
    expect(f.duplicates).toBe(0);
  }, 600_000);

  it('on PostgreSQL: zero repeated effects, zero steps past done, zero stuck processes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-chaos-pg-'));
    dirs.push(dir);
    await withPgSchema('aos_chaos', async (url) => {
      const f = await chaos(url, dir);
      console.info(`chaos [postgres, ${url.replace(/^.*schema=/, 'schema ')}] ${JSON.stringify(f)}`);
      expect(f.duplicates).toBe(0);
    });
  }, 600_000);
});
