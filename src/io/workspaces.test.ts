/**
 * A spawn's files (`spawn({ files })`, what `aos eval` gives each task run) land in that process's own
 * workspace before its first step, where its tools find them and no other process's do; a path outside
 * the workspace, or a link on the way (planted in a shared workspace), refuses the spawn and leaves no
 * process and no file behind.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../kernel/kernel.js';
import { resolverFromProvider } from '../kernel/model-resolver.js';
import { SimulatedProvider } from '../llm/simulated/simulated-provider.js';
import { workspacePath } from '../testing.js';

const read = (path: string) => [
  { toolCalls: [{ name: 'read_file', arguments: { path } }] },
  { toolCalls: [{ name: 'final_answer', arguments: { answer: 'read' } }] },
];

let k: Kernel;
let root: string;
beforeAll(async () => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'aos-seed-')));
  k = await createKernel({
    storage: 'memory://',
    config: { security: { sandbox: 'none', workspace: root, default_policy: { ask_tools: [] } } },
    // A reads its seeded file, then B (spawned without files) tries the same path.
    models: resolverFromProvider(
      new SimulatedProvider({ scenario: [...read('data/a.txt'), ...read('data/a.txt')] }),
    ),
    recover: false,
    plugins: false,
  });
});
afterAll(async () => {
  await k?.shutdown();
});

const reads = async (pid: number) =>
  (await k.learning.trajectory(pid)).steps
    .flatMap((s) => s.toolCalls)
    .filter((c) => c.name === 'read_file')
    .map((c) => ({ ok: c.ok, errorCode: c.errorCode }));

describe('spawn files: seeded into the process’s own workspace', () => {
  it('A reads its file through read_file; B, spawned after it, does not find it', async () => {
    const a = await k.spawn({ name: 'a', task: 'read data/a.txt', files: { 'data/a.txt': 'alpha\n' } });
    await k.wait(a);
    expect((await k.get(a)).workspace).toBe(workspacePath(root, a));
    expect(readFileSync(join(workspacePath(root, a), 'data', 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(await reads(a)).toEqual([{ ok: true, errorCode: null }]);

    const b = await k.spawn({ name: 'b', task: 'read data/a.txt' });
    await k.wait(b);
    expect(await reads(b)).toEqual([{ ok: false, errorCode: 'ENOTFOUND' }]);
    expect(existsSync(join(workspacePath(root, b), 'data'))).toBe(false);
    expect(existsSync(join(root, 'data'))).toBe(false); // nothing at the root, as before per-process
  });

  it('refuses a path outside the workspace before any process exists, naming the fix', async () => {
    const before = (await k.storage.state.listProcesses({ limit: 1000 })).length;
    for (const bad of ['../escape.txt', '/etc/aos-seed', 'a/../../x', ''])
      await expect(k.spawn({ name: 'bad', task: 'x', files: { [bad]: 'x' } })).rejects.toMatchObject({
        code: 'EINVAL',
        message: expect.stringContaining('give a relative path such as "data/notes.txt"'),
      });
    expect((await k.storage.state.listProcesses({ limit: 1000 })).length).toBe(before);
    expect(existsSync(join(root, 'escape.txt'))).toBe(false);
  });

  it('never writes through a link planted in a shared workspace: EPERM, no process, nothing outside', async () => {
    const outside = realpathSync(mkdtempSync(join(tmpdir(), 'aos-seed-outside-')));
    const shared = join(root, 'shared', 'team');
    mkdirSync(shared, { recursive: true });
    symlinkSync(outside, join(shared, 'data'));
    symlinkSync(join(outside, 'target.txt'), join(shared, 'note.txt'));
    const before = (await k.storage.state.listProcesses({ limit: 1000 })).length;
    for (const path of ['data/x.txt', 'note.txt'])
      await expect(
        k.spawn({ name: 'link', task: 'x', workspace: 'team', files: { [path]: 'planted' } }),
      ).rejects.toMatchObject({ code: 'EPERM' });
    expect((await k.storage.state.listProcesses({ limit: 1000 })).length).toBe(before);
    expect(existsSync(join(outside, 'x.txt'))).toBe(false);
    expect(existsSync(join(outside, 'target.txt'))).toBe(false);
  });
});
