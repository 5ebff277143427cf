/**
 * A step writes what changed in its program state, not the whole state again (issue 17), on both drivers:
 * through the agent loop, every step's stored state — what recovery, takeover and the API read back — is
 * the state the step returned, also for a program that mutates its state in place; the step commit is ONE
 * statement (one round trip) on PGlite and on PostgreSQL, and its bytes stay flat while the state grows;
 * a kernel opened again on the same database continues from the same state.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SimulatedProvider } from '../llm/simulated/simulated-provider.js';
import { pgUnreachableReason, randomSchema, TEST_PG_URL } from '../storage/testing/backends.case.js';
import { createKernel, type Kernel } from './kernel.js';
import { resolverFromProvider } from './model-resolver.js';
import { type AgentProgram, continueWith, done } from './program.js';

const dirs: string[] = [];
const schemas: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (!schemas.length) return;
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: TEST_PG_URL });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await c.end();
});

interface Notes {
  n: number;
  steps: number;
  log: Array<{ step: number; text: string; at?: unknown }>;
  meta: { last: number | null; tags: string[]; gone?: string; when?: unknown; nan?: number };
}

/** What each step returned, as JSON (what storage must give back), by pid and step. */
const returned = new Map<string, unknown>();

/**
 * Mutates its state in place (the worst case for a delta against the previous state): appends a 1 KB entry,
 * rewrites a nested field, drops a member, and sets values JSON changes (undefined, NaN, a Date).
 */
const mutator: AgentProgram<Notes> = {
  name: 'test-mutator',
  init: ({ args }) => ({
    n: 0,
    steps: (args as { steps: number }).steps,
    log: [],
    meta: { last: null, tags: [] },
  }),
  async step(s, sys) {
    await sys.call('llm.chat', { messages: [{ role: 'user', content: `step ${s.n}` }], maxOutputTokens: 8 });
    s.n += 1;
    s.log.push({ step: s.n, text: `${s.n}:`.padEnd(1024, 'x'), ...(s.n % 3 ? {} : { at: undefined }) });
    s.meta.last = s.n;
    if (s.n % 2) s.meta.tags.push(`t${s.n}`);
    else s.meta.tags = s.meta.tags.slice(1);
    if (s.n === 2) s.meta.gone = 'soon';
    if (s.n === 4) delete s.meta.gone;
    s.meta.when = new Date(Date.UTC(2026, 0, s.n));
    s.meta.nan = s.n === 5 ? Number.NaN : s.n;
    returned.set(`${sys.pid}:${s.n}`, JSON.parse(JSON.stringify(s)));
    return s.n >= s.steps ? done(s, s.n) : continueWith(s);
  },
};

interface Backend {
  label: string;
  url: () => string;
  skip: () => Promise<string | null>;
}

const backends: Backend[] = [
  {
    label: 'PGlite file',
    url: () => {
      const d = mkdtempSync(join(tmpdir(), 'aos-delta-'));
      dirs.push(d);
      return `pglite://${join(d, 'db')}`;
    },
    skip: async () => null,
  },
  {
    label: 'PostgreSQL',
    url: () => {
      const s = randomSchema();
      schemas.push(s);
      return `${TEST_PG_URL}${TEST_PG_URL.includes('?') ? '&' : '?'}schema=${s}`;
    },
    skip: async () => {
      const why = await pgUnreachableReason();
      if (why && process.env.CI === 'true') throw new Error(why);
      return why;
    },
  },
];

async function boot(storage: string, snapshotEvery = 5): Promise<Kernel> {
  const ws = mkdtempSync(join(tmpdir(), 'aos-delta-ws-'));
  dirs.push(ws);
  return createKernel({
    storage,
    plugins: false,
    config: {
      security: { sandbox: 'none', workspace: ws },
      storage: { snapshot_every_steps: snapshotEvery },
      server: { demo_agents: false },
    },
    models: resolverFromProvider(new SimulatedProvider({ latency: { ttftMs: 0, perTokenMs: 0 } })),
    programs: [mutator],
  });
}

