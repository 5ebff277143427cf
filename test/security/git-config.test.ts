/**
 * Class 8 — the kernel's git tools run no command a repository names. The workspace is shared, so what one
 * process writes into `.git/config`, an included file, `.gitattributes` or `.git/info/attributes` is read
 * by the git of whichever process calls a git tool next, under that process's policy. Each planted key
 * names a payload that would leave a PWNED-<key> file: filter drivers (clean/smudge/process), diff drivers
 * (textconv, command), diff.external, core.fsmonitor, core.pager/pager.*, gpg.program with
 * log.showSignature on a commit carrying a signature, an include.path to a file with a filter, and a
 * driver selected through .git/info/attributes. Run through the kernel (`io.tool_call`) on real
 * bubblewrap: the shipped cli.git_status and cli.git_log, and git diff declared in config both read-only
 * and writing.
 */
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bootRig, type Rig, shellData } from './harness.js';

// The payload every planted key runs: a file named after the key.
const PLANT = String.raw`
set -e
git init -q . && git config user.name a && git config user.email a@b
printf 'one\n' > a.txt && printf 'x\n' > b.dat && git add . && git commit -qm one
printf '#!/bin/sh\ntouch "%s/PWNED-$1"\ncat\n' "$PWD" > evil.sh && chmod 755 evil.sh
ev="$PWD/evil.sh"
git config filter.x.clean "$ev filter-clean"
git config filter.x.smudge "$ev filter-smudge"
git config filter.p.process "$ev filter-process"
git config diff.x.textconv "$ev diff-textconv"
git config diff.y.command "$ev diff-command"
git config diff.external "$ev diff-external"
git config core.fsmonitor "$ev core-fsmonitor"
git config core.pager "$ev core-pager"
git config pager.status "$ev pager-status"
git config pager.log "$ev pager-log"
git config gpg.program "$PWD/gpg-evil.sh"
git config log.showSignature true
printf '#!/bin/sh\ntouch "%s/PWNED-gpg-program"\nexit 1\n' "$PWD" > gpg-evil.sh && chmod 755 gpg-evil.sh
printf '[filter "inc"]\n\tclean = %s include-filter\n' "$ev" > included.cfg
git config include.path "$PWD/included.cfg"
printf 'a.txt filter=x diff=x\n*.md filter=inc\n' > .gitattributes
mkdir -p .git/info && printf 'b.dat filter=p diff=y\n' > .git/info/attributes
printf 'doc\n' > c.md
# a signed-looking commit, so log.showSignature has something to verify
t=$(git rev-parse HEAD^{tree}); p=$(git rev-parse HEAD)
printf 'tree %s\nparent %s\nauthor a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----\n\nsigned\n' "$t" "$p" > c.txt
git update-ref HEAD "$(git hash-object -t commit -w c.txt)"
# modified files, so status and diff must look at their content
printf 'two\n' >> a.txt && printf 'y\n' >> b.dat
rm -f PWNED-*
echo planted
`;

describe('red team: planted git config (bubblewrap, kernel as root)', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await bootRig({
      sandbox: 'bubblewrap',
      config: {
        cli_tools: [
          'git_status',
          'git_log',
          { name: 'git_diff', description: 'diff', command: 'git', args: ['diff'], writes: false },
          { name: 'git_diff_rw', description: 'diff', command: 'git', args: ['diff'], writes: true },
        ],
      },
    });
  });
  afterAll(async () => {
    await rig?.close();
  });

  test('cli.git_status, cli.git_log and declared git tools run none of the planted commands', async () => {
    const { out } = await rig.attack([{ name: 'shell', args: { command: PLANT } }]);
    const planted = shellData(out[0]!);
    expect(planted.stdout, planted.stderr).toContain('planted');
    // The victim: another process in the same workspace, calling only the git tools.
    const { out: v } = await rig.attack([
      { name: 'cli.git_status', args: {} },
      { name: 'cli.git_log', args: { count: 5 } },
      { name: 'cli.git_diff', args: {} },
      { name: 'cli.git_diff_rw', args: {} },
    ]);
    const pwned = readdirSync(rig.workspace).filter((n) => n.startsWith('PWNED-'));
    expect(pwned, v.map((o) => o.output).join('\n')).toEqual([]);
    // The tools still work: status sees the change, log the commits, diff the content.
    const [status, log, diff, diffRw] = v.map((o) => shellData(o));
    expect(status?.exit_code, status?.stderr).toBe(0);
    expect(status?.stdout).toMatch(/M a\.txt/);
    expect(log?.exit_code, log?.stderr).toBe(0);
    expect(log?.stdout).toMatch(/signed\n.*one/s);
    expect(diff?.stdout, diff?.stderr).toContain('+two');
    // A writing git reads the repository's config in place; what it names is disarmed, and a planted
    // diff.external fails the diff closed instead of running (src/io/git-safe.ts).
    expect(`${diffRw?.stdout}${diffRw?.stderr}`).toMatch(/\+two|external diff died/);
  });

  test('a .git swapped for a gitfile pointing at a planted config is refused, not followed', async () => {
    const swap = [
      'rm -rf PWNED-* real-git && mv .git real-git',
      `git --git-dir=real-git config core.fsmonitor "$PWD/evil.sh fsmonitor-gitfile"`,
      'echo "gitdir: real-git" > .git',
    ].join(' && ');
    const { out } = await rig.attack([
      { name: 'shell', args: { command: swap } },
      { name: 'cli.git_status', args: {} },
    ]);
    expect(shellData(out[0]!).exit_code, out[0]!.output).toBe(0);
    const status = shellData(out[1]!);
    expect(status.exit_code).not.toBe(0);
    expect(status.stderr).toMatch(/\.git is a file or a link/);
    expect(readdirSync(rig.workspace).filter((n) => n.startsWith('PWNED-'))).toEqual([]);
  });
});
