/**
 * The `none` sandbox is never chosen silently. `security.sandbox: auto` on a machine where bubblewrap
 * cannot build a sandbox (here: a `bwrap` first on PATH that fails the way a container's masked /proc
 * makes the real one fail) refuses every command — it never runs one on the host — and says so where an
 * operator looks: GET /api/v1/health (no token needed), the `aos start` banner, the refused call's own
 * error (with both fixes), and an audit entry of the boot. The same kernel with bubblewrap working
 * reports it as isolated, with no warning and no entry.
 * (This file runs in its own worker: the fake bwrap on PATH and the probe's cache stay here.)
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { startBanner } from '../../src/cli/commands/start.js';
import { bootRig, type Rig, shellData } from './harness.js';

interface Health {
  ok: boolean;
  sandbox: { name: string; isolated: boolean; warning: string | null };
}

async function health(rig: Rig): Promise<Health> {
  return (await (await fetch(`${rig.server.url}/api/v1/health`)).json()) as Health;
}

describe('sandbox: auto without bubblewrap refuses commands, loudly', () => {
  let rig: Rig;
  afterAll(async () => {
    await rig?.close();
  });

  test('bubblewrap failing: commands are refused, never run on the host; health, banner, audit say why', async () => {
    // What `bwrap` answers inside a container that masks /proc.
    const bin = mkdtempSync(join(tmpdir(), 'aos-fakebwrap-'));
    writeFileSync(
      join(bin, 'bwrap'),
      `#!/bin/sh\necho "$@" > ${join(bin, 'argv')}\necho "bwrap: Can't mount proc on /newroot/proc: Operation not permitted" >&2\nexit 1\n`,
    );
    chmodSync(join(bin, 'bwrap'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      rig = await bootRig({ sandbox: 'auto' });
    } finally {
      process.env.PATH = path;
    }

    // The probe asked for what real commands get: a fresh /proc, the seccomp filter, no network.
    const probe = readFileSync(join(bin, 'argv'), 'utf8');
    for (const flag of ['--proc /proc', '--seccomp 3', '--unshare-net', '--unshare-pid', '--new-session'])
      expect(probe).toContain(flag);

    const h = await health(rig);
    expect(h.ok).toBe(true);
    expect(h.sandbox.name).toBe('unavailable');
    expect(h.sandbox.isolated).toBe(false);
    expect(h.sandbox.warning).toMatch(/commands are refused.*Can't mount proc/s);
    expect(h.sandbox.warning).toMatch(/apt-get install bubblewrap/);
    expect(h.sandbox.warning).toMatch(/security\.sandbox: none/);

    const banner = (await startBanner(rig.kernel, rig.server)).join('\n');
    expect(banner).toMatch(/sandbox\s+unavailable .*commands are refused/);
    expect(banner).toContain("Can't mount proc");

    const entries = await rig.kernel.audit.list({ stream: 'kernel', limit: 100 });
    const fb = entries.find((e) => e.kind === 'sandbox.unavailable');
    expect(fb?.payload).toMatchObject({ configured: 'auto', chosen: 'unavailable', isolated: false });
    expect(JSON.stringify(fb?.payload)).toContain("Can't mount proc");

    // And it is what happens: the command does not run on the host (before: it did, as the kernel's
    // user), the agent gets the refusal with the fix, and the agent goes on (its next call works).
    const marker = join(bin, 'ran-on-host');
    const { out } = await rig.attack([
      { name: 'shell', args: { command: `touch ${marker}; id -u` } },
      { name: 'write_file', args: { path: 'after.txt', content: 'still here' } },
    ]);
    expect(existsSync(marker)).toBe(false);
    expect(out[0]!.ok).toBe(false);
    expect(out[0]!.output).toMatch(/ESANDBOX|commands are refused/);
    expect(out[0]!.output).toMatch(/security\.sandbox: none/);
    expect(shellData(out[0]!).stdout).not.toContain(String(process.getuid?.()));
    expect(out[1]!.ok).toBe(true);
  });

  // After the failing probe (a failure is not cached), the real bwrap is found again.
  test('bubblewrap working: isolated, no warning, no fallback entry', async () => {
    const ok = await bootRig({ sandbox: 'auto' });
    try {
      const h = await health(ok);
      expect(h.sandbox).toEqual({ name: 'bubblewrap', isolated: true, warning: null });
      const banner = (await startBanner(ok.kernel, ok.server)).join('\n');
      expect(banner).toMatch(/sandbox\s+bubblewrap \(commands isolated/);
      const entries = await ok.kernel.audit.list({ stream: 'kernel', limit: 100 });
      expect(entries.filter((e) => e.kind.startsWith('sandbox.'))).toEqual([]);
    } finally {
      await ok.close();
    }
  });
});
