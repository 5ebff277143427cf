/** Conformance suite of AuditLog, run once per backend by audit.test.ts. */
import { expect, it } from 'vitest';
import type { Suite } from '../testing/backends.case.js';
import { AuditLog, auditHash, GENESIS_HASH } from './audit-log.js';

/** Edits audit_log behind the kernel's back, the way an attacker with superuser access would. */
async function tamper(ctx: ReturnType<Parameters<Suite>[0]>, sql: string, params: unknown[]): Promise<void> {
  await ctx.driver.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
    await tx.query(sql, params);
    await tx.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
  });
}

export const auditCases: Suite = (ctx) => {
  const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 8)}`;

  it('chains entries per stream and redacts secrets before hashing', async () => {
    const log = new AuditLog(ctx().driver);
    const stream = uniq('pid');
    const a = await log.append({ stream, kind: 'proc.spawn', actor: 'kernel', payload: { task: 'x' } });
    const b = await log.append({
      stream,
      kind: 'io.tool_call',
      actor: 'pid:1',
      payload: { api_key: 'sk-abcdefghijklmnopqrstuvwxyz', note: 'Bearer abcdefghijklmnop1234' },
    });
    expect(a.seq).toBe(1);
    expect(a.prevHash).toBe(GENESIS_HASH);
    expect(b.seq).toBe(2);
    expect(b.prevHash).toBe(a.hash);
    expect(JSON.stringify(b.payload)).not.toContain('sk-abc');
    expect(JSON.stringify(b.payload)).not.toContain('abcdefghijklmnop1234');
    const rows = await log.list({ stream });
    expect(rows.map((r) => r.seq)).toEqual([1, 2]);
    expect(JSON.stringify(rows[1]!.payload)).not.toContain('sk-abc');
    expect(auditHash(rows[1]!.prevHash, rows[1]!)).toBe(rows[1]!.hash);
    const heads = await log.heads();
    expect(heads.find((h) => h.stream === stream)).toEqual({ stream, seq: 2, hash: b.hash, n: 2 });
    expect(await log.verify({ stream })).toEqual({ ok: true, checked: 2 });
  });

  it('refuses UPDATE, DELETE and TRUNCATE through triggers', async () => {
    const log = new AuditLog(ctx().driver);
    const stream = uniq('trig');
    await log.append({ stream, kind: 'k', actor: 'a', payload: 1 });
    const d = ctx().driver;
    await expect(d.query("UPDATE audit_log SET kind = 'x' WHERE stream = $1", [stream])).rejects.toThrow(
      /append-only/,
    );
    await expect(d.query('DELETE FROM audit_log WHERE stream = $1', [stream])).rejects.toThrow(/append-only/);
    await expect(d.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    expect((await log.list({ stream })).length).toBe(1);
  });

  it('a kernel in another schema of the same database never waits on this one’s audit lock', async () => {
    if (
      !(await ctx()
        .openAnother()
        .then(async (d) => (await d?.close(), d !== null)))
    )
      return; // PostgreSQL only
    const { openTestPostgres } = await import('../testing/backends.case.js');
    const elsewhere = await openTestPostgres();
    try {
      const stream = uniq('kernel');
      // This schema holds the stream's lock in an open transaction until the other schema's append of a
      // stream with the same name is done. A lock key without the schema made that append wait for this
      // transaction, which waits for it: the test never ended (a SIGSTOPped node stalled every schema's
      // audit this way and PostgreSQL ran out of connections).
      await ctx().driver.transaction(async (tx) => {
        await new AuditLog(ctx().driver).append({ stream, kind: 'k', actor: 'here', payload: {} }, tx);
        const there = await new AuditLog(elsewhere.driver).append({
          stream,
          kind: 'k',
          actor: 'there',
          payload: {},
        });
        expect(there.seq).toBe(1);
      });
    } finally {
      await elsewhere.drop();
    }
  });

  it('concurrent appends never fork a chain', async () => {
    const log = new AuditLog(ctx().driver);
    const other = await ctx().openAnother();
    const log2 = other ? new AuditLog(other) : log;
    const stream = uniq('conc');
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? log : log2).append({ stream, kind: 'k', actor: `w${i % 2}`, payload: { i } }),
      ),
    );
    const rows = await log.list({ stream });
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect((await log.verify({ stream })).ok).toBe(true);
  });

  it('a chain stays whole when an append is rolled back or another writer appends in between', async () => {
    const log = new AuditLog(ctx().driver);
    const other = new AuditLog(ctx().driver);
    const stream = uniq('guess');
    await log.append({ stream, kind: 'k', actor: 'a', payload: 1 });
    // The rolled-back row is the head `log` last wrote; the next append must not chain onto it.
    await expect(
      ctx().driver.transaction(async (tx) => {
        await log.append({ stream, kind: 'k', actor: 'a', payload: 'rolled back' }, tx);
        throw new Error('abort the step');
      }),
    ).rejects.toThrow(/abort the step/);
    await log.append({ stream, kind: 'k', actor: 'a', payload: 2 });
    await other.append({ stream, kind: 'k', actor: 'b', payload: 3 }); // `log` has not seen this one
    await log.append({ stream, kind: 'k', actor: 'a', payload: 4 });
    await ctx().driver.transaction(async (tx) => {
      await log.append({ stream, kind: 'k', actor: 'a', payload: 5 }, tx);
      await other.append({ stream, kind: 'k', actor: 'b', payload: 6 }, tx);
      await log.append({ stream, kind: 'k', actor: 'a', payload: 7 }, tx);
    });
    const rows = await log.list({ stream });
    expect(rows.map((r) => [r.seq, r.payload])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
      [6, 6],
      [7, 7],
    ]);
    expect(await log.verify({ stream })).toEqual({ ok: true, checked: 7 });
  });

  it('verify() names an edited row', async () => {
    const log = new AuditLog(ctx().driver);
    const stream = uniq('edit');
    for (let i = 0; i < 5; i++) await log.append({ stream, kind: 'k', actor: 'a', payload: { amount: i } });
    const target = (await log.list({ stream }))[2]!;
    await tamper(ctx(), `UPDATE audit_log SET payload = '{"amount": 1000}' WHERE id = $1`, [target.id]);
    const v = await log.verify({ stream });
    expect(v.ok).toBe(false);
    expect(v.checked).toBe(2);
    expect(v.firstBad).toMatchObject({ id: target.id, stream, seq: 3 });
    expect(v.firstBad?.reason).toMatch(/edited/);
  });

  it('verify() detects a deleted row and reordered rows', async () => {
    const log = new AuditLog(ctx().driver);
    const del = uniq('del');
    for (let i = 0; i < 4; i++) await log.append({ stream: del, kind: 'k', actor: 'a', payload: { i } });
    const rows = await log.list({ stream: del });
    await tamper(ctx(), 'DELETE FROM audit_log WHERE id = $1', [rows[1]!.id]);
    const v = await log.verify({ stream: del });
    expect(v.firstBad).toMatchObject({ id: rows[2]!.id, seq: 3 });
    expect(v.firstBad?.reason).toMatch(/deleted/);

    const reo = uniq('reo');
    for (let i = 0; i < 4; i++) await log.append({ stream: reo, kind: 'k', actor: 'a', payload: { i } });
    const r2 = await log.list({ stream: reo });
    // swap the seq numbers of rows 2 and 3 (through a temporary value to keep UNIQUE happy)
    await tamper(ctx(), 'UPDATE audit_log SET seq = -1 WHERE id = $1', [r2[1]!.id]);
    await tamper(ctx(), 'UPDATE audit_log SET seq = 2 WHERE id = $1', [r2[2]!.id]);
    await tamper(ctx(), 'UPDATE audit_log SET seq = 3 WHERE id = $1', [r2[1]!.id]);
    const v2 = await log.verify({ stream: reo });
    expect(v2.ok).toBe(false);
    expect(v2.firstBad).toMatchObject({ id: r2[2]!.id, seq: 2 });
    // the whole-log verify reports the first broken stream too
    const all = await log.verify();
    expect(all.ok).toBe(false);
  });

  it('stores any string: NUL and lone surrogates as escape text, long values as hash + size + preview', async () => {
    const log = new AuditLog(ctx().driver);
    const stream = uniq('bytes\u0000');
    const big = 'z'.repeat(100_000);
    const e = await log.append({
      stream,
      kind: 'k',
      actor: 'a\u0000b',
      payload: {
        nul: 'x\u0000y',
        lone: 'p\ud800q',
        ['k\u0000']: 1,
        big,
        deep: JSON.parse(`${'['.repeat(200)}${']'.repeat(200)}`),
      },
    });
    const [row] = await log.list({ stream: e.stream });
    const p = row!.payload as Record<string, unknown>;
    expect(p.nul).toBe('x\\u0000y');
    expect(p.lone).toBe('p\\ud800q');
    expect(p['k\\u0000']).toBe(1);
    expect(String(p.big)).toMatch(/aos:truncated 100000 bytes, sha256 [0-9a-f]{64}/);
    expect(JSON.stringify(p.deep)).toMatch(/nested deeper/);
    expect(row!.actor).toBe('a\\u0000b');
    expect(await log.verify({ stream: e.stream })).toEqual({ ok: true, checked: 1 });
  });

  it('verify() sees the newest rows deleted, which the chain alone cannot', async () => {
    const log = new AuditLog(ctx().driver);
    const stream = uniq('tail');
    for (let i = 0; i < 3; i++) await log.append({ stream, kind: 'k', actor: 'a', payload: { i } });
    await ctx().driver.transaction(async (tx) => {
      await log.append({ stream, kind: 'in-tx', actor: 'a' }, tx);
    });
    expect((await log.verify({ stream })).ok).toBe(true);
    const rows = await log.list({ stream });
    await tamper(ctx(), 'DELETE FROM audit_log WHERE id = $1', [rows[3]!.id]);
    const v = await log.verify({ stream });
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ stream, seq: 4 });
    expect(v.firstBad?.reason).toMatch(/missing/);
    // A verifier without this process's memory (another node, the CLI) needs an anchor for that.
    expect((await new AuditLog(ctx().driver).verify({ stream })).ok).toBe(true);
  });

  it('rejects entries without stream, kind or actor', async () => {
    const log = new AuditLog(ctx().driver);
    await expect(log.append({ stream: '', kind: 'k', actor: 'a' })).rejects.toThrow(/stream, kind and actor/);
  });
};
