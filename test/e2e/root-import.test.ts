/**
 * `import('agent-os-kernel')` is cheap: the root entry loads none of the heavy dependencies (zod, Fastify,
 * pg, PGlite, the LLM and MCP SDKs, prom-client, the tokenizers) until a factory that needs them is called.
 * A fresh `node` imports the built root under a loader hook that lists every module it loads. How long the
 * import takes is measured in `npm run bench -- startup` (import-root), never here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const entry = JSON.stringify(`file://${join(root, 'dist/index.js')}`);
const built = existsSync(join(root, 'dist/index.js'));
const dir = mkdtempSync(join(tmpdir(), 'aos-root-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `body` (an ES module's text) in a fresh node; returns the modules it loaded and its stdout. */
function run(body: string): { ours: string[]; deps: string[]; stdout: string } {
  const hook = join(dir, 'hook.mjs');
  const reg = join(dir, 'register.mjs');
  writeFileSync(
    hook,
    'export async function load(u, c, next) { process.stderr.write("MOD " + u + "\\n"); return next(u, c); }\n',
  );
  writeFileSync(
    reg,
    `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hook}`)});\n`,
  );
  const r = spawnSync(process.execPath, ['--import', `file://${reg}`, '--input-type=module', '-e', body], {
    cwd: dir,
    env: { ...process.env, AOS_LOG: 'silent', NODE_OPTIONS: '' },
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  const urls = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('MOD file://'))
    .map((l) => l.slice(4));
  return {
    ours: urls.filter((u) => u.includes('/dist/')),
    deps: urls.filter((u) => u.includes('/node_modules/')),
    stdout: r.stdout,
  };
}

describe.skipIf(!built)('the root entry', () => {
  it('loads nothing from node_modules when imported, and its kernel factory loads what it needs when called', () => {
    const idle = run(`await import(${entry});`);
    expect(idle.ours.length).toBeGreaterThan(10);
    expect(idle.deps).toEqual([]);
    const used = run(`
      const { createKernel } = await import(${entry});
      const k = await createKernel({ storage: 'memory://', config: {} });
      process.stdout.write(JSON.stringify({ processes: (await k.status()).processes.length }));
      await k.shutdown();`);
    expect(used.deps.some((u) => u.includes('/node_modules/zod/'))).toBe(true);
    expect(JSON.parse(used.stdout)).toEqual({ processes: 0 });
  });
});
