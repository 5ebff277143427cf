/**
 * The README's examples are copy-paste runnable: its library snippet runs as a user's script (in a fresh
 * directory that depends on the package), and its `aos run` command prints a live trace and the answer.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function userDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'aos-readme-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'agent-os-kernel'), 'dir');
  return dir;
}

describe('README', () => {
  it('shows the two quick-start commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });

  it('the library snippet runs as written', () => {
    const snippet = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(snippet).toContain('createKernel');
    const dir = userDir();
    writeFileSync(join(dir, 'main.mjs'), snippet!);
    const r = spawnSync(process.execPath, ['main.mjs'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 90_000,
      env: { ...process.env, AOS_LOG: 'warn' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('DBA_Agent');
    expect(r.stdout).toMatch(/state: 'terminated'/);
  }, 120_000);

  it('`aos run` prints a live trace and the answer', () => {
    const dir = userDir();
    const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), 'run', 'What is 17 * 23 + 4?'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 90_000,
      env: { ...process.env, NO_COLOR: '1', AOS_LOG: 'warn' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('simulator — not a real model');
    expect(r.stdout).toContain('[step 1/20]');
    expect(r.stdout.indexOf('[step 1 …] → calculator')).toBeLessThan(r.stdout.indexOf('[step 1/20]'));
    expect(r.stdout).toContain('[step 1 …] → calculator');
    expect(r.stdout).toContain('calculator(');
    expect(r.stdout).toMatch(/answer: .*395/s);
    // and where its files are: its own workspace
    expect(r.stdout).toContain('files: ./workspace/proc/1\n');
  }, 120_000);
});