/** Statements the kernel sends while a step commits (the `proc.step` event ends a commit), with bytes. */
function watchCommits(k: Kernel) {
  const d = k.storage.driver as unknown as {
    query: (sql: string, p?: unknown[]) => unknown;
    transaction: (fn: (tx: unknown) => unknown) => unknown;
  };
  let cur: Array<{ sql: string; bytes: number }> = [];
  const perStep = new Map<number, Array<{ sql: string; bytes: number }>>();
  const q = d.query.bind(d);
  const t = d.transaction.bind(d);
  const note = (sql: string, p?: unknown[]) =>
    cur.push({
      sql,
      // the model calls' journal rows a PGlite commit carries are the answer's, not the state's: not counted
      bytes: (p ?? []).reduce<number>(
        (a, v) => a + (v == null || String(v).startsWith('[{"call_index"') ? 0 : String(v).length),
        0,
      ),
    });
  d.query = (sql, p) => {
    note(sql, p);
    return q(sql, p);
  };
  d.transaction = (fn) =>
    t((tx) => {
      note('BEGIN');
      return fn(tx);
    });
  k.hooks.on('llm.after', () => {
    cur = []; // what follows the step's model call is its commit
  });
  k.hooks.on('proc.step', (e) => {
    perStep.set(
      e.stepNo,
      cur.filter((x) => !/^\s*(INSERT INTO llm_calls|SELECT pg_notify)/.test(x.sql)),
    );
    cur = [];
  });
  return perStep;
}

for (const b of backends) {
  describe(`program state as deltas (${b.label})`, () => {
    it('stores each step’s state as the step returned it, one statement per step commit, flat bytes', async (t) => {
      const why = await b.skip();
      if (why) return t.skip(why);
      const url = b.url();
      const k = await boot(url);
      const commits = watchCommits(k);
      const stored = new Map<number, unknown>();
      let pid = 0;
      k.hooks.on('proc.step', (e) => {
        // read back while the run goes on: what a takeover or a restart would load at this step
        void k.storage.state.getProcess(e.pid).then((r) => stored.set(e.stepNo, r?.programState));
      });
      pid = await k.spawn({ name: 'm', task: 'mutate', program: 'test-mutator', args: { steps: 12 } });
      expect((await k.wait(pid)).result).toBe(12);
      await new Promise((r) => setTimeout(r, 50));
      for (let step = 1; step <= 11; step++) {
        expect(stored.get(step), `state after step ${step}`).toEqual(returned.get(`${pid}:${step}`));
      }
      // steps between whole writes carry deltas, the step that snapshots carries the whole state
      const rows = await k.storage.driver.query<{ step_no: number; d: boolean }>(
        'SELECT step_no, state_delta IS NOT NULL AS d FROM steps WHERE pid = $1 ORDER BY step_no',
        [pid],
      );
      const withDelta = rows.rows.filter((r) => r.d).map((r) => Number(r.step_no));
      expect(withDelta).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 11]);
      // one statement per step commit (no BEGIN/COMMIT, no separate audit insert), on both drivers
      for (const step of [2, 3, 4, 7, 8, 9]) {
        const c = commits.get(step)!;
        expect(c.length, `step ${step}'s commit: ${c.map((x) => x.sql.slice(0, 60)).join(' | ')}`).toBe(1);
        expect(c[0]!.sql).toMatch(/^\s*WITH p AS \(\s+UPDATE processes/);
      }
      // the state grows by 1 KB a step; the commit's bytes do not
      const bytes = (s: number) => commits.get(s)![0]!.bytes;
      expect(bytes(9)).toBeLessThan(bytes(2) + 512);
      expect(bytes(9)).toBeLessThan(JSON.stringify(returned.get(`${pid}:9`)).length / 3);
      await k.shutdown();
    });

    it('a kernel opened again on the same database continues from the state the deltas rebuild', async (t) => {
      const why = await b.skip();
      if (why) return t.skip(why);
      const url = b.url();
      const k1 = await boot(url, 50);
      let pid = 0;
      let stopAt = 0;
      const stopped = new Promise<void>((resolve) => {
        k1.hooks.on('proc.step', (e) => {
          if (e.stepNo === 7 && !stopAt) {
            stopAt = 7;
            resolve();
          }
        });
      });
      pid = await k1.spawn({ name: 'r', task: 'resume', program: 'test-mutator', args: { steps: 10 } });
      await stopped;
      await k1.shutdown(); // mid-run: the process stays live in storage, the next kernel runs it on
      const row = await (async () => {
        const again = await boot(url, 50);
        try {
          return await again.storage.state.getProcess(pid);
        } finally {
          await again.shutdown();
        }
      })();
      // the base in the row is the spawn state; the steps after it hold the rest
      expect(row!.stepNo).toBeGreaterThanOrEqual(7);
      expect(row!.programState).toEqual(returned.get(`${pid}:${row!.stepNo}`));

      const k2 = await boot(url, 50);
      const st = await k2.wait(pid);
      expect(st.result).toBe(10);
      const end = (await k2.storage.state.getProcess(pid))!.programState as Notes;
      expect(end).toEqual(returned.get(`${pid}:10`));
      expect(end.log.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await k2.shutdown();
    });
  });
}
