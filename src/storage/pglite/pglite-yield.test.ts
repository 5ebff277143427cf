/**
 * PGlite runs each statement synchronously in WASM: a queue of them must not hold the event loop for its
 * whole length (200 agents' statements stalled it for 7–15 s). Between queued statements, past
 * PGLITE_YIELD_MS, timers and sockets get their turn.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteDriver, pgliteTemplateFromEnv } from './pglite-driver.js';

describe('PGlite statement queue', () => {
  let d: PgliteDriver;
  beforeAll(async () => {
    const template = pgliteTemplateFromEnv(); // test/global-setup.ts: no initdb per file
    d = await PgliteDriver.open(template ? { template } : {});
  }, 120_000);
  afterAll(async () => {
    await d?.close();
  });

  it('lets the event loop run while a long queue of statements drains', async () => {
    const n = 100;
    let done = 0;
    let seenAt = -1;
    // Each statement takes ≥ 2 ms: the queue is ≥ 200 ms of work in one turn without a yield.
    const all = Array.from({ length: n }, () => d.query('SELECT pg_sleep(0.002)').then(() => done++));
    setImmediate(() => {
      seenAt = done;
    });
    await Promise.all(all);
    expect(seenAt).toBeGreaterThanOrEqual(0); // before: the immediate had not run when the queue was done
    expect(seenAt).toBeLessThan(n);
  });

  it('keeps statements in order and a transaction whole across the yields', async () => {
    await d.query('CREATE TABLE q (i int)');
    const writes = Array.from({ length: 50 }, (_, i) => d.query('INSERT INTO q VALUES ($1)', [i]));
    const tx = d.transaction(async (t) => {
      await t.query('INSERT INTO q VALUES (1000)');
      await new Promise((r) => setImmediate(r));
      await t.query('INSERT INTO q VALUES (1001)');
    });
    await Promise.all([...writes, tx]);
    const { rows } = await d.query<{ i: number }>('SELECT i FROM q');
    expect(rows.map((r) => r.i)).toEqual([...Array.from({ length: 50 }, (_, i) => i), 1000, 1001]);
  });
});
