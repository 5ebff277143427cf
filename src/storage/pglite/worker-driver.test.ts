/**
 * PGlite in a worker thread: the kernel's event loop keeps running while a statement executes, the
 * driver's surface behaves as the in-thread driver's (errors with their SQL state, NOTIFY, transactions
 * whole and in order), and a worker that dies fails every call with the cause instead of hanging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlState } from '../sql.js';
import { PgliteDriver, pgliteTemplateFromEnv } from './pglite-driver.js';
import { PgliteWorkerDriver } from './worker-driver.js';

const template = pgliteTemplateFromEnv(); // test/global-setup.ts: no initdb per file
const open = (worker: boolean) =>
  (worker ? PgliteWorkerDriver : PgliteDriver).open(template ? { template } : {});

/** The longest gap between 5 ms ticks of this thread's timers while fn runs. */
async function longestStall(fn: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  try {
    await fn();
  } finally {
    clearInterval(t);
  }
  return Math.max(worst, performance.now() - last);
}

describe('PGlite worker driver', () => {
  let w: PgliteWorkerDriver;
  beforeAll(async () => {
    w = await PgliteWorkerDriver.open(template ? { template } : {});
  }, 120_000);
  afterAll(async () => {
    await w?.close();
  });

  it("runs a statement's backend time off the caller's event loop", async () => {
    const inThread = await open(false);
    try {
      // One statement of 300 ms in the backend: in-thread it holds the loop for all of it.
      const here = await longestStall(() => inThread.query('SELECT pg_sleep(0.3)'));
      const there = await longestStall(() => w.query('SELECT pg_sleep(0.3)'));
      expect(here).toBeGreaterThan(250);
      expect(there).toBeLessThan(150);
    } finally {
      await inThread.close();
    }
  });

  it('returns rows and values as the in-thread driver does, errors with their SQL state', async () => {
    const { rows } = await w.query<Record<string, unknown>>(
      "SELECT 1::int AS i, 9007199254740993::bigint AS big, '1.50'::numeric AS n, $1::jsonb AS j, $2::bytea AS b, $3::timestamptz AS t",
      [{ a: [1, 'x'], n: null }, Buffer.from('hi'), new Date('2026-01-02T03:04:05Z')],
    );
    expect(rows[0]).toEqual({
      i: 1,
      big: 9007199254740993n,
      n: '1.50',
      j: { a: [1, 'x'], n: null },
      b: new Uint8Array([104, 105]),
      t: new Date('2026-01-02T03:04:05Z'),
    });
    await w.query('CREATE TABLE u (k text PRIMARY KEY)');
    await w.query("INSERT INTO u VALUES ('a')");
    const err = await w.query("INSERT INTO u VALUES ('a')").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EBACKEND', details: { sqlState: '23505', constraint: 'u_pkey' } });
    expect(sqlState(err)).toBe('23505');
    const syntax = await w.query('SELEC 1').catch((e: unknown) => e);
    expect((syntax as { cause: { position?: string } }).cause.position).toBe('1');
  });

  it('keeps statements in order and a transaction whole; a rollback leaves nothing; NOTIFY reaches listeners', async () => {
    await w.query('CREATE TABLE q (i int)');
    const heard: string[] = [];
    const unlisten = await w.listen('wk', (p) => heard.push(p));
    const writes = Array.from({ length: 50 }, (_, i) => w.query('INSERT INTO q VALUES ($1)', [i]));
    const tx = w.transaction(async (t) => {
      await t.query('INSERT INTO q VALUES (1000)');
      await new Promise((r) => setImmediate(r));
      await t.query('INSERT INTO q VALUES (1001)');
      await t.query("SELECT pg_notify('wk', 'committed')");
    });
    const later = w.query('INSERT INTO q VALUES (2000)');
    const failed = w
      .transaction(async (t) => {
        await t.query('INSERT INTO q VALUES (3000)');
        throw new Error('changed my mind');
      })
      .catch((e: Error) => e.message);
    await Promise.all([...writes, tx, later]);
    expect(await failed).toBe('changed my mind');
    const { rows } = await w.query<{ i: number }>('SELECT i FROM q');
    expect(rows.map((r) => r.i)).toEqual([...Array.from({ length: 50 }, (_, i) => i), 1000, 1001, 2000]);
    await w.notify('wk', 'direct');
    await new Promise((r) => setTimeout(r, 50));
    expect(heard).toEqual(['committed', 'direct']);
    await unlisten();
    await w.notify('wk', 'after');
    await new Promise((r) => setTimeout(r, 50));
    expect(heard).toEqual(['committed', 'direct']);
  });

  it('a worker that dies fails the pending and later statements with the cause, and closes', async () => {
    const d = await open(true);
    const pending = d.query('SELECT pg_sleep(1)');
    await new Promise((r) => setTimeout(r, 100));
    await (d as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await expect(pending).rejects.toMatchObject({
      code: 'EBACKEND',
      message: expect.stringContaining('PGlite worker thread exited'),
    });
    await expect(d.query('SELECT 1')).rejects.toMatchObject({ message: expect.stringContaining('Restart') });
    await d.close(); // no hang
  });
});
