/**
 * Classes 3 and 9 — no effect without its audit entry, and no deleted entry goes unseen. On PGlite and on
 * the real PostgreSQL (throwaway schema), through the kernel: NUL, lone surrogates and invalid UTF-8 in
 * tool arguments and outputs; an audit write that fails; arguments of megabytes; rows deleted behind the
 * kernel's back (session_replication_role = replica, as a database superuser would) — including the
 * newest rows of a stream, which the hash chain alone cannot see.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ToolOutcome } from '../../src/kernel/syscalls.js';
import { verifyWithAnchors } from '../../src/security/anchors.js';
import { openStorage } from '../../src/storage/open.js';
import { ident } from '../../src/storage/sql.js';
import { pgUnreachableReason, randomSchema, TEST_PG_URL } from '../../src/storage/testing/backends.case.js';
import { type AttackCall, bootRig, type Rig } from './harness.js';

async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Backend {
  name: string;
  url: () => Promise<string>;
  cleanup: () => Promise<void>;
}

const pgliteDir = mkdtempSync(join(tmpdir(), 'aos-red-pglite-'));
const schema = randomSchema();
const backends: Backend[] = [
  {
    name: 'pglite',
    url: async () => `pglite://${join(pgliteDir, 'db')}`,
    cleanup: async () => rmSync(pgliteDir, { recursive: true, force: true }),
  },
  {
    name: 'postgres',
    url: async () => {
      const why = await pgUnreachableReason();
      if (why && process.env.CI !== 'true') return '';
      const u = new URL(TEST_PG_URL);
      u.searchParams.set('schema', schema);
      return u.toString();
    },
    cleanup: async () => {
      const d = await openStorage(TEST_PG_URL, { migrate: false }).catch(() => null);
      await d?.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`).catch(() => {});
      await d?.close();
    },
  },
];

for (const b of backends) {
  describe(`red team: audit completeness [${b.name}]`, () => {
    let rig: Rig;
    let url = '';
    beforeAll(async () => {
      url = await b.url();
      if (!url) return;
      rig = await bootRig({ sandbox: 'bubblewrap', storage: url });
    });
    afterAll(async () => {
      await rig?.close();
      if (rig) {
        rmSync(rig.workspace, { recursive: true, force: true });
        rmSync(rig.dataDir, { recursive: true, force: true });
      }
      await b.cleanup();
    });
    const run = async (calls: AttackCall[], policy?: Record<string, unknown>) => {
      const pid = await rig.kernel.spawn({
        name: 'attacker',
        task: 'attack',
        program: 'attacker',
        args: { calls },
        ...(policy ? { policy } : {}),
      });
      const st = await deadline(rig.kernel.wait(pid), 60_000, `process ${pid}`);
      return { pid, st, out: (st.result ?? []) as ToolOutcome[] };
    };
    const sql = (q: string, params: unknown[] = []) => rig.kernel.storage.driver.query(q, params);

    test('NUL, lone surrogates and invalid UTF-8 in arguments and outputs are all audited; the step commits', async (ctx) => {
      if (!url) return ctx.skip();
      const { pid, st, out } = await run([
        {
          name: 'shell',
          args: { command: "cat; printf 'a\\0b\\xff\\xfe'; printf 'x\\0y' > nul.txt", stdin: 'in\u0000put' },
        },
        { name: 'write_file', args: { path: 'w.txt', content: 'x\u0000y' } },
        { name: 'calculator', args: '{"expression":"1+\\ud800"}' },
        { name: 'read_file', args: { path: 'nul.txt' } },
      ]);
      expect(st.exitReason).toBeNull();
      expect(out).toHaveLength(4);
      expect(out[0]?.ok).toBe(true);
      expect(out[3]?.output).toMatch(/binary file, 3 bytes/);
      const audit = await rig.audit(pid);
      const calls = audit.filter((e) => e.kind === 'io.tool_call' || e.kind === 'io.tool_error');
      expect(calls.map((e) => (e.payload as { tool: string }).tool)).toEqual([
        'shell',
        'write_file',
        'calculator',
        'read_file',
      ]);
      for (const e of calls)
        expect((e.payload as { error?: { code?: string } }).error?.code).not.toBe('EBACKEND');
      // Stored escaped: the NUL is visible as \u0000 text, not lost and not a failed insert.
      expect(JSON.stringify(calls[1]?.payload)).toContain('x\\\\u0000y');
      expect((await rig.kernel.storage.audit.verify()).ok).toBe(true);
    });

    test('when the audit write fails, the call fails and the step does not commit', async (ctx) => {
      if (!url) return ctx.skip();
      await sql(
        "ALTER TABLE audit_log ADD CONSTRAINT red_team_audit_down CHECK (payload::text NOT LIKE '%AUDIT-DOWN-MARKER%')",
      );
      try {
        const { pid, st, out } = await run([
          { name: 'calculator', args: { expression: '1+1' } },
          { name: 'shell', args: { command: 'echo AUDIT-DOWN-MARKER' } },
          { name: 'write_file', args: { path: 'after.txt', content: 'the next step ran' } },
        ]);
        expect(st.state).toBe('terminated');
        expect(st.exitReason).toMatch(/audit/);
        expect(out).toEqual([]);
        const kinds = (await rig.audit(pid)).map(
          (e) => `${e.kind}:${(e.payload as { tool?: string }).tool ?? ''}`,
        );
        expect(kinds).toContain('io.tool_call:calculator');
        expect(kinds.some((k) => k.endsWith(':write_file'))).toBe(false);
        expect(() => readFileSync(join(rig.workspace, 'after.txt'))).toThrow();
        // The failed step did not commit: the step log ends with the calculator's step.
        const { rows } = await sql('SELECT step_no, kind FROM steps WHERE pid = $1 ORDER BY step_no', [pid]);
        expect(rows.map((r) => `${r.step_no}:${r.kind}`)).toEqual(['1:attack']);
      } finally {
        await sql('ALTER TABLE audit_log DROP CONSTRAINT red_team_audit_down');
      }
    });

    test('megabyte arguments are stored as hash + size + a bounded preview', async (ctx) => {
      if (!url) return ctx.skip();
      const content = 'A'.repeat(3 * 1024 * 1024);
      const { pid, out } = await run([{ name: 'write_file', args: { path: 'big.txt', content } }]);
      expect(out[0]?.ok).toBe(true);
      const row = (await rig.audit(pid)).find((e) => e.kind === 'io.tool_call');
      const text = JSON.stringify(row?.payload);
      expect(text.length).toBeLessThan(16_384);
      expect(text).toContain(createHash('sha256').update(content).digest('hex'));
      expect(text).toContain(String(content.length));
    });

    test("rows deleted behind the kernel's back are detected, the newest ones included", async (ctx) => {
      if (!url) return ctx.skip();
      const del = async (where: string, params: unknown[]) =>
        rig.kernel.storage.driver.transaction(async (tx) => {
          await tx.query('SET LOCAL session_replication_role = replica');
          await tx.query(`DELETE FROM audit_log WHERE ${where}`, params);
        });
      const verifyApi = async () => {
        const token = readFileSync(join(rig.dataDir, 'admin.token'), 'utf8').trim();
        const r = await rig.server.app.inject({
          method: 'POST',
          url: '/api/v1/audit/verify',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ anchors: true }),
        });
        return r.json() as { ok: boolean; firstBad?: { reason: string } };
      };
      // Anchored, then more entries the anchor has not seen yet; the newest one is deleted.
      const a = await run([{ name: 'calculator', args: { expression: '2+2' } }]);
      await rig.kernel.anchors?.anchor({ force: true });
      const bRun = await run([
        { name: 'calculator', args: { expression: '3+3' } },
        { name: 'calculator', args: { expression: '4+4' } },
      ]);
      expect((await rig.kernel.storage.audit.verify()).ok).toBe(true);
      expect((await verifyApi()).ok).toBe(true);
      await del('stream = $1 AND seq = (SELECT max(seq) FROM audit_log WHERE stream = $1)', [
        `proc:${bRun.pid}`,
      ]);
      const chain = await rig.kernel.storage.audit.verify();
      expect(chain.ok).toBe(false);
      expect(chain.firstBad?.stream).toBe(`proc:${bRun.pid}`);
      const api = await verifyApi();
      expect(api.ok).toBe(false);
      expect(api.firstBad?.reason).toMatch(/missing|deleted/);
      // A whole anchored stream removed is seen by a verifier that has only the anchors (aos audit verify
      // from another process; PGlite admits one process per database, so this part runs on PostgreSQL).
      await del('stream = $1', [`proc:${a.pid}`]);
      expect((await verifyApi()).ok).toBe(false);
      if (b.name !== 'postgres') return;
      const fresh = await openStorage(url, { migrate: false });
      try {
        const offline = await verifyWithAnchors(
          new (await import('../../src/storage/audit/audit-log.js')).AuditLog(fresh),
          fresh,
          { dataDir: rig.dataDir },
        );
        expect(offline.ok).toBe(false);
      } finally {
        await fresh.close();
      }
    });
  });
}
