/**
 * Class 1, continued — what a sandboxed command can still ask of the host kernel. The command runs as an
 * unprivileged uid with no capabilities, but the host kernel answers every other syscall for it:
 *   - a setuid/setgid file it makes in the workspace stays setuid-64000 on the host (a host user running
 *     it gets euid 64000, the identity every other agent's files belong to);
 *   - a nested user namespace (`unshare -r`) hands it a full capability set in a namespace of its own —
 *     the host kernel's largest attack surface for an unprivileged process;
 *   - the same through the side doors: open(O_CREAT) / mknod with a setuid mode, O_TMPFILE, the i386 and
 *     x32 syscall ABIs, clone/clone3 with CLONE_NEWUSER, io_uring (whose operations bypass any filter).
 * Each attack runs through the kernel's syscall gate (`io.tool_call` → shell) on real bubblewrap with the
 * kernel as root; afterwards no file in the workspace has a setuid/setgid bit or is a device, and
 * /health answered throughout.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bootRig, PROBE_TIMEOUT_MS, type Rig, shellData, whileProbing } from './harness.js';

/** Every setuid/setgid file and device node under `dir` (relative names). */
function privilegedFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(dir, rel))) {
    const p = join(rel, n);
    const st = lstatSync(join(dir, p));
    if (st.isDirectory()) out.push(...privilegedFiles(dir, p));
    else if (st.isCharacterDevice() || st.isBlockDevice()) out.push(`${p} (device)`);
    else if (st.isFile() && st.mode & 0o6000) out.push(`${p} (mode ${(st.mode & 0o7777).toString(8)})`);
  }
  return out;
}

