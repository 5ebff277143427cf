/**
 * PGlite's WASM on Liftoff only (PGLITE_WASM_LIFTOFF_ONLY): checked in a fresh Node process that opens PGlite
 * through the driver and runs statements until V8 would have tiered PostgreSQL's hot functions up.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PGLITE_WASM_TIERUP_ENV } from '../../param.js';
import { pgliteWasmTier } from './wasm-tier.js';

const DRIVER = pathToFileURL(join(import.meta.dirname, '../../../dist/storage/pglite/pglite-driver.js')).href;

const OPEN_AND_QUERY = `
const { mkdtempSync, rmSync } = await import('node:fs');
const { PgliteDriver } = await import(${JSON.stringify(DRIVER)});
const dir = mkdtempSync((await import('node:os')).tmpdir() + '/aos-wasm-tier-');
const d = await PgliteDriver.open({ dataDir: dir });
await d.query('CREATE TABLE t (id int primary key, body text, doc jsonb)');
for (let i = 0; i < 1500; i++) {
  const doc = JSON.stringify({ i, tags: ['a', 'b', String(i)] });
  await d.query('INSERT INTO t VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, doc = EXCLUDED.doc', [i % 50, 'x'.repeat(i % 500), doc]);
  await d.query("SELECT id, length(body), doc->'tags' FROM t WHERE id = $1 OR doc->>'i' = $2 ORDER BY id", [i % 50, String(i)]);
}
await new Promise((r) => setTimeout(r, 3000)); // background tier-up jobs, if any, finish
process.stdout.write(JSON.stringify({ rssMiB: process.memoryUsage().rss / 2 ** 20 }));
await d.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
`;

function rssAfterQueries(env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', OPEN_AND_QUERY],
      { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 1 << 20 },
      (err, out, stderr) =>
        err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(JSON.parse(out).rssMiB as number),
    );
  });
}

describe('PGlite WASM tier', () => {
  it('a process that opened PGlite keeps no TurboFan compiler memory', async () => {
    // Liftoff only: 152–156 MiB here (Node 42, PGlite's WASM memory ~30 resident, its module and files);
    // with TurboFan's tier-up (AOS_PGLITE_WASM_TIERUP=1) 210–215 MiB, most of the difference malloc arenas.
    const rss = await rssAfterQueries({ [PGLITE_WASM_TIERUP_ENV]: '' });
    expect(rss).toBeLessThan(180);
  }, 150_000);

  it('a bad AOS_PGLITE_WASM_TIERUP is refused, naming the variable and the values that work', () => {
    expect(() => pgliteWasmTier({ [PGLITE_WASM_TIERUP_ENV]: 'fast' }, [])).toThrow(
      new RegExp(`${PGLITE_WASM_TIERUP_ENV}=fast is not 1 or 0.*1 \\(.*TurboFan.*0 \\(Liftoff only`),
    );
  });

  it("leaves the embedder's own choice alone", () => {
    expect(pgliteWasmTier({}, ['--no-liftoff-only'])).toBe(false);
  });
});
