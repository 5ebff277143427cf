import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuditLog } from '../storage/audit/audit-log.js';
import { createStorage, type Storage } from '../storage/storage.js';
import { AuditAnchors, verifyWithAnchors } from './anchors.js';
import { processTimeline } from './replay.js';

let storage: Storage;
beforeAll(async () => {
  storage = await createStorage('memory://');
});
afterAll(async () => {
  await storage.driver.close();
});

async function tamper(sql: string, params: unknown[]): Promise<void> {
  await storage.driver.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
    await tx.query(sql, params);
    await tx.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
  });
}

async function fill(stream: string, n: number) {
  for (let i = 0; i < n; i++)
    await storage.audit.append({
      stream,
      kind: 'io.tool_call',
      actor: 'pid:1',
      payload: { tool: 'calculator', args: { i }, ok: true },
    });
}

describe('signed anchors', () => {
  test('key created 0600 on first use; clean log verifies', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aos-anch-'));
    await fill('proc:1', 5);
    const a = new AuditAnchors(storage.audit, { dataDir });
    const anchor = await a.anchor();
    expect(anchor?.heads.find((h) => h.stream === 'proc:1')?.seq).toBe(5);
    expect(statSync(a.keyFile).mode & 0o777).toBe(0o600);
    expect(await a.anchor()).toBeNull(); // nothing changed
    const r = await verifyWithAnchors(storage.audit, storage.driver, { dataDir });
    expect(r).toMatchObject({ ok: true, anchors: 1 });
  });

  test('detects an edited row, deleted tail rows, reordered rows, and a forged anchor', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aos-anch-'));
    await fill('proc:2', 6);
    await fill('proc:3', 3);
    await fill('proc:4', 3);
    await fill('proc:5', 3);
    const anchors = new AuditAnchors(storage.audit, { dataDir });
    await anchors.anchor();
    const rows = await storage.audit.list({ stream: 'proc:2' });

    // deleted from the end: the writer's own verify sees it (it knows its heads); a verifier that only
    // has the database (another process) sees a chain that still links, and the anchor catches it
    const last = rows[5]!;
    await tamper('DELETE FROM audit_log WHERE id = $1', [last.id]);
    expect((await storage.audit.verify({ stream: 'proc:2' })).firstBad?.reason).toMatch(/missing/);
    const other = new AuditLog(storage.driver);
    expect((await other.verify({ stream: 'proc:2' })).ok).toBe(true);
    let r = await verifyWithAnchors(other, storage.driver, { dataDir });
    expect(r.ok).toBe(false);
    expect(r.firstBad).toMatchObject({ stream: 'proc:2', seq: 6, source: 'anchor' });
    expect(r.firstBad?.reason).toMatch(/missing/);

    // edited in the middle: the chain names the row
    await tamper(`UPDATE audit_log SET payload = '{"tool":"shell"}' WHERE id = $1`, [rows[2]!.id]);
    r = await verifyWithAnchors(other, storage.driver, { dataDir });
    expect(r.firstBad).toMatchObject({ stream: 'proc:2', seq: 3, id: rows[2]!.id, source: 'chain' });
    expect(r.firstBad?.reason).toMatch(/edited/);
  });

  test('reordered rows and a forged anchor file are detected', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aos-anch-'));
    const s2 = await createStorage('memory://');
    try {
      for (let i = 0; i < 4; i++)
        await s2.audit.append({ stream: 'proc:9', kind: 'k', actor: 'a', payload: { i } });
      const anchors = new AuditAnchors(s2.audit, { dataDir });
      await anchors.anchor();
      expect((await verifyWithAnchors(s2.audit, s2.driver, { dataDir })).ok).toBe(true);
      // forge: raise the anchored seq and re-serialise without a valid signature
      const line = JSON.parse(readFileSync(anchors.anchorFile, 'utf8').trim());
      line.heads[0].seq = 3;
      writeFileSync(anchors.anchorFile, `${JSON.stringify(line)}\n`);
      const forged = await verifyWithAnchors(s2.audit, s2.driver, { dataDir });
      expect(forged.ok).toBe(false);
      expect(forged.firstBad?.reason).toMatch(/signature does not verify/);
      writeFileSync(anchors.anchorFile, '');
      const rows = await s2.audit.list({ stream: 'proc:9' });
      await s2.driver.transaction(async (tx) => {
        await tx.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
        await tx.query('UPDATE audit_log SET seq = -1 WHERE id = $1', [rows[1]!.id]);
        await tx.query('UPDATE audit_log SET seq = 2 WHERE id = $1', [rows[2]!.id]);
        await tx.query('UPDATE audit_log SET seq = 3 WHERE id = $1', [rows[1]!.id]);
        await tx.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
      });
      const re = await verifyWithAnchors(s2.audit, s2.driver, { dataDir });
      expect(re.ok).toBe(false);
      expect(re.firstBad).toMatchObject({ stream: 'proc:9', seq: 2, source: 'chain' });
    } finally {
      await s2.driver.close();
    }
  });

  test('a process timeline is replayed from the log in order', async () => {
    await storage.audit.append({
      stream: 'proc:42',
      kind: 'io.tool_call',
      actor: 'pid:42',
      payload: { tool: 'read_file', args: { path: 'a' }, ok: true, decision: 'allow' },
    });
    await storage.audit.append({
      stream: 'proc:42',
      kind: 'approval.denied',
      actor: 'human:bob',
      payload: { tool: 'shell', by: 'bob' },
    });
    await storage.audit.append({
      stream: 'proc:42',
      kind: 'proc.exit',
      actor: 'kernel',
      payload: { outcome: 'done' },
    });
    const t = await processTimeline(storage.audit, 42);
    expect(t.map((e) => e.summary)).toEqual([
      'read_file({"path":"a"}) → ok [allow]',
      'denied shell by bob',
      'exit done',
    ]);
  });
});