// Raw syscalls, so no libc wrapper or shell utility can soften them. Each line: "<what> <rc> <errno>".
const ATTACK_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
static void rep(const char *what, long r) { printf("%s %s %s\n", what, r < 0 ? "blocked" : "ALLOWED", r < 0 ? strerror(errno) : ""); }
static void plain(const char *p) { int fd = open(p, O_CREAT | O_WRONLY, 0755); if (fd >= 0) close(fd); }
/* In the binary's data segment (-no-pie): an address the 32-bit ABI can name. */
static char i386path[] = "s-i386";
int main(void) {
  umask(0);
  long r;
  r = syscall(SYS_open, "s-open", O_CREAT | O_WRONLY, 04755); rep("open-creat", r);
  r = syscall(SYS_openat, AT_FDCWD, "s-openat", O_CREAT | O_WRONLY, 06755); rep("openat-creat", r);
  r = syscall(SYS_creat, "s-creat", 02755); rep("creat", r);
  r = syscall(SYS_openat, AT_FDCWD, ".", O_TMPFILE | O_WRONLY, 04755);
  if (r >= 0) { char p[64]; snprintf(p, sizeof p, "/proc/self/fd/%ld", r); linkat(AT_FDCWD, p, AT_FDCWD, "s-tmpfile", AT_SYMLINK_FOLLOW); }
  rep("o_tmpfile", r);
  r = syscall(SYS_mknod, "s-mknod", S_IFREG | 04755, 0); rep("mknod-reg", r);
  r = syscall(SYS_mknodat, AT_FDCWD, "s-mknodat", S_IFREG | 02755, 0); rep("mknodat-reg", r);
  r = syscall(SYS_mknod, "s-dev", S_IFCHR | 0666, makedev(1, 3)); rep("mknod-dev", r);
  plain("s-chmod"); r = syscall(SYS_chmod, "s-chmod", 04755); rep("chmod", r);
  plain("s-fchmod"); { int fd = open("s-fchmod", O_RDONLY); r = syscall(SYS_fchmod, fd, 02755); rep("fchmod", r); close(fd); }
  plain("s-fchmodat"); r = syscall(SYS_fchmodat, AT_FDCWD, "s-fchmodat", 06755, 0); rep("fchmodat", r);
  plain("s-fchmodat2"); r = syscall(452, AT_FDCWD, "s-fchmodat2", 04755, 0); rep("fchmodat2", r);
  plain("s-x32"); r = syscall(0x40000000 | SYS_chmod, "s-x32", 04755); rep("x32-chmod", r);
  fflush(stdout);
  r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  if (r > 0) waitpid(r, 0, 0);
  rep("clone-newuser", r);
  { uint64_t args[11] = {0}; args[0] = CLONE_NEWUSER; args[4] = SIGCHLD;
    fflush(stdout);
    r = syscall(435, args, sizeof args); if (r == 0) _exit(0); if (r > 0) waitpid(r, 0, 0); rep("clone3-newuser", r); }
  { char params[120] = {0}; r = syscall(425, 4, params); rep("io_uring_setup", r); }
  /* after the clones: it moves this process into the new namespace */
  r = syscall(SYS_unshare, CLONE_NEWUSER); rep("unshare-newuser", r);
  fflush(stdout);
  /* last: a filter may kill the process for a foreign ABI */
#ifdef __x86_64__
  plain(i386path);
  fflush(stdout);
  { long rr; __asm__ volatile("int $0x80" : "=a"(rr) : "a"(15), "b"((uint32_t)(uintptr_t)i386path), "c"(04755) : "memory");
    printf("i386-chmod %s\n", rr < 0 ? "blocked" : "ALLOWED"); }
#endif
  return 0;
}
`;

describe('red team: the host kernel surface (bubblewrap, kernel as root)', () => {
  let rig: Rig;
  let attackBin: string | null = null;
  beforeAll(async () => {
    rig = await bootRig({ sandbox: 'bubblewrap' });
    // Built on the host (the sandbox has no compiler), run inside from the workspace.
    try {
      const src = join(rig.workspace, 'attack.c');
      writeFileSync(src, ATTACK_C);
      execFileSync('cc', ['-O0', '-no-pie', '-o', join(rig.workspace, 'attack'), src], { stdio: 'pipe' });
      execFileSync('chown', ['64000:64000', join(rig.workspace, 'attack')]);
      attackBin = './attack';
    } catch {
      attackBin = null;
    }
  });
  afterAll(async () => {
    await rig?.close();
  });

  test('no sandboxed command can leave a setuid/setgid file or a device node in the workspace', async () => {
    const cmd = [
      'cp /usr/bin/id ./suid; chmod 4755 ./suid; chmod u+s ./suid',
      'cp /usr/bin/id ./sgid; chmod g+s ./sgid',
      'install -m 4755 /usr/bin/id ./installed',
      // an archive that carries the bits, extracted with them preserved
      'mkdir t && cp /usr/bin/id t/x && chmod 755 t/x && tar -cf t.tar t && rm -rf t',
      'perl -e \'open(my $f, "+<", "t.tar"); seek($f, 100, 0); print $f "0004755"; seek($f, 148, 0); print $f "        "; seek($f, 0, 0); read($f, my $h, 512); my $s = unpack("%32C*", $h); seek($f, 148, 0); printf $f "%06o\\0 ", $s; close $f\' && tar -xpf t.tar',
      'perl -e \'use Fcntl; sysopen(my $f, "perl-suid", O_CREAT|O_WRONLY, 04755) and print "perl-open ALLOWED\\n"\'',
      'umask 0; mknod ./null c 1 3 2>&1 || true',
      'ls -ln',
    ].join('; ');
    const { result, worstMs } = await whileProbing(
      rig,
      () => rig.attack([{ name: 'shell', args: { command: `umask 022; ${cmd}` } }]),
      'setuid attacks',
    );
    const d = shellData(result.out[0]!);
    expect(privilegedFiles(rig.workspace), `${d.stdout}\n${d.stderr}`).toEqual([]);
    expect(d.stdout).not.toContain('ALLOWED');
    // The copies exist (the shell ran), only the bits are refused.
    expect(lstatSync(join(rig.workspace, 'suid')).isFile()).toBe(true);
    expect(d.stderr).toMatch(/Operation not permitted/);
    const audit = await rig.audit(result.pid);
    expect(audit.some((e) => e.kind === 'io.tool_call')).toBe(true);
    expect(worstMs).toBeLessThan(PROBE_TIMEOUT_MS);
  });

  test('a sandboxed command cannot create a nested user namespace (unshare -r, unshare -U)', async () => {
    const { result, worstMs } = await whileProbing(
      rig,
      () =>
        rig.attack([
          {
            name: 'shell',
            args: {
              command:
                'unshare -r id 2>&1; echo "rc=$?"; unshare -U --map-current-user id 2>&1; echo "rc=$?"; unshare -Ur sh -c "cat /proc/self/status | grep CapEff" 2>&1',
            },
          },
        ]),
      'userns attacks',
    );
    const d = shellData(result.out[0]!);
    expect(d.stdout).not.toMatch(/uid=0\(root\)|uid=0 /);
    expect(d.stdout).not.toMatch(/CapEff:\s+0*[1-9a-f]/);
    expect(d.stdout).toMatch(/unshare failed: Operation not permitted/);
    expect(d.stdout).not.toContain('rc=0');
    expect(worstMs).toBeLessThan(PROBE_TIMEOUT_MS);
  });

  test('raw syscalls cannot get around it: open/mknod modes, O_TMPFILE, i386 and x32 ABIs, clone3, io_uring', async (ctx) => {
    if (!attackBin) ctx.skip(); // needs a C compiler on the host (cc)
    const { result, worstMs } = await whileProbing(
      rig,
      () => rig.attack([{ name: 'shell', args: { command: `${attackBin}; echo "exit=$?"` } }]),
      'raw syscall attacks',
    );
    const d = shellData(result.out[0]!);
    for (const what of [
      'open-creat',
      'openat-creat',
      'creat',
      'o_tmpfile',
      'mknod-reg',
      'mknodat-reg',
      'mknod-dev',
      'chmod',
      'fchmod',
      'fchmodat',
      'fchmodat2',
      'x32-chmod',
      'clone-newuser',
      'clone3-newuser',
      'io_uring_setup',
      'unshare-newuser',
    ])
      expect(d.stdout, `${what}\n${d.stdout}${d.stderr}`).toMatch(new RegExp(`^${what} blocked`, 'm'));
    // The i386 ABI: the process is killed by the filter (SIGSYS), so it never prints its line.
    if (process.arch === 'x64') expect(d.stdout).toMatch(/exit=159|i386-chmod blocked/);
    expect(d.stdout).not.toContain('ALLOWED');
    expect(privilegedFiles(rig.workspace), d.stdout).toEqual([]);
    expect(worstMs).toBeLessThan(PROBE_TIMEOUT_MS);
  });
});
