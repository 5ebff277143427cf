/**
 * The `none` sandbox with per-process workspaces (security.shared_workspace: false). It cannot isolate a
 * running command, and says so: GET /api/v1/health and the banner state what it cannot do (other
 * processes' workspaces included). What can be checked before a command starts is checked: every path
 * the command line names — `..`, `../<pid>/…`, an absolute path into another workspace, the data dir,
 * a glob's directory, an option's `--x=/path` — is held against the every-level denials, and a hit
 * refuses the command (EPERM, audited as a deny) before it runs. On the code before, agent B's
 * `cat ../<a>/secret-a.txt` printed A's file. A path the command computes is not seen; that limit is
 * stated, not hidden (last test).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startBanner } from '../../src/cli/commands/start.js';
import type { ToolOutcome } from '../../src/kernel/syscalls.js';
import { bootRig, type Rig, shellData } from './harness.js';

describe('red team: the none sandbox with per-process workspaces', () => {
  let rig: Rig;
  let a: number;
  let aWs: string;
  beforeAll(async () => {
    rig = await bootRig({ sandbox: 'none', perProcess: true });
    const planted = await rig.attack([
      { name: 'shell', args: { command: "printf 'a secret\\n' > secret-a.txt && echo planted" } },
    ]);
    a = planted.pid;
    expect(shellData(planted.out[0] as ToolOutcome).stdout).toContain('planted');
    aWs = (await rig.kernel.get(a)).workspace;
  });
  afterAll(async () => {
    await rig?.close();
  });

  test('health and the banner say it isolates nothing, other workspaces included', async () => {
    const h = (await (await fetch(`${rig.server.url}/api/v1/health`)).json()) as {
      sandbox: { name: string; isolated: boolean; warning: string };
    };
    expect(h.sandbox.name).toBe('none');
    expect(h.sandbox.isolated).toBe(false);
    expect(h.sandbox.warning).toMatch(/other processes' workspaces/);
    expect(h.sandbox.warning).toMatch(/only the paths a command names are checked before it starts/);
    const banner = (await startBanner(rig.kernel, rig.server)).join('\n');
    expect(banner).toMatch(/sandbox\s+none .*NOT isolated.*other processes' workspaces/s);
  });

  test("agent B's commands that name A's workspace, the root or the data dir are refused before they run", async () => {
    const root = join(rig.workspace, 'proc');
    const attacks = [
      `cat ../${a}/secret-a.txt`,
      `cat ${join(aWs, 'secret-a.txt')}`,
      'cd .. && ls',
      `ls ${root}/*/`,
      `grep -r secret ${rig.workspace}`,
      `cp "${aWs}/secret-a.txt" mine.txt; echo copied`,
      `tar --file=${aWs}/x.tar -c .`,
      `cat ${rig.dataDir}/admin.token`,
      'cat /proc/1/environ',
    ];
    const { pid: b, out } = await rig.attack(
      attacks.map((command) => ({ name: 'shell', args: { command } })),
    );
    const token = readFileSync(join(rig.dataDir, 'admin.token'), 'utf8').trim();
    for (const [i, o] of out.entries()) {
      expect(o.ok, `${attacks[i]}: ${o.output}`).toBe(false);
      expect(o.error?.code, `${attacks[i]}: ${o.output}`).toBe('EPERM');
      expect(o.output).toMatch(/refused before it started: the command names/);
      expect(o.output).not.toContain('a secret');
      expect(o.output).not.toContain(token);
    }
    // nothing ran: no copy in B's workspace
    expect(existsSync(join(rig.workspace, 'proc', String(b), 'mine.txt'))).toBe(false);
    const denials = (await rig.audit(b)).filter((e) => e.kind === 'io.tool_error');
    expect(denials).toHaveLength(attacks.length);
    for (const e of denials) expect((e.payload as { decision: string }).decision).toBe('deny');
  });

  test('commands that name only their own workspace and the system run as before', async () => {
    const { out } = await rig.attack([
      {
        name: 'shell',
        args: {
          command: 'echo hi > mine.txt && cat ./mine.txt && ls /usr/bin/env && cat mine.txt 2>/dev/null',
        },
      },
    ]);
    const d = shellData(out[0] as ToolOutcome);
    expect(d.exit_code, d.stderr).toBe(0);
    expect(d.stdout).toBe('hi\n/usr/bin/env\nhi\n');
  });

  test('the check is no boundary: a path the command computes is not seen (as health says)', async () => {
    const { out } = await rig.attack([
      { name: 'shell', args: { command: `d=$(printf '\\x2e\\x2e'); cat "$d/${a}/secret-a.txt"` } },
    ]);
    // Documented, not hidden: on `none` the running command can reach what the kernel's user can.
    expect(shellData(out[0] as ToolOutcome).stdout).toBe('a secret\n');
  });
});
