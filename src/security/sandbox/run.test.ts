import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runSupervised } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'aos-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const opts = { cwd: dir, env: { PATH: '/usr/bin:/bin' }, timeoutMs: 30_000, maxOutputBytes: 65_536 };

/** Running (a zombie waiting for a reaper that is not its dead parent counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
}

describe('runSupervised: commands are forked by the spawner process, not by the kernel', () => {
  test("a command's parent is the spawner (the kernel's heap is never forked)", async () => {
    const r = await runSupervised('/bin/sh', ['-c', 'echo $PPID'], opts);
    expect(r.exitCode).toBe(0);
    const ppid = Number(r.stdout.trim());
    expect(ppid).toBeGreaterThan(1);
    expect(ppid).not.toBe(process.pid);
    const cmdline = readFileSync(`/proc/${ppid}/cmdline`, 'utf8');
    expect(cmdline.startsWith(process.execPath)).toBe(true);
  });

  test('when the spawner dies, the call fails saying so, its command is killed, and the next call works', async () => {
    const marks = join(dir, 'pids');
    const call = runSupervised('/bin/sh', ['-c', `echo $PPID $$ > ${marks}; sleep 60`], opts);
    await until(() => existsSync(marks) && readFileSync(marks, 'utf8').includes(' '));
    const [spawner, sh] = readFileSync(marks, 'utf8').trim().split(' ').map(Number) as [number, number];
    process.kill(spawner, 'SIGKILL');
    const r = await call;
    expect(r.exitCode).toBeNull();
    expect(r.stderr).toMatch(/spawner process exited .*outcome is unknown/);
    await until(() => !alive(sh));
    expect(alive(sh)).toBe(false);
    const again = await runSupervised('/bin/sh', ['-c', 'echo $PPID'], opts);
    expect(again.exitCode).toBe(0);
    expect(Number(again.stdout.trim())).not.toBe(spawner);
  });
});
