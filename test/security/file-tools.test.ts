/**
 * Classes 2 and 7 — the file tools cannot be raced, blocked, or crashed. Attacks through the kernel on real
 * bubblewrap with the kernel as root: one agent's shell swaps a file for a symlink (and a directory for a
 * symlink to a directory) in a tight loop while a second agent in the same workspace calls read_file,
 * write_file, edit_file and list_dir on those names; a FIFO and binary files in the workspace. Every
 * target outside the workspace is a private mkdtemp directory of this test.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ToolOutcome } from '../../src/kernel/syscalls.js';
import { type AttackCall, bootRig, PROBE_TIMEOUT_MS, type Rig, shellData, whileProbing } from './harness.js';

let rig: Rig;
let secretDir: string;
const SECRET = `TOPSECRET-${randomBytes(8).toString('hex')}`;

beforeAll(async () => {
  rig = await bootRig({ sandbox: 'bubblewrap' });
  secretDir = realpathSync(mkdtempSync(join(tmpdir(), 'aos-red-secret-')));
  writeFileSync(join(secretDir, 'secret.txt'), `${SECRET}\n`);
});
afterAll(async () => {
  await rig?.close();
  if (secretDir) rmSync(secretDir, { recursive: true, force: true });
  if (rig) {
    rmSync(rig.workspace, { recursive: true, force: true });
    rmSync(rig.dataDir, { recursive: true, force: true });
  }
});

// The swapper: perl's rename/symlink/unlink are direct syscalls, so the names flip thousands of times a
// second. f.txt is a regular file or a link to the secret; d/ is a directory or a link to the secret dir.
const SWAPPER = `
my ($secret, $sdir) = @ARGV;
mkdir 'd.real'; open(my $g, '>', 'd.real/f.txt'); print $g "inside\\n"; close $g;
rename 'd.real', 'd';
open(my $s, '>', 'started'); close $s;
my ($i, $t0) = (0, time());
while (!-e 'stop' && time() - $t0 < 90) {
  $i++;
  symlink $secret, 'f.lnk'; rename 'f.lnk', 'f.txt';
  open(my $h, '>', 'f.new'); print $h "inside\\n"; close $h; rename 'f.new', 'f.txt';
  rename 'd', 'd.real'; symlink $sdir, 'd';
  unlink 'd'; rename 'd.real', 'd';
}
print "swaps=$i\\n";
`;

/** `p`, or a failure naming what never finished (a crashed process loop never settles its wait()). */
async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('red team: file tools (bubblewrap, kernel as root)', () => {
  test(
    'an agent swapping files for symlinks in a loop never gets a read or write outside the workspace',
    { timeout: 300_000 },
    async () => {
      const k = rig.kernel;
      writeFileSync(join(rig.workspace, 'swap.pl'), SWAPPER);
      const swapper = await k.spawn({
        name: 'swapper',
        task: 'swap',
        program: 'attacker',
        args: {
          calls: [
            {
              name: 'shell',
              args: { command: `nice -n 19 perl swap.pl ${join(secretDir, 'secret.txt')} ${secretDir}` },
            },
          ],
        },
        policy: { max_wall_seconds: 120, max_cpu_seconds: 120 },
      });
      const calls: AttackCall[] = [
        {
          name: 'shell',
          args: { command: 'i=0; while [ ! -e started ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done' },
        },
      ];
      for (let i = 0; i < 80; i++) {
        calls.push(
          { name: 'read_file', args: { path: 'f.txt' } },
          { name: 'read_file', args: { path: 'd/f.txt' } },
          { name: 'write_file', args: { path: 'd/out.txt', content: `written ${i}\n` } },
          { name: 'write_file', args: { path: 'f.txt', content: 'inside\n' } },
          { name: 'write_file', args: { path: 'd/log.txt', content: `${i}\n`, append: true } },
          { name: 'edit_file', args: { path: 'd/f.txt', old_string: 'TOPSECRET', new_string: 'x' } },
          { name: 'edit_file', args: { path: 'f.txt', old_string: 'TOPSECRET', new_string: 'x' } },
          { name: 'list_dir', args: { path: 'd' } },
        );
      }
      calls.push({ name: 'write_file', args: { path: 'stop', content: '' } });
      const { result, worstMs } = await whileProbing(rig, async () => {
        const user = await k.spawn({
          name: 'user',
          task: 'use files',
          program: 'attacker',
          args: { calls },
        });
        const u = await k.wait(user);
        await k.wait(swapper);
        return {
          out: (u.result ?? []) as ToolOutcome[],
          sw: (await k.wait(swapper)).result as ToolOutcome[],
        };
      });
      const swaps = Number(/swaps=(\d+)/.exec(shellData(result.sw[0] as ToolOutcome).stdout)?.[1] ?? 0);
      expect(swaps).toBeGreaterThan(0);
      const out = result.out.slice(1, -1);
      expect(out).toHaveLength(calls.length - 2);
      const leaks = out.filter((o) => o.output.includes(SECRET) || o.output.includes('TOPSECRET-'));
      expect(leaks.map((o) => o.output.slice(0, 200))).toEqual([]);
      // edit_file's answer must not be an oracle: "TOPSECRET" never exists inside the workspace.
      const edits = out.filter((_, i) => i % 8 === 5 || i % 8 === 6);
      expect(edits.filter((o) => o.ok || /occurs/.test(o.output)).map((o) => o.output)).toEqual([]);
      // list_dir never shows the secret directory's entries.
      const lists = out.filter((_, i) => i % 8 === 7);
      expect(lists.filter((o) => o.output.includes('secret.txt')).map((o) => o.output)).toEqual([]);
      // Nothing outside changed.
      expect(readdirSync(secretDir)).toEqual(['secret.txt']);
      expect(readFileSync(join(secretDir, 'secret.txt'), 'utf8')).toBe(`${SECRET}\n`);
      // The tools still worked when the names were not being swapped under them.
      const reads = out.filter((_, i) => i % 8 === 0 || i % 8 === 1);
      expect(reads.some((o) => o.ok && o.output.includes('inside'))).toBe(true);
      expect(worstMs).toBeLessThan(PROBE_TIMEOUT_MS);
    },
  );

  test('a FIFO, a socket or a device in the workspace is refused at once and nothing hangs', async () => {
    const { out: prep } = await rig.attack([
      { name: 'shell', args: { command: 'mkfifo fifo && ln -s /dev/zero zero && ls -l fifo zero' } },
    ]);
    expect(prep[0]?.ok).toBe(true);
    let release: (() => void) | undefined;
    const hung = new Promise<'hung'>((r) => {
      const t = setTimeout(() => r('hung'), 30_000);
      release = () => clearTimeout(t);
    });
    const run = whileProbing(rig, () =>
      rig.attack(
        [
          { name: 'read_file', args: { path: 'fifo' } },
          { name: 'edit_file', args: { path: 'fifo', old_string: 'a', new_string: 'b' } },
          { name: 'write_file', args: { path: 'fifo', content: 'x', append: true } },
          { name: 'read_file', args: { path: 'zero' } },
        ],
        { permission_level: 'admin' },
      ),
    );
    const r = await Promise.race([run, hung]);
    release?.();
    if (r === 'hung') {
      // Unblock the old code's stuck open() before failing, so the worker thread is released.
      writeFileSync(join(rig.workspace, 'fifo'), 'x');
      throw new Error('a file tool blocked on a FIFO');
    }
    const [rd, ed, ap, zero] = r.result.out as ToolOutcome[];
    for (const o of [rd, ed, ap]) {
      expect(o?.ok).toBe(false);
      expect(o?.output).toMatch(/not a regular file \(FIFO\)/);
    }
    expect(zero?.ok).toBe(false);
    expect(zero?.output).toMatch(/not a regular file \(character device\)/);
    expect(r.worstMs).toBeLessThan(PROBE_TIMEOUT_MS);
  });

  test('binary files are data: "binary file, N bytes" or base64 on request, and the step commits', async () => {
    const bytes = Buffer.concat([Buffer.from('key\0'), randomBytes(3000), Buffer.from([0xff, 0xfe, 0x00])]);
    writeFileSync(join(rig.workspace, 'blob.bin'), bytes);
    const { pid, out } = await rig.attack([
      { name: 'read_file', args: { path: 'blob.bin' } },
      { name: 'read_file', args: { path: 'blob.bin', encoding: 'base64' } },
      {
        name: 'write_file',
        args: { path: 'copy.bin', content: bytes.toString('base64'), encoding: 'base64' },
      },
      { name: 'edit_file', args: { path: 'blob.bin', old_string: 'key', new_string: 'k' } },
    ]);
    const [plain, b64, copy, edit] = out as ToolOutcome[];
    expect(plain?.ok).toBe(true);
    expect(plain?.output).toMatch(new RegExp(`binary file, ${bytes.length} bytes`));
    expect(plain?.output).not.toContain('\0');
    expect(b64?.ok).toBe(true);
    expect(b64?.output).toContain(bytes.toString('base64'));
    expect(copy?.ok).toBe(true);
    expect(readFileSync(join(rig.workspace, 'copy.bin')).equals(bytes)).toBe(true);
    expect(edit?.ok).toBe(false);
    expect(edit?.output).toMatch(/binary file/);
    expect(edit?.output).not.toContain('key');
    const st = await rig.kernel.wait(pid);
    expect(st.exitReason).toBeNull();
    const audit = await rig.audit(pid);
    expect(audit.filter((e) => e.kind.startsWith('io.tool_')).length).toBe(4);
  });
});
