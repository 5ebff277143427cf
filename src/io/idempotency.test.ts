import { afterAll, expect, test } from 'vitest';
import { openStorage } from '../storage/open.js';
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
