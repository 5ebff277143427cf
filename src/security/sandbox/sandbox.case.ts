/**
 * Conformance suite every Sandbox runs (sandbox.test.ts calls it once per implementation). Assertions that
 * need isolation are gated on the sandbox's own capability flags, so a weaker sandbox is tested for what
 * it claims, not skipped wholesale.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Sandbox } from '../sandbox.js';

// The wall limit of the cases that do not test it is liveness, not speed: on a container engine it also
// covers the container's start, which under a full test run took over 5 s once (killed: exitCode null).
// 30 s stays under the test timeout; the wall-clock case and the fork bomb set their own short limits.
const limits = { memoryMb: 256, cpuSeconds: 10, processes: 32, fileSizeMb: 4, wallSeconds: 30 };

export function sandboxConformance(name: string, make: () => Sandbox, skip?: string): void {
  describe.skipIf(skip !== undefined)(
    `Sandbox conformance: ${name}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      const ws = () => mkdtempSync(join(tmpdir(), 'aos-sbx-'));
      const sh = (s: Sandbox, dir: string, cmd: string, extra: Record<string, unknown> = {}) =>
        s.exec({ command: '/bin/bash', args: ['-c', cmd], cwd: dir, writePaths: [dir], limits, ...extra });

      test('runs a command in the workspace; exit code, stdout, stderr, stdin', async () => {
        const s = make();
        const dir = ws();
        const r = await sh(s, dir, 'echo out; echo err >&2; cat > f.txt; cat f.txt; exit 3', {
          stdin: 'from stdin',
        });
        expect(r).toMatchObject({
          exitCode: 3,
          stdout: 'out\nfrom stdin',
          stderr: 'err\n',
          truncated: false,
        });
        expect(r.killed).toBeUndefined();
      });

      test('wall-clock limit kills a command that never exits, with its children', async () => {
        const r = await sh(make(), ws(), 'sleep 1000 & sleep 1000', {
          limits: { ...limits, wallSeconds: 1 },
        });
        expect(r.killed).toBe('timeout');
      });

      test('endless output is capped, marked truncated, and the command stopped', async () => {
        const r = await sh(make(), ws(), 'yes aaaaaaaaaaaaaaaa', { maxOutputBytes: 10_000 });
        expect(r.truncated).toBe(true);
        expect(r.stdout.length).toBeLessThanOrEqual(10_000);
        expect(r.killed).toBe('output');
      });

      test('abort signal stops the command', async () => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 50);
        const r = await sh(make(), ws(), 'sleep 1000', { signal: ac.signal });
        expect(r.killed).toBe('abort');
      });

      test('file size limit', async () => {
        const s = make();
        if (!s.capabilities.resourceLimits) return;
        const r = await sh(s, ws(), 'head -c 10M /dev/zero > big; echo rc=$?');
        expect(r.stdout).not.toBe('rc=0\n');
      });

      test('filesystem isolation: host secrets invisible, writes outside the workspace refused', async () => {
        const s = make();
        if (!s.capabilities.filesystemIsolation) return;
        const dir = ws();
        const outside = mkdtempSync(join(tmpdir(), 'aos-outside-'));
        writeFileSync(join(outside, 'secret'), 'S3CRET');
        const r = await sh(
          s,
          dir,
          `cat /etc/shadow; ls ~/.ssh /root; cat ${outside}/secret; echo x > ${outside}/w; echo x > /usr/w; echo done`,
        );
        expect(r.stdout).toBe('done\n');
        expect(r.stdout + r.stderr).not.toContain('S3CRET');
        // bubblewrap mounts no /etc/shadow; a container image has its own, unreadable to the sandbox uid
        expect(r.stderr).toMatch(
          s.name === 'docker'
            ? /\/etc\/shadow: (No such file|Permission denied)/
            : /\/etc\/shadow: No such file/,
        );
      });

      test('network isolation: no route unless allowed', async () => {
        const s = make();
        if (!s.capabilities.networkIsolation) return;
        const r = await sh(s, ws(), 'echo > /dev/tcp/127.0.0.1/5432 && echo CONNECTED; echo end');
        expect(r.stdout).toBe('end\n');
      });

      test('process limit contains a fork bomb', async () => {
        const s = make();
        if (!s.capabilities.resourceLimits || !s.capabilities.processIsolation) return;
        const r = await sh(s, ws(), 'bomb() { bomb | bomb & }; bomb; sleep 1; echo survived', {
          limits: { ...limits, processes: 16, wallSeconds: 3 },
        });
        expect(r.stderr + r.stdout).toMatch(/fork|Resource temporarily unavailable|survived/);
      });
    },
  );
}
