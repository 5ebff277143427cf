/**
 * The same guarantees when the kernel is an ordinary user (bwrap's user namespace maps it; no setpriv):
 * a sandboxed command can neither make a nested user namespace nor a setuid file. Runs the built
 * package (dist/, what `npm test` builds first) as uid 65534 from this root test, since the sandbox
 * picks its mode from the kernel's own uid.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const DIST = join(root, 'dist/security/sandbox/bubblewrap.js');
const UID = 65_534;
const skip = !existsSync(DIST)
  ? 'dist/ is not built (npm run build)'
  : process.getuid?.() !== 0
    ? 'needs root to start a process as another uid'
    : null;

const SCRIPT = `
const { BubblewrapSandbox } = await import(process.argv[2]);
const ws = process.argv[3];
const limits = { memoryMb: 256, cpuSeconds: 10, processes: 32, fileSizeMb: 4, wallSeconds: 20 };
const cmd = 'id -u; unshare -r id 2>&1; echo "rc=$?"; cp /usr/bin/id s && chmod u+s s 2>&1; chmod g+s s 2>&1; echo done';
const r = await new BubblewrapSandbox().exec({ command: '/bin/bash', args: ['-c', cmd], cwd: ws, writePaths: [ws], limits });
process.stdout.write(JSON.stringify(r));
process.exit(0);
`;

const base = mkdtempSync(join(tmpdir(), 'aos-unpriv-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

test.skipIf(skip !== null)(
  `as an ordinary user: no nested user namespace, no setuid file${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    // The user's own tmp and workspace (this machine's /tmp is not writable by other users).
    chmodSync(base, 0o755);
    const home = join(base, 'home');
    const ws = join(home, 'ws');
    mkdirSync(ws, { recursive: true });
    chownSync(home, UID, UID);
    chownSync(ws, UID, UID);
    const script = join(base, 'run.mjs');
    writeFileSync(script, SCRIPT);
    // The built sandbox, copied where that user can read it: the checkout itself may sit under a directory
    // only root can enter (a fresh clone in a mktemp dir is 0700). It imports node builtins only.
    const pkg = join(base, 'pkg');
    cpSync(join(root, 'dist'), join(pkg, 'dist'), {
      recursive: true,
      filter: (f) => !f.includes('/dist/web'),
    });
    writeFileSync(join(pkg, 'package.json'), '{ "type": "module" }\n');
    const out = execFileSync(
      'setpriv',
      [
        `--reuid=${UID}`,
        `--regid=${UID}`,
        '--clear-groups',
        'env',
        `TMPDIR=${home}`,
        `HOME=${home}`,
        process.execPath,
        script,
        join(pkg, 'dist/security/sandbox/bubblewrap.js'),
        ws,
      ],
      { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const r = JSON.parse(out) as { exitCode: number; stdout: string; stderr: string };
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^65534\n/);
    expect(r.stdout).toMatch(/unshare failed: Operation not permitted\nrc=1/);
    expect(r.stdout).not.toMatch(/uid=0/);
    expect(r.stdout).toMatch(/chmod: changing permissions of 's': Operation not permitted/);
    expect(r.stdout).toContain('done');
    const st = statSync(join(ws, 's'));
    expect(st.uid).toBe(UID);
    expect(st.mode & 0o6000).toBe(0);
  },
);
