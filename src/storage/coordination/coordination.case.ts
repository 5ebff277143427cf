/** Conformance suite of Coordination, run once per backend by coordination.test.ts. */
import { expect, it } from 'vitest';
import { KernelError } from '../../errors.js';
import type { Suite } from '../testing/backends.case.js';
import { Coordination, MAILBOX_CHANNEL } from './coordination.js';

export const coordinationCases: Suite = (ctx) => {
  const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 8)}`;
  const coord = () => new Coordination(ctx().driver);

  it('leases: one holder at a time, epochs increase, expiry on the database clock', async () => {
    const c = coord();
    const name = uniq('lease');
    const a = await c.acquire(name, 'node-a', 60_000);
    expect(a).toEqual({ epoch: 1 });
    expect(await c.acquire(name, 'node-b', 60_000)).toBeNull();
    expect(await c.renew(name, 'node-a', 1, 60_000)).toBe(true);
    expect(await c.renew(name, 'node-b', 1, 60_000)).toBe(false);
    // expire it by moving expires_at into the past on the database clock
    await ctx().driver.query("UPDATE leases SET expires_at = now() - interval '1 second' WHERE name = $1", [
      name,
    ]);
    expect(await c.renew(name, 'node-a', 1)).toBe(false);
    const b = await c.acquire(name, 'node-b', 60_000);
    expect(b).toEqual({ epoch: 2 });
    expect((await c.getLease(name))?.holder).toBe('node-b');
    expect(await c.release(name, 'node-b', 2)).toBe(true);
    expect((await c.getLease(name))?.live).toBe(false);
    expect(await c.acquire(name, 'node-a', 60_000)).toEqual({ epoch: 3 });
    await expect(c.acquire(name, 'x', 0)).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('assertEpoch fences a stale writer inside its transaction', async () => {
    const c = coord();
    const name = uniq('fence');
    const { epoch } = (await c.acquire(name, 'old', 60_000))!;
    await ctx().driver.transaction((tx) => c.assertEpoch(name, epoch, tx));
    await ctx().driver.query("UPDATE leases SET expires_at = now() - interval '1 second' WHERE name = $1", [
      name,
    ]);
    const next = (await c.acquire(name, 'new', 60_000))!;
    const err = await ctx()
      .driver.transaction(async (tx) => {
        await c.assertEpoch(name, epoch, tx);
        await tx.query("INSERT INTO kv (ns, key, version, value) VALUES ('fence', $1, 1, '1')", [name]);
      })
      .catch((e: unknown) => e);
    expect(KernelError.is(err, 'EFENCED')).toBe(true);
    expect((err as KernelError).details).toMatchObject({ expectEpoch: epoch, actualEpoch: next.epoch });
    const w = await ctx().driver.query("SELECT 1 FROM kv WHERE ns = 'fence' AND key = $1", [name]);
    expect(w.rows.length).toBe(0);
    await expect(ctx().driver.transaction((tx) => c.assertEpoch(uniq('none'), 1, tx))).rejects.toMatchObject({
      code: 'EFENCED',
    });
  });

  it('queue: claim by priority then FIFO, complete, fail and retry', async () => {
    const c = coord();
    const q = uniq('q');
    const low = await c.enqueue(q, { n: 'low' }, { priority: 5 });
    const hi1 = await c.enqueue(q, { n: 'hi1' }, { priority: 1 });
    const hi2 = await c.enqueue(q, { n: 'hi2' }, { priority: 1 });
    await c.enqueue(q, { n: 'later' }, { delayMs: 3_600_000 });
    const got = await c.claim(q, 'w1', 2);
    expect(got.map((i) => i.id)).toEqual([hi1, hi2]);
    expect(got[0]?.payload).toEqual({ n: 'hi1' });
    const rest = await c.claim(q, 'w2', 10);
    expect(rest.map((i) => i.id)).toEqual([low]); // the delayed item is not yet available
    await c.complete(hi1, 'w1');
    await expect(c.complete(hi1, 'w1')).rejects.toMatchObject({ code: 'ESTATE' });
    await expect(c.complete(hi2, 'w2')).rejects.toMatchObject({ code: 'ESTATE' });
    expect(await c.fail(hi2, 'w1', 'boom', { maxAttempts: 2 })).toBe('retry');
    const again = await c.claim(q, 'w3', 1);
    expect(again[0]).toMatchObject({ id: hi2, attempts: 2 });
    expect(await c.fail(hi2, 'w3', 'boom again', { maxAttempts: 2 })).toBe('failed');
    expect(await c.claim(q, 'w4', 5)).toEqual([]);
  });

  it('queue: concurrent claimers never get the same item', async () => {
    const c1 = coord();
    const other = await ctx().openAnother();
    const c2 = other ? new Coordination(other) : c1;
    const q = uniq('race');
    for (let i = 0; i < 60; i++) await c1.enqueue(q, { i });
    const seen: number[] = [];
    const worker = async (c: Coordination, name: string) => {
      for (;;) {
        const items = await c.claim(q, name, 3);
        if (items.length === 0) return;
        seen.push(...items.map((i) => i.id));
      }
    };
    await Promise.all([worker(c1, 'a'), worker(c2, 'b'), worker(c1, 'c'), worker(c2, 'd')]);
    expect(seen.length).toBe(60);
    expect(new Set(seen).size).toBe(60);
  });

  it('mailbox: send in a transaction, recv marks delivered, peek does not, NOTIFY wakes the recipient', async () => {
    const c = coord();
    const to = uniq('pid');
    const woke: string[] = [];
    const unlisten = await ctx().driver.listen(MAILBOX_CHANNEL, (p) => woke.push(p));
    await ctx().driver.transaction(async (tx) => {
      await c.send({ from: 'pid:1', to, topic: 'hello', body: { n: 1 } }, tx);
      await c.send({ from: 'pid:1', to, body: { n: 2 } }, tx);
    });
    // a rolled-back send leaves nothing behind
    await ctx()
      .driver.transaction(async (tx) => {
        await c.send({ from: 'pid:1', to, body: { n: 3 } }, tx);
        throw new Error('abort');
      })
      .catch(() => undefined);
    expect((await c.peek(to)).map((m) => m.body)).toEqual([{ n: 1 }, { n: 2 }]);
    const first = await c.recv(to, { limit: 1 });
    expect(first.map((m) => [m.from, m.topic, m.body])).toEqual([['pid:1', 'hello', { n: 1 }]]);
    expect((await c.recv(to)).map((m) => m.body)).toEqual([{ n: 2 }]);
    expect(await c.recv(to)).toEqual([]);
    for (let i = 0; i < 50 && !woke.includes(to); i++) await new Promise((r) => setTimeout(r, 20));
    expect(woke).toContain(to);
    await unlisten();
  });
};
