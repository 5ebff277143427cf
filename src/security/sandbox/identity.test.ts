import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { BubblewrapSandbox } from './bubblewrap.js';
import { prepareWritable, sharedDirReason, swappableAncestor } from './identity.js';

const LIMITS = { memoryMb: 256, cpuSeconds: 10, processes: 32, fileSizeMb: 4, wallSeconds: 10 };

const root = process.getuid?.() === 0;
const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
function dir(prefix: string): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  made.push(d);
  return d;
}

describe('sandbox identity: which directories may be handed to the sandbox uid', () => {
  test('shared directories are named as such; a private one is not', () => {
    expect(sharedDirReason('/')).toMatch(/shared system directory/);
    expect(sharedDirReason(tmpdir())).not.toBeNull();
    expect(sharedDirReason('/tmp')).not.toBeNull();
    expect(sharedDirReason(homedir())).toMatch(/home directory|shared/);
    const sticky = dir('aos-id-sticky-');
    chmodSync(sticky, 0o1777);
    expect(sharedDirReason(sticky)).toMatch(/sticky/);
    expect(sharedDirReason(dir('aos-id-private-'))).toBeNull();
  });

  test('a symlink to /tmp is judged by what it points at', () => {
    const d = dir('aos-id-link-');
    symlinkSync('/tmp', join(d, 'ln'));
    expect(sharedDirReason(join(d, 'ln'))).not.toBeNull();
  });

  test('no identity (kernel not root): nothing is touched, even /tmp', () => {
    const before = lstatSync('/tmp');
    prepareWritable('/tmp', null);
    expect(lstatSync('/tmp').uid).toBe(before.uid);
  });

  test.skipIf(!root)('as root: /tmp and / are refused with ESANDBOX and keep their owner', () => {
    const id = { uid: 64_123, gid: 64_123 };
    for (const p of ['/tmp', '/', tmpdir()]) {
      const before = lstatSync(p).uid;
      expect(() => prepareWritable(p, id)).toThrow(/ESANDBOX|refusing to make/);
      expect(lstatSync(p).uid).toBe(before);
    }
  });

  test.skipIf(!root)(
    'as root: a workspace is handed over without following links out or taking foreign files',
    () => {
      const id = { uid: 64_124, gid: 64_124 };
      const outside = dir('aos-id-outside-');
      writeFileSync(join(outside, 'secret'), 'x');
      const ws = dir('aos-id-ws-');
      mkdirSync(join(ws, 'sub'));
      writeFileSync(join(ws, 'sub', 'f'), 'y');
      symlinkSync(outside, join(ws, 'out'));
      writeFileSync(join(ws, 'theirs'), 'z');
      chownSync(join(ws, 'theirs'), 4242, 4242);
      prepareWritable(ws, id);
      expect(lstatSync(ws).uid).toBe(id.uid);
      expect(lstatSync(join(ws, 'sub', 'f')).uid).toBe(id.uid);
      expect(lstatSync(join(ws, 'out')).uid).toBe(id.uid); // the link itself (lchown) …
      expect(lstatSync(outside).uid).toBe(0); // … never its target
      expect(lstatSync(join(outside, 'secret')).uid).toBe(0);
      expect(lstatSync(join(ws, 'theirs')).uid).toBe(4242);
    },
  );

  test('a bind source is swappable when the sandbox uid may change a directory on its way', () => {
    const id = { uid: 64_126, gid: 64_126 };
    const top = dir('aos-id-swap-');
    mkdirSync(join(top, 'a', 'b'), { recursive: true });
    expect(swappableAncestor(join(top, 'a', 'b'), id)).toBeNull(); // root's, and /tmp is sticky
    expect(swappableAncestor(join(top, 'a', 'b'), null)).toBeNull();
    if (!root) return;
    chownSync(join(top, 'a'), id.uid, id.gid);
    expect(swappableAncestor(join(top, 'a', 'b'), id)).toBe(join(top, 'a'));
    chownSync(join(top, 'a'), 0, 0);
    chmodSync(join(top, 'a'), 0o777); // world-writable, not sticky
    expect(swappableAncestor(join(top, 'a', 'b'), id)).toBe(join(top, 'a'));
    chmodSync(join(top, 'a'), 0o1777); // sticky: only an entry's owner may rename it
    expect(swappableAncestor(join(top, 'a', 'b'), id)).toBeNull();
  });
});

describe.skipIf(!root)(
  'sandbox as root: bwrap mounts with privilege, the command runs as the sandbox uid',
  () => {
    let sandbox: BubblewrapSandbox | null = null;
    try {
      sandbox = new BubblewrapSandbox();
    } catch {}
    const run = (cmd: string, extra: Record<string, unknown>) =>
      sandbox!.exec({ command: '/bin/bash', args: ['-c', cmd], limits: LIMITS, ...extra } as never);

    test.skipIf(!sandbox)(
      'a workspace and a tool under a 0700 directory work, as the sandbox uid',
      async () => {
        const priv = dir('aos-id-0700-');
        chmodSync(priv, 0o700);
        const ws = join(priv, 'proj', 'ws');
        const tools = join(priv, 'proj', 'tools');
        mkdirSync(ws, { recursive: true });
        mkdirSync(tools);
        writeFileSync(join(tools, 'tool.sh'), 'echo tool-ran');
        const r = await run(`bash ${tools}/tool.sh && id -u && echo made > ${ws}/out && ls -ld ${priv}`, {
          cwd: ws,
          writePaths: [ws],
          readPaths: [tools],
        });
        expect(r.stderr).toBe('');
        expect(r.exitCode).toBe(0);
        expect(r.stdout).toContain('tool-ran');
        expect(r.stdout).toContain('64000');
        expect(lstatSync(join(ws, 'out')).uid).toBe(64_000);
        // The host directory keeps its mode: the kernel never loosens it.
        expect(lstatSync(priv).mode & 0o777).toBe(0o700);
      },
    );

    test.skipIf(!sandbox)('a bind source the sandbox uid could swap for a link is refused', async () => {
      const top = dir('aos-id-swapbind-');
      const ws = join(top, 'ws');
      mkdirSync(join(ws, 'inner'), { recursive: true });
      const other = join(top, 'other');
      mkdirSync(join(other, 'pkg'), { recursive: true });
      chownSync(other, 64_000, 64_000); // as if another command's workspace
      await expect(
        run('true', { cwd: ws, writePaths: [ws], readPaths: [join(other, 'pkg')] }),
      ).rejects.toThrow(/ESANDBOX|may change .*other/);
      // Inside the command's own writable tree, the source is simply visible as it is.
      const r = await run('ls -d inner', { cwd: ws, writePaths: [ws], readPaths: [join(ws, 'inner')] });
      expect(r.exitCode).toBe(0);
    });

    test.skipIf(!sandbox)(
      'a path hidden by a bound tree with the host mode on the way is named',
      async () => {
        const priv = dir('aos-id-hidden-');
        chmodSync(priv, 0o700);
        const ws = join(priv, 'ws');
        mkdirSync(ws);
        await expect(run('true', { cwd: ws, writePaths: [ws], readPaths: ['/'] })).rejects.toThrow(
          /cannot enter .*aos-id-hidden-.*chmod o\+x/,
        );
      },
    );
  },
);
