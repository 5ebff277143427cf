import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { z } from 'zod';
import { BubblewrapSandbox } from '../security/sandbox/bubblewrap.js';
import { NoSandbox } from '../security/sandbox/none.js';
import { buildArgv, defineCliTool } from './cli-tool.js';
import { COMMON_CLI_TOOLS } from './common-cli-tools.js';
import { createToolContext } from './context.js';
import { ToolExecutor } from './executor.js';
import { ToolRegistry } from './registry.js';

const sandbox = (() => {
  try {
    return new BubblewrapSandbox();
  } catch {
    return new NoSandbox({ quiet: true });
  }
})();

test('buildArgv: literals, whole and inline placeholders, arrays, dropped optionals, dash guard', () => {
  const t = ['log', '--max-count={n}', '{paths}', '--', '{rest}'];
  expect(buildArgv(t, { n: 5, paths: ['a', 'b'], rest: '-x' })).toEqual([
    'log',
    '--max-count=5',
    'a',
    'b',
    '--',
    '-x',
  ]);
  expect(buildArgv(t, {})).toEqual(['log', '--']);
  expect(() => buildArgv(['{p}'], { p: '--exec=rm' })).toThrow(
    /starts with "-" and would be read as an option/,
  );
  expect(() =>
    defineCliTool({ name: 'x', description: '', command: 'x', args: ['{nope}'], input: z.object({}) }),
  ).toThrow(/\{nope\}/);
});

test('a declared CLI tool runs in the sandbox and returns exit code, stdout, stderr', async () => {
  const reg = new ToolRegistry().register(COMMON_CLI_TOOLS.jq()).register(
    defineCliTool({
      name: 'wc',
      description: 'count lines',
      command: 'wc',
      args: ['-l'],
      input: z.object({ text: z.string() }),
      stdinFrom: 'text',
      writes: false,
    }),
  );
  const exec = new ToolExecutor({ registry: reg, sandbox });
  const ctx = createToolContext({ pid: 1, workspace: mkdtempSync(join(tmpdir(), 'aos-cli-')), sandbox });
  const r = await exec.execute(
    { id: '1', name: 'cli__jq', arguments: JSON.stringify({ filter: '.a', document: '{"a": 42}' }) },
    ctx,
  );
  expect(r.data).toEqual({ exit_code: 0, stdout: '42\n', stderr: '', truncated: false });
  const bad = await exec.execute(
    { id: '2', name: 'cli.jq', arguments: JSON.stringify({ filter: '.[', document: '{}' }) },
    ctx,
  );
  expect(bad.ok).toBe(true);
  expect((bad.data as { exit_code: number }).exit_code).not.toBe(0);
  expect(
    (await exec.execute({ id: '3', name: 'wc', arguments: JSON.stringify({ text: 'a\nb\n' }) }, ctx)).data,
  ).toMatchObject({ stdout: '2\n' });
});

test('cli.git_status does not run code a process planted in the repository (core.fsmonitor, hooks)', async () => {
  const { execFileSync } = await import('node:child_process');
  const { existsSync, writeFileSync } = await import('node:fs');
  const ws = mkdtempSync(join(tmpdir(), 'aos-cli-git-'));
  execFileSync('git', ['init', '-q', ws]);
  writeFileSync(join(ws, 'a.txt'), 'a\n');
  // What a hostile process can write into the shared workspace: a config that runs its payload.
  writeFileSync(
    join(ws, '.git', 'config'),
    '[core]\n\trepositoryformatversion = 0\n\tfsmonitor = "touch PWNED-fsmonitor; false"\n\thooksPath = .git/evil\n',
  );
  const reg = new ToolRegistry().register(COMMON_CLI_TOOLS.git_status());
  const exec = new ToolExecutor({ registry: reg, sandbox });
  const ctx = createToolContext({ pid: 1, workspace: ws, sandbox });
  const r = await exec.execute({ id: '1', name: 'cli.git_status', arguments: '{}' }, ctx);
  expect(r.ok, r.output).toBe(true);
  expect(r.output).toContain('a.txt');
  expect(existsSync(join(ws, 'PWNED-fsmonitor'))).toBe(false);
});
