/**
 * What a sandbox without filesystem isolation (`none`) can still check before a command starts: every
 * path the command line names literally — absolute, relative (`..`, `../7/x`), `~/…`, an option's
 * `--file=/x`, a glob's directory — is held against the denials that hold at every level (the kernel's
 * and the user's secrets, other processes' workspaces and their root, per-process /proc entries,
 * blocked_paths). A hit
 * refuses the whole command with EPERM before it runs (audited as a deny, like a file tool's).
 *
 * This is a check, not a boundary: a path the command computes (`d=$(printf ..); cat $d/7/x`, a script)
 * is not seen, and once running the command can reach whatever the kernel's user can. docs/security.md,
 * the banner and /api/v1/health say so; isolation is bubblewrap's (or docker's).
 */

import { dirname } from 'node:path';
import { KernelError } from '../../errors.js';
import type { SecurityPolicy } from '../../security/policy.js';
import { workspaceContainerPaths } from '../../security/secrets.js';

const within = (p: string, root: string) => p === root || p.startsWith(root === '/' ? '/' : `${root}/`);

/** Splits shell text where a word can end; quotes are separators too (a quoted path is still a path). */
const BREAK = /[\s;|&()<>`'"={}]+/;

/** The path-like words of a command line, as the policy would resolve them. */
export function namedPaths(words: readonly string[]): string[] {
  const out = new Set<string>();
  for (const w of words) {
    for (let t of w.split(BREAK)) {
      if (!t || t.includes('$')) continue; // computed: nothing to check (see above)
      const glob = t.search(/[*?[]/);
      if (glob >= 0) {
        const dir = t.lastIndexOf('/', glob);
        if (dir < 0) continue;
        t = t.slice(0, dir + 1);
      }
      if (t === '..' || t === '~' || t.startsWith('~/') || t.includes('/')) out.add(t);
    }
  }
  return [...out];
}

/**
 * Throws EPERM for the first named path the policy denies at every level, or that is the workspaces'
 * root or inside it but outside the process's own workspace (`grep -r x <root>` walks into the others).
 */
export function checkNamedPaths(policy: SecurityPolicy, workspace: string, words: readonly string[]): void {
  const roots = [...new Set(workspaceContainerPaths().map((c) => dirname(c)))];
  for (const p of namedPaths(words)) {
    try {
      const { ws, real } = policy.denyAtEveryLevel(p, workspace);
      const root = roots.find((r) => within(real, r) && !within(real, ws) && !within(r, ws));
      if (root)
        throw new KernelError(
          'EPERM',
          `access to ${p} is the workspaces' root ${root} or inside it, where other processes' workspaces are`,
          { details: { path: p, resolved: real, rule: 'other_workspace' } },
        );
    } catch (err) {
      if (!(err instanceof KernelError)) throw err;
      throw new KernelError(
        'EPERM',
        `refused before it started: the command names ${p}, and ${err.message.replace(/^access to \S+ is /, 'that is ')} (the none sandbox cannot isolate a running command, so the paths a command names are checked first)`,
        { details: { ...err.details, named: p, sandbox: 'none' } },
      );
    }
  }
}
