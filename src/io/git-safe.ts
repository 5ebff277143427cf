/**
 * git without the repository's commands. git runs programs a repository's config names — filter drivers
 * (selected by .gitattributes or .git/info/attributes), diff drivers and diff.external, core.fsmonitor,
 * pagers, gpg.program under log.showSignature, included files naming any of them — and the workspace is
 * every process's to write, so what one process plants runs under the policy of the next one to call a
 * git tool. A denylist of keys is always one key behind git; so the kernel hands git a config of its
 * own instead:
 *   - the kernel reads `<workspace>/.git/config` once (policy-checked, descriptor-verified, regular file,
 *     bounded) and keeps only an allowlist of keys that name no program (repository format, line
 *     endings, status/diff/log display, branch tracking); includes are never followed;
 *   - inside the sandbox a private git directory is assembled (`mktemp -d`: tmpfs in bubblewrap) with that
 *     config and HEAD, the repository's refs, logs, info and packed-refs linked in; git runs with
 *     GIT_DIR there, GIT_WORK_TREE the workspace, GIT_OBJECT_DIRECTORY and GIT_INDEX_FILE the real ones.
 *     The repository's own config file is never read by that git, so a change to it between the kernel's
 *     read and git's start changes nothing. With no driver defined, attributes select none.
 * That is for git tools declared read-only (`writes: false`, the shipped cli.git_status / cli.git_log):
 * a writing git (commit, checkout) must update HEAD, packed-refs and config in place. A writing git tool
 * gets the fixed overrides below plus an empty override for every driver the snapshot defines — which a
 * process rewriting the config at that moment can race; docs/security.md says so.
 */
import { join } from 'node:path';
import * as P from '../param.js';
import { openRegularForRead, readPrefix } from './builtin/fs-safe.js';
import type { ToolContext } from './tool.js';

/** Command-line config for every git the kernel runs: wins over the repository's config for these keys. */
export const GIT_SAFE_ARGS = [
  '--no-pager',
  ...[
    'core.fsmonitor=false',
    'core.hooksPath=/dev/null',
    'core.pager=cat',
    'core.editor=false',
    'sequence.editor=false',
    'core.sshCommand=false',
    'core.askPass=',
    'core.gitProxy=',
    'core.alternateRefsCommand=',
    'credential.helper=',
    'gpg.program=false',
    'gpg.openpgp.program=false',
    'gpg.ssh.program=false',
    'gpg.x509.program=false',
    'gpg.ssh.defaultKeyCommand=',
    'log.showSignature=false',
    'protocol.ext.allow=never',
    'uploadpack.packObjectsHook=',
  ].flatMap((kv) => ['-c', kv]),
];

export const GIT_SAFE_ENV = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  GIT_OPTIONAL_LOCKS: '0',
  GIT_PAGER: 'cat',
  GIT_ATTR_NOSYSTEM: '1',
};

interface Entry {
  section: string; // lower case
  sub: string | null; // case-sensitive
  key: string; // lower case
  value: string | null; // null: a bare key (boolean true)
}

/** Keys that name no program and that status, log and diff read. `section.key` or `section.*.key`. */
const ALLOWED = new Set([
  'core.repositoryformatversion',
  'core.bare',
  'core.filemode',
  'core.ignorecase',
  'core.precomposeunicode',
  'core.symlinks',
  'core.logallrefupdates',
  'core.autocrlf',
  'core.eol',
  'core.safecrlf',
  'core.quotepath',
  'core.abbrev',
  'core.checkstat',
  'core.trustctime',
  'core.commentchar',
  'extensions.objectformat',
  'extensions.refstorage',
  'remote.*.fetch',
  'branch.*.remote',
  'branch.*.merge',
  'branch.*.rebase',
  'status.showuntrackedfiles',
  'status.relativepaths',
  'status.branch',
  'status.short',
  'status.showstash',
  'status.aheadbehind',
  'status.renames',
  'status.renamelimit',
  'diff.renames',
  'diff.renamelimit',
  'diff.noprefix',
  'diff.mnemonicprefix',
  'diff.algorithm',
  'diff.context',
  'diff.indentheuristic',
  'log.date',
  'log.decorate',
  'log.abbrevcommit',
  'log.showroot',
  'color.ui',
  'i18n.commitencoding',
  'i18n.logoutputencoding',
  'user.name',
  'user.email',
  'init.defaultbranch',
]);

const allowed = (e: Entry) =>
  ALLOWED.has(e.sub === null ? `${e.section}.${e.key}` : `${e.section}.*.${e.key}`);

/**
 * git's config syntax (sections `[s]`, `[s "sub"]`, `[s.sub]`; `key = value`, bare keys; quotes, escapes,
 * comments, continuation lines). A line it cannot read is skipped: nothing unread reaches git.
 */
