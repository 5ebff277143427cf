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
import { prepareWritable, sharedDirReason, unreachableAncestor } from './identity.js';

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

  test.skipIf(!root)(
    'as root: a bind source under a directory the sandbox uid cannot enter is named, not a silent exit',
    async () => {
      const id = { uid: 64_125, gid: 64_125 };
      const priv = dir('aos-id-0700-');
      chmodSync(priv, 0o700);
      const ws = join(priv, 'ws');
      mkdirSync(ws);
      expect(unreachableAncestor(ws, id)).toBe(priv);
      expect(unreachableAncestor(ws, null)).toBeNull();
      let sandbox: BubblewrapSandbox | null = null;
      try {
        sandbox = new BubblewrapSandbox();
      } catch {}
      if (sandbox) {
        const limits = {
          wallSeconds: 10,
          cpuSeconds: 10,
          memoryMb: 256,
          maxProcesses: 16,
          maxOutputBytes: 65_536,
        };
        await expect(
          sandbox.exec({ command: '/bin/true', args: [], cwd: ws, writePaths: [ws], limits } as never),
        ).rejects.toThrow(/cannot enter .*aos-id-0700-.*chmod o\+x/);
      }
      chmodSync(priv, 0o711);
      expect(unreachableAncestor(ws, id)).toBeNull();
    },
  );
});
