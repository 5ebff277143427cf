/**
 * The seccomp filter every bubblewrap command runs under (`bwrap --seccomp FD`): a classic-BPF program,
 * generated here, that refuses what an unprivileged uid may still ask of the host kernel and should not:
 *   - setuid/setgid files: chmod, fchmod, fchmodat, fchmodat2 with S_ISUID|S_ISGID, and the calls that
 *     create a file with a mode (open/openat/creat with O_CREAT or O_TMPFILE, mknod/mknodat) → EPERM.
 *     A file the command makes lives on in the workspace, on the host, where the nosuid mount is gone:
 *     setuid-64000 there gives any host user the identity every sandboxed file belongs to;
 *   - device nodes (mknod S_IFCHR/S_IFBLK) → EPERM (no capability allows them today; this keeps it so);
 *   - nested user namespaces: unshare/clone with CLONE_NEWUSER → EPERM, clone3 → ENOSYS (its flags sit
 *     in memory a filter cannot read; libc falls back to clone) — a new user namespace hands the command
 *     a full capability set against the host kernel's namespaced code;
 *   - calls whose arguments a filter cannot see: openat2 (mode in a struct) and io_uring (its operations
 *     never pass through the filter at all) → ENOSYS, so callers fall back to the checked calls;
 *   - a syscall of another ABI (i386 `int 0x80` on x86_64, arm32 on aarch64) kills the process: its
 *     numbers differ and would walk around every rule above; x32 numbers answer ENOSYS.
 * Everything else is allowed: the filter narrows the kernel's surface, the uid and namespaces confine.
 * Arguments are 64-bit; the rules test their low 32 bits (little-endian: the word at args[i]), which hold
 * every bit tested. Supported: x86_64 and aarch64 (AUDIT_ARCH_*); elsewhere bubblewrap is refused.
 */
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelError } from '../../errors.js';

/** Classic-BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h). */
const OP = { ldAbs: 0x20, jeq: 0x15, jge: 0x35, jset: 0x45, and: 0x54, ret: 0x06 } as const;
const RET = { allow: 0x7fff_0000, errno: 0x0005_0000, killProcess: 0x8000_0000 } as const;
const ERRNO = { EPERM: 1, ENOSYS: 38 } as const;
/** Offsets in struct seccomp_data: nr, arch, instruction pointer, args[6]. */
const DATA = { nr: 0, arch: 4, arg: (i: number) => 16 + 8 * i } as const;
const BITS = {
  setid: 0o6000, // S_ISUID | S_ISGID
  creates: 0o100 | 0o20000000, // O_CREAT | __O_TMPFILE (the same on x86_64 and aarch64)
  ifmt: 0o170000,
  ifchr: 0o020000,
  ifblk: 0o060000,
  newuser: 0x1000_0000, // CLONE_NEWUSER
  x32: 0x4000_0000, // __X32_SYSCALL_BIT
} as const;

/** What to do with one syscall: test a mode argument, a create-flag + mode pair, a clone flag, or refuse. */
type Rule =
  | { kind: 'mode'; arg: number; devices?: boolean }
  | { kind: 'create'; flags: number; mode: number }
  | { kind: 'newuser'; arg: number }
  | { kind: 'enosys' };

export interface SeccompArch {
  /** AUDIT_ARCH_* of the native ABI. */
  audit: number;
  /** Whether syscall numbers at or above the x32 bit must be refused (x86_64). */
  x32: boolean;
  /** syscall number → rule. */
  rules: Record<number, Rule>;
}

const mode = (arg: number, devices = false): Rule => ({ kind: 'mode', arg, devices });
const create = (flags: number, m: number): Rule => ({ kind: 'create', flags, mode: m });
const enosys: Rule = { kind: 'enosys' };

/** Syscall numbers: arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h. */
export const ARCHES: Record<'x64' | 'arm64', SeccompArch> = {
  x64: {
    audit: 0xc000_003e,
    x32: true,
    rules: {
      2: create(1, 2), // open(path, flags, mode)
      85: mode(1), // creat(path, mode)
      90: mode(1), // chmod(path, mode)
      91: mode(1), // fchmod(fd, mode)
      133: mode(1, true), // mknod(path, mode, dev)
      257: create(2, 3), // openat(dirfd, path, flags, mode)
      259: mode(2, true), // mknodat(dirfd, path, mode, dev)
      268: mode(2), // fchmodat(dirfd, path, mode)
      452: mode(2), // fchmodat2(dirfd, path, mode, flags)
      56: { kind: 'newuser', arg: 0 }, // clone(flags, …)
      272: { kind: 'newuser', arg: 0 }, // unshare(flags)
      435: enosys, // clone3
      437: enosys, // openat2
      425: enosys, // io_uring_setup
      426: enosys, // io_uring_enter
      427: enosys, // io_uring_register
    },
  },
  arm64: {
    audit: 0xc000_00b7,
    x32: false,
    rules: {
      56: create(2, 3), // openat
      33: mode(2, true), // mknodat
      52: mode(1), // fchmod
      53: mode(2), // fchmodat
      452: mode(2), // fchmodat2
      220: { kind: 'newuser', arg: 0 }, // clone(flags, …)
      97: { kind: 'newuser', arg: 0 }, // unshare
      435: enosys,
      437: enosys,
      425: enosys,
      426: enosys,
      427: enosys,
    },
  },
};

