import { afterAll, expect, test } from 'vitest';
import { openStorage } from '../storage/open.js';
import { openTestPostgres, pgUnreachableReason } from '../storage/testing/backends.case.js';
import { SqlIdempotencyStore } from './idempotency.js';

const drivers: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  for (const d of drivers) await d.close();
});

test('SqlIdempotencyStore records once per key and reads it back (PGlite)', async () => {
  const driver = await openStorage('memory://');
  drivers.push(driver);
  const store = new SqlIdempotencyStore(driver);
  const result = { ok: true, output: 'done', truncated: false, durationMs: 1, idempotencyKey: '3:4:0' };
  expect(await store.get('3:4:0')).toBeUndefined();
  await store.put({ key: '3:4:0', tool: 'write_file', argsHash: 'h1', result });
  await store.put({
    key: '3:4:0',
    tool: 'write_file',
    argsHash: 'h2',
    result: { ...result, output: 'other' },
  });
  expect(await store.get('3:4:0')).toEqual({ key: '3:4:0', tool: 'write_file', argsHash: 'h1', result });
});

test('a fenced writer (its lease epoch is not the process row’s) writes no intent and no result (PostgreSQL)', async (t) => {
  const why = await pgUnreachableReason();
  if (why && !process.env.CI) return t.skip(why);
  const db = await openTestPostgres();
  try {
    const { rows } = await db.driver.query<{ pid: number }>(
      "INSERT INTO processes (name, lease_epoch, state) VALUES ('p', 2, 'running') RETURNING pid",
    );
    const pid = Number(rows[0]!.pid);
    const stale = new SqlIdempotencyStore(db.driver, () => 1); // a node that lost the process (epoch 1)
    const holder = new SqlIdempotencyStore(db.driver, () => 2);
    const key = `${pid}:1:0`;
    const result = { ok: true, output: 'x', truncated: false, durationMs: 1, idempotencyKey: key };
    await expect(
      stale.intend({ key, tool: 'write_file', argsHash: 'h', pid, stepNo: 1, callIndex: 0 }),
    ).rejects.toMatchObject({ code: 'EFENCED' });
    await expect(stale.put({ key, tool: 'write_file', argsHash: 'h', result })).rejects.toMatchObject({
      code: 'EFENCED',
    });
    expect(await holder.lookup(key)).toBeUndefined();
    // the holder writes both; a second intent of the holder counts an attempt, a stale one still writes nothing
    await holder.intend({ key, tool: 'write_file', argsHash: 'h', pid, stepNo: 1, callIndex: 0 });
    expect((await holder.lookup(key))?.state).toBe('intent');
    await holder.put({ key, tool: 'write_file', argsHash: 'h', result });
    expect((await holder.lookup(key))?.state).toBe('done');
    // a lease that ran out fences the holder too (a node paused past its lease)
    await db.driver.query(
      "UPDATE processes SET lease_expires_at = now() - interval '1 second' WHERE pid = $1",
      [pid],
    );
    await expect(
      holder.intend({ key: `${pid}:2:0`, tool: 'write_file', argsHash: 'h', pid, stepNo: 2, callIndex: 0 }),
    ).rejects.toMatchObject({ code: 'EFENCED' });
  } finally {
    await db.drop();
  }
});
