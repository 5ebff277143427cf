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
    expect(heads.find((h) => h.stream === stream)).toEqual({ stream, seq: 2, hash: b.hash });
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

  it('rejects entries without stream, kind or actor', async () => {
    const log = new AuditLog(ctx().driver);
    await expect(log.append({ stream: '', kind: 'k', actor: 'a' })).rejects.toThrow(/stream, kind and actor/);
  });
};
