/**
 * The seccomp program, run by a small classic-BPF interpreter on seccomp_data built here — for both ABIs,
 * so aarch64's program is checked on an x86_64 machine too. What the host kernel does with the x86_64
 * program is tested end to end in test/security/kernel-surface.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { ARCHES, nativeArch, SECCOMP_RET, type SeccompArch, seccompProgram } from './seccomp.js';

/** Runs a sock_filter program over struct seccomp_data { nr, arch, ip, args[6] }. */
function run(prog: Buffer, nr: number, arch: number, args: number[] = []): number {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr, 0);
  data.writeUInt32LE(arch, 4);
  for (const [i, a] of args.entries()) data.writeUInt32LE(a >>> 0, 16 + 8 * i);
  let acc = 0;
  for (let pc = 0; pc < prog.length / 8; ) {
    const op = prog.readUInt16LE(pc * 8);
    const jt = prog.readUInt8(pc * 8 + 2);
    const jf = prog.readUInt8(pc * 8 + 3);
    const k = prog.readUInt32LE(pc * 8 + 4);
    pc++;
    if (op === 0x20) acc = data.readUInt32LE(k);
    else if (op === 0x54) acc = (acc & k) >>> 0;
    else if (op === 0x06) return k;
    else if (op === 0x15) pc += acc === k ? jt : jf;
    else if (op === 0x35) pc += acc >= k ? jt : jf;
    else if (op === 0x45) pc += (acc & k) !== 0 ? jt : jf;
    else throw new Error(`unknown opcode ${op}`);
  }
  throw new Error('fell off the end');
}

const EPERM = SECCOMP_RET.errno | 1;
const ENOSYS = SECCOMP_RET.errno | 38;
const { allow, killProcess } = SECCOMP_RET;

const cases: Array<[string, SeccompArch, Record<string, number>]> = [
  [
    'x86_64',
    ARCHES.x64,
    { open: 2, openat: 257, creat: 85, chmod: 90, fchmodat: 268, mknodat: 259, clone: 56, unshare: 272 },
  ],
  ['aarch64', ARCHES.arm64, { openat: 56, fchmodat: 53, fchmod: 52, mknodat: 33, clone: 220, unshare: 97 }],
];

describe.each(cases)('seccomp program: %s', (_name, a, nr) => {
  const prog = seccompProgram(a);
  const sys = (n: number, args: number[] = []) => run(prog, n, a.audit, args);

  test('setuid/setgid modes are refused on chmod and on create; plain modes pass', () => {
    expect(sys(nr.fchmodat as number, [-100, 0, 0o4755])).toBe(EPERM);
    expect(sys(nr.fchmodat as number, [-100, 0, 0o2755])).toBe(EPERM);
    expect(sys(nr.fchmodat as number, [-100, 0, 0o1777])).toBe(allow); // sticky is harmless
    expect(sys(nr.fchmodat as number, [-100, 0, 0o755])).toBe(allow);
    if (nr.chmod) expect(sys(nr.chmod, [0, 0o4755])).toBe(EPERM);
    if (nr.fchmod) expect(sys(nr.fchmod, [3, 0o6000])).toBe(EPERM);
    // openat(dirfd, path, flags, mode): the mode counts only when the call creates
    expect(sys(nr.openat as number, [-100, 0, 0o100 | 1, 0o4755])).toBe(EPERM); // O_CREAT
    expect(sys(nr.openat as number, [-100, 0, 0o20000000 | 0o200000 | 1, 0o2755])).toBe(EPERM); // O_TMPFILE
    expect(sys(nr.openat as number, [-100, 0, 0o100 | 1, 0o644])).toBe(allow);
    expect(sys(nr.openat as number, [-100, 0, 0, 0o4755])).toBe(allow); // no create: mode is ignored
    // high bits of a 64-bit argument do not matter; the filter reads the low word
    if (nr.open) expect(sys(nr.open, [0, 0o100, 0o4755])).toBe(EPERM);
    if (nr.creat) expect(sys(nr.creat, [0, 0o4755])).toBe(EPERM);
  });

  test('mknod: devices and setuid regular files refused, a FIFO or plain file passes', () => {
    const m = nr.mknodat as number;
    expect(sys(m, [-100, 0, 0o020666, 0x103])).toBe(EPERM); // S_IFCHR
    expect(sys(m, [-100, 0, 0o060600, 0x800])).toBe(EPERM); // S_IFBLK
    expect(sys(m, [-100, 0, 0o104755, 0])).toBe(EPERM); // S_IFREG | 04755
    expect(sys(m, [-100, 0, 0o010644, 0])).toBe(allow); // S_IFIFO
    expect(sys(m, [-100, 0, 0o100644, 0])).toBe(allow);
  });

  test('user namespaces refused; other clones pass; clone3, openat2 and io_uring answer ENOSYS', () => {
    expect(sys(nr.unshare as number, [0x10000000])).toBe(EPERM);
    expect(sys(nr.unshare as number, [0x20000])).toBe(allow); // CLONE_NEWNS alone: needs a capability anyway
    expect(sys(nr.clone as number, [0x10000000 | 17])).toBe(EPERM);
    expect(sys(nr.clone as number, [0x003d0f00])).toBe(allow); // pthread_create's flags
    for (const n of [435, 437, 425, 426, 427]) expect(sys(n)).toBe(ENOSYS);
  });

  test('any other syscall passes; another ABI is killed', () => {
    expect(sys(0)).toBe(allow);
    expect(sys(1, [1, 2, 3])).toBe(allow);
    expect(run(prog, 15, 0x40000003, [0, 0o4755])).toBe(killProcess); // i386
    expect(run(prog, 15, 0x40000028, [0, 0o4755])).toBe(killProcess); // arm32
    if (a.x32) expect(sys(0x40000000 | 90, [0, 0o4755])).toBe(ENOSYS);
  });
});

test('an unsupported architecture is refused with the fix named', () => {
  expect(nativeArch('x64')).toBe(ARCHES.x64);
  expect(() => nativeArch('riscv64')).toThrow(/no seccomp filter for riscv64 .*security\.sandbox: none/);
});