export function parseGitConfig(text: string): Entry[] {
  const out: Entry[] = [];
  let section: string | null = null;
  let sub: string | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] as string).replace(/\r$/, '');
    const head = /^\s*\[\s*([A-Za-z0-9.-]+)\s*(?:"((?:[^"\\\n]|\\.)*)")?\s*\]\s*(.*)$/.exec(line);
    if (head) {
      const name = (head[1] as string).toLowerCase();
      if (head[2] !== undefined) {
        section = name;
        sub = (head[2] as string).replace(/\\(.)/g, '$1');
      } else {
        const dot = name.indexOf('.');
        section = dot < 0 ? name : name.slice(0, dot);
        sub = dot < 0 ? null : name.slice(dot + 1);
      }
      line = head[3] as string;
      if (!line.trim() || /^\s*[#;]/.test(line)) continue;
    }
    if (/^\s*([#;].*)?$/.test(line) || section === null) continue;
    const kv = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*(=(.*))?$/.exec(line);
    if (!kv) continue;
    if (kv[2] === undefined) {
      out.push({ section, sub, key: (kv[1] as string).toLowerCase(), value: null });
      continue;
    }
    let raw = kv[3] as string;
    // A trailing backslash outside quotes continues the value on the next line.
    while (/(^|[^\\])(\\\\)*\\$/.test(raw) && i + 1 < lines.length) raw = raw.slice(0, -1) + lines[++i];
    const value = parseValue(raw);
    if (value !== null) out.push({ section, sub, key: (kv[1] as string).toLowerCase(), value });
  }
  return out;
}

function parseValue(raw: string): string | null {
  let v = '';
  let quoted = false;
  let pendingSpace = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c === '\\') {
      const n = raw[++i];
      const esc: Record<string, string> = { n: '\n', t: '\t', b: '\b', '"': '"', '\\': '\\' };
      if (n === undefined || !(n in esc)) return null;
      v += pendingSpace + esc[n];
      pendingSpace = '';
    } else if (c === '"') {
      v += pendingSpace;
      pendingSpace = '';
      quoted = !quoted;
    } else if (!quoted && (c === '#' || c === ';')) break;
    else if (!quoted && (c === ' ' || c === '\t')) pendingSpace += v ? c : '';
    else {
      v += pendingSpace + c;
      pendingSpace = '';
    }
  }
  return quoted ? null : v;
}

const quote = (s: string) =>
  `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;

/** The allowlisted entries as a config file git reads exactly (NUL and control bytes dropped). */
export function safeGitConfig(entries: readonly Entry[]): string {
  const by = new Map<string, Entry[]>();
  for (const e of entries) {
    if (!allowed(e) || /[\0\n]/.test(`${e.sub ?? ''}${e.value ?? ''}`)) continue;
    const head = e.sub === null ? `[${e.section}]` : `[${e.section} ${quote(e.sub)}]`;
    by.set(head, [...(by.get(head) ?? []), e]);
  }
  let text = '';
  for (const [head, es] of by) {
    text += `${head}\n`;
    for (const e of es) text += `\t${e.key}${e.value === null ? '' : ` = ${quote(e.value)}`}\n`;
  }
  return text;
}

/** `-c` overrides that disarm every driver the snapshot defines (filter, diff, merge). */
export function driverOverrides(entries: readonly Entry[]): string[] {
  // Empty filters are no filters; an empty diff or merge program is an error ("cannot run"), so those
  // get harmless ones: textconv `cat` (the file as it is), an external diff or merge driver that fails.
  const keys: Record<string, string[]> = {
    filter: ['clean=', 'smudge=', 'process='],
    diff: ['command=false', 'textconv=cat'],
    merge: ['driver=false'],
  };
  const out = new Set<string>();
  for (const e of entries) {
    // Only where set: an empty diff.external is a program git cannot run, not "none".
    if (e.section === 'diff' && e.sub === null && e.key === 'external') out.add('diff.external=false');
    const ks = keys[e.section];
    if (!ks || e.sub === null || /[=\0\n]/.test(e.sub)) continue;
    for (const k of ks) out.add(`${e.section}.${e.sub}.${k}`);
  }
  return [...out].flatMap((kv) => ['-c', kv]);
}

/** The workspace repository's config, read once without following links; '' when there is none. */
export async function readRepoConfig(ctx: ToolContext): Promise<string> {
  let f: Awaited<ReturnType<typeof openRegularForRead>>;
  try {
    f = await openRegularForRead(ctx.policy, join(ctx.workspace, '.git', 'config'), ctx.workspace);
  } catch {
    return ''; // no repository, or not a plain one: git finds nothing to trust either way
  }
  try {
    return (await readPrefix(f, P.GIT_CONFIG_MAX_BYTES)).toString('utf8');
  } finally {
    await f.fh.close();
  }
}

/**
 * The argv prefix that runs git against a private git directory holding `config` (see the header).
 * Without `.git` in the workspace, git runs as it is (and finds no repository above it); a `.git` that is
 * a file (gitdir: …) or a link is refused — it would point git at a config the kernel did not read.
 */
export function privateGitDirCommand(config: string): {
  command: string;
  args: string[];
  env: Record<string, string>;
} {
  const script = [
    'ws=$PWD',
    'export GIT_CEILING_DIRECTORIES="${ws%/*}"',
    'if [ ! -e "$ws/.git" ] && [ ! -L "$ws/.git" ]; then exec git "$@"; fi',
    'if [ ! -d "$ws/.git" ] || [ -L "$ws/.git" ]; then echo "aos: $ws/.git is a file or a link (a linked worktree, a submodule, or planted): the read-only git tools only use a .git directory" >&2; exit 128; fi',
    'g=$(mktemp -d) || exit 125',
    'trap \'rm -rf "$g"\' EXIT',
    'printf "%s" "$AOS_GIT_CONFIG" > "$g/config"',
    'cat "$ws/.git/HEAD" > "$g/HEAD" 2>/dev/null || echo "ref: refs/heads/main" > "$g/HEAD"',
    'for e in refs logs info packed-refs shallow; do [ -e "$ws/.git/$e" ] && ln -s "$ws/.git/$e" "$g/$e"; done',
    'mkdir -p "$g/refs"',
    'GIT_DIR="$g" GIT_WORK_TREE="$ws" GIT_OBJECT_DIRECTORY="$ws/.git/objects" GIT_INDEX_FILE="$ws/.git/index" git "$@"',
  ].join('\n');
  return {
    command: '/bin/sh',
    args: ['-c', script, 'git'],
    env: { AOS_GIT_CONFIG: config },
  };
}
