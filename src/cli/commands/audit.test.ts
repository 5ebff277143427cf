import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { AuditAnchors } from '../../security/anchors.js';
import { createStorage } from '../../storage/storage.js';

const run = promisify(execFile);
const MAIN = resolve('src/cli/main.ts');
const HOOKS = resolve('src/storage/testing/ts-register.mjs');

async function aos(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, ['--import', HOOKS, MAIN, ...args], {
      env: { ...process.env, AOS_LOG: 'error' },
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('aos audit verify passes on a clean log and names the first bad entry after tampering', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-cli-audit-'));
  const url = `pglite://${join(dir, 'data')}`;
  const flags = ['--storage', url, '--data-dir', dir];
  let s = await createStorage(url);
  for (let i = 0; i < 4; i++)
    await s.audit.append({ stream: 'proc:1', kind: 'io.tool_call', actor: 'pid:1', payload: { i } });
  await new AuditAnchors(s.audit, { dataDir: dir }).anchor(); // what the kernel's interval (or `aos audit anchor`) does
  await s.driver.close();

  expect(await aos(['audit', 'verify', ...flags])).toMatchObject({
    code: 0,
    out: expect.stringMatching(/ok: 4 entries chain-verified, 1 signed anchors/),
  });

  s = await createStorage(url);
  const rows = await s.audit.list({ stream: 'proc:1' });
  await s.driver.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
    await tx.query('DELETE FROM audit_log WHERE id = $1', [rows[3]!.id]);
    await tx.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
  });
  await s.driver.close();
  const bad = await aos(['audit', 'verify', ...flags]);
  expect(bad.code).toBe(3);
  expect(bad.out).toMatch(/TAMPERED: first bad entry: stream proc:1 seq 4/);
  expect(bad.out).toMatch(/missing/);
}, 120_000);