/** One instruction, jumps by label (resolved by assemble()). */
type Ins = { op: number; k: number; jt?: string; jf?: string } | { label: string };

/** Lays out labels and encodes struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } (little-endian). */
function assemble(prog: Ins[]): Buffer {
  const at = new Map<string, number>();
  const code: Array<{ op: number; k: number; jt?: string; jf?: string }> = [];
  for (const i of prog) {
    if ('label' in i) at.set(i.label, code.length);
    else code.push(i);
  }
  const buf = Buffer.alloc(code.length * 8);
  code.forEach((i, n) => {
    const rel = (l: string | undefined): number => {
      if (l === undefined) return 0;
      const t = at.get(l);
      if (t === undefined || t <= n || t - n - 1 > 255) throw new Error(`seccomp: bad jump to ${l} at ${n}`);
      return t - n - 1;
    };
    buf.writeUInt16LE(i.op, n * 8);
    buf.writeUInt8(rel(i.jt), n * 8 + 2);
    buf.writeUInt8(rel(i.jf), n * 8 + 3);
    buf.writeUInt32LE(i.k >>> 0, n * 8 + 4);
  });
  return buf;
}

/** The filter program for one ABI, ready for `bwrap --seccomp FD`. */
export function seccompProgram(a: SeccompArch): Buffer {
  const p: Ins[] = [
    { op: OP.ldAbs, k: DATA.arch },
    { op: OP.jeq, k: a.audit, jf: 'foreign' },
    { op: OP.ldAbs, k: DATA.nr },
  ];
  if (a.x32) p.push({ op: OP.jge, k: BITS.x32, jt: 'enosys' });
  const nrs = Object.keys(a.rules).map(Number);
  for (const nr of nrs) p.push({ op: OP.jeq, k: nr, jt: `sys${nr}` });
  p.push({ op: OP.ret, k: RET.allow });
  for (const nr of nrs) {
    const r = a.rules[nr] as Rule;
    p.push({ label: `sys${nr}` });
    if (r.kind === 'enosys') {
      p.push({ op: OP.ret, k: RET.errno | ERRNO.ENOSYS });
      continue;
    }
    if (r.kind === 'newuser') {
      p.push({ op: OP.ldAbs, k: DATA.arg(r.arg) }, { op: OP.jset, k: BITS.newuser, jt: 'eperm' });
    } else if (r.kind === 'create') {
      p.push({ op: OP.ldAbs, k: DATA.arg(r.flags) }, { op: OP.jset, k: BITS.creates, jf: 'allow' });
      p.push({ op: OP.ldAbs, k: DATA.arg(r.mode) }, { op: OP.jset, k: BITS.setid, jt: 'eperm' });
    } else {
      p.push({ op: OP.ldAbs, k: DATA.arg(r.arg) }, { op: OP.jset, k: BITS.setid, jt: 'eperm' });
      if (r.devices) {
        p.push({ op: OP.and, k: BITS.ifmt });
        p.push({ op: OP.jeq, k: BITS.ifchr, jt: 'eperm' }, { op: OP.jeq, k: BITS.ifblk, jt: 'eperm' });
      }
    }
    p.push({ op: OP.ret, k: RET.allow });
  }
  p.push({ label: 'allow' }, { op: OP.ret, k: RET.allow });
  p.push({ label: 'eperm' }, { op: OP.ret, k: RET.errno | ERRNO.EPERM });
  p.push({ label: 'enosys' }, { op: OP.ret, k: RET.errno | ERRNO.ENOSYS });
  p.push({ label: 'foreign' }, { op: OP.ret, k: RET.killProcess });
  return assemble(p);
}

/** The native ABI's description, or ESANDBOX naming the supported ones. */
export function nativeArch(arch: string = process.arch): SeccompArch {
  const a = ARCHES[arch as keyof typeof ARCHES];
  if (!a)
    throw new KernelError(
      'ESANDBOX',
      `the bubblewrap sandbox has no seccomp filter for ${arch} (supported: ${Object.keys(ARCHES).join(', ')}): without it a sandboxed command could leave setuid files and make user namespaces; set security.sandbox: none explicitly to run unisolated`,
    );
  return a;
}

/** Return values, for tests and messages. */
export const SECCOMP_RET = RET;

let written: string | null = null;

/**
 * The native program as a file bwrap reads through a descriptor (`3<file`, see bubblewrap.ts): written
 * once per kernel into a fresh 0700 directory of the kernel's user, written again if a tmp cleaner
 * removed it.
 */
export function seccompFile(): string {
  if (written && existsSync(written)) return written;
  const program = seccompProgram(nativeArch());
  try {
    const dir = mkdtempSync(join(tmpdir(), 'aos-seccomp-'));
    chmodSync(dir, 0o700);
    const f = join(dir, 'filter.bpf');
    writeFileSync(f, program, { mode: 0o600 });
    written = f;
    return f;
  } catch (err) {
    throw new KernelError(
      'ESANDBOX',
      `cannot write the sandbox's seccomp filter under ${tmpdir()} (${(err as Error).message}); set TMPDIR to a directory the kernel's user can write`,
      { cause: err },
    );
  }
}
