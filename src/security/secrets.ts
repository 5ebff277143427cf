/**
 * The kernel's own secrets, out of an agent's reach. At boot the kernel names what no process may touch —
 * its data dir (database, admin token, audit signing key, anchors), its config file, its plugin files —
 * and these join a fixed deny list (credential files in the home directories, every process's environ)
 * that every SecurityPolicy checks before anything else, at every level, and that no policy can lift
 * (it is not part of a policy, so neither a spawn nor a checkpoint carries it). The sandbox masks the same
 * paths wherever a bind would expose them. Known secret values (provider keys, the admin token) are
 * registered with the redactor, so they are masked in any encoding the redactor knows.
 * The data dir itself is made 0700 with files 0600 — PGlite writes 0666 — and every loose file found at
 * boot is named in a warning; a shared directory (/, /tmp, a home) is refused as data dir (ECONFIG).
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { KernelError } from '../errors.js';
import { logger } from '../util/log.js';
import { addKnownSecret } from '../util/redact.js';
import { sharedDirReason } from './sandbox/identity.js';

const log = logger('security');

const protectedRoots = new Set<string>();

/** Credential files and directories of a home directory (`~/.ssh`, `~/.npmrc`, cloud CLIs, …). */
function credentialPaths(home: string): string[] {
  return [
    '.ssh',
    '.aws',
    '.azure',
    '.gnupg',
    '.config/gcloud',
    '.config/gh',
    '.docker',
    '.kube',
    '.netrc',
    '.pgpass',
    '.npmrc',
    '.yarnrc',
    '.pypirc',
    '.git-credentials',
    '.cargo/credentials',
    '.cargo/credentials.toml',
    '.terraform.d/credentials.tfrc.json',
    '.bash_history',
    '.zsh_history',
    '.psql_history',
    '.python_history',
    '.node_repl_history',
  ].map((p) => join(home, p));
}

/** The fixed deny list: system secrets and the credentials of the kernel's user and of root. */
export function fixedDenyList(): string[] {
  const homes = [...new Set([homedir(), '/root'])];
  return [
    '/etc/shadow',
    '/etc/gshadow',
    '/etc/sudoers',
    '/etc/sudoers.d',
    '/etc/ssl/private',
    '/etc/ssh',
    ...homes.flatMap(credentialPaths),
    ...protectedRoots,
  ];
}

/** /proc entries of a process (self, thread-self, any pid, any task): environ, memory, fds, cmdline. */
const PROC_PROCESS = /^\/proc\/(?:self|thread-self|\d+)(?:\/task\/\d+)?(?:\/|$)/;

/** Whether a resolved path is a per-process /proc entry (every one of them is denied to file tools). */
export function isProcessProcPath(real: string): boolean {
  return PROC_PROCESS.test(real);
}

/** Adds paths that no policy may lift (absolute, resolved). */
export function protectPaths(paths: Iterable<string>): void {
  for (const p of paths) if (p) protectedRoots.add(resolve(p));
}

const workspaceContainers = new Set<string>();

/**
 * Registers the directories that hold processes' workspaces (`<root>/proc`, `<root>/shared`): a path in
 * one of them is refused to every process, at every level, unless it lies in the process's own
 * workspace, and the sandbox masks them wherever a bind would expose them.
 */
export function registerWorkspaceContainers(paths: Iterable<string>): void {
  for (const p of paths) workspaceContainers.add(resolve(p));
}

/** Where workspaces are kept (see registerWorkspaceContainers). */
export function workspaceContainerPaths(): string[] {
  return [...workspaceContainers];
}

/** The container `real` (resolved) lies in when it is another process's workspace, else null. */
export function foreignWorkspace(real: string, ownWorkspace: string): string | null {
  const inside = (p: string, root: string) => p === root || p.startsWith(`${root}/`);
  for (const c of workspaceContainers)
    if (inside(real, c) && !inside(real, ownWorkspace) && !inside(c, ownWorkspace)) return c;
  return null;
}

/** Paths the kernel registered at boot (data dirs, config files, plugin files). */
export function protectedPaths(): string[] {
  return [...protectedRoots];
}

export interface KernelSecretsInput {
  dataDir: string;
  /** The agents' workspace: never denied, even when it lies inside the data dir. */
  workspace: string;
  configFile: string | null;
  plugins: ReadonlyArray<string | { module: string }>;
  apiKeys: Record<string, string>;
}

/** Boot step: protect the kernel's files, register its secret values, tighten the data dir. */
export function guardKernelSecrets(o: KernelSecretsInput): void {
  const dataDir = resolve(o.dataDir);
  const base = o.configFile ? dirname(o.configFile) : process.cwd();
  const pluginFiles = o.plugins
    .map((p) => (typeof p === 'string' ? p : p.module))
    .filter((m) => m.startsWith('.') || isAbsolute(m))
    .map((m) => resolve(base, m));
  const workspace = resolve(o.workspace);
  for (const p of [dataDir, ...(o.configFile ? [o.configFile] : []), ...pluginFiles.map((f) => dirname(f))]) {
    const inside = workspace === p || workspace.startsWith(`${p}/`);
    if (!inside) {
      protectPaths([p]);
      continue;
    }
    // The workspace lives inside it: protect everything there except the way down to the workspace.
    log.warn(`the workspace ${workspace} is inside ${p}; only ${p}'s other entries are protected`);
    let dir = p;
    for (const part of workspace.slice(p.length + 1).split('/')) {
      if (!existsSync(dir)) break;
      for (const name of readdirSync(dir)) if (name !== part) protectPaths([join(dir, name)]);
      dir = join(dir, part);
    }
  }
  for (const [name, value] of Object.entries(o.apiKeys)) addKnownSecret(value, `${name}-key`);
  for (const env of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'AOS_ADMIN_TOKEN']) {
    const v = process.env[env];
    if (v) addKnownSecret(v, env.toLowerCase().replace(/_/g, '-'));
  }
  secureDataDir(dataDir);
}

/**
 * Makes the data dir private: the dir 0700, every file under it 0600 and every directory 0700, except
 * `mcp/` (servers' own state, owned by the sandbox uid). Returns the loose paths it found (and fixed),
 * named in one warning. A shared directory is refused with ECONFIG before anything changes: the walk
 * would make other programs' files owner-only (a data_dir of /tmp or $HOME).
 */
export function secureDataDir(dataDir: string): string[] {
  if (existsSync(dataDir)) {
    const why = sharedDirReason(dataDir);
    if (why)
      throw new KernelError(
        'ECONFIG',
        `data_dir ${dataDir} cannot be the kernel's data dir: ${why}, and the kernel makes its data dir private (0700, every file in it 0600), which would change other programs' files; set data_dir to a directory of its own (e.g. ${join(dataDir, 'aos-data')})`,
        { details: { path: dataDir } },
      );
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const loose: string[] = [];
  // Whether another user could reach the files: only through a directory on the way that was open to
  // them. Inside a private directory a file's own mode is moot — PGlite creates its files 0644/0666 and
  // they are made 0600 anyway, silently; a warning is for what others could actually have read or written.
  let reachable = false;
  const top = lstatSync(dataDir);
  const topMode = top.mode & 0o777;
  const wantTop = topMode & 0o700;
  if (topMode !== wantTop) {
    loose.push(`${dataDir} (${topMode.toString(8)})`);
    if (topMode & 0o011) reachable = true;
    chmodSync(dataDir, wantTop);
  }
  const walk = (dir: string, depth: number, open: boolean) => {
    if (depth > 32) return;
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (depth === 0 && name === 'mcp') continue;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) continue;
      const mode = st.mode & 0o777;
      if (st.isDirectory()) {
        if (mode & 0o077) {
          loose.push(`${p}/ (${mode.toString(8)})`);
          if (open) reachable = true;
          chmodSync(p, mode & 0o700);
        }
        walk(p, depth + 1, open && (mode & 0o011) !== 0);
      } else if (mode & 0o077) {
        loose.push(`${p} (${mode.toString(8)})`);
        if (open) reachable = true;
        chmodSync(p, mode & 0o600);
      }
    }
  };
  if (existsSync(dataDir)) walk(dataDir, 0, (topMode & 0o011) !== 0);
  if (loose.length) {
    const shown = loose.slice(0, 20).join(', ');
    const msg = `data dir ${dataDir} had ${loose.length} file(s) with modes open to other users: ${shown}${loose.length > 20 ? `, … (${loose.length - 20} more)` : ''}; they are now owner-only (0600 files, 0700 directories)`;
    if (reachable)
      log.warn(`${msg}. Other users could reach them until now: rotate the admin token if that matters`);
    else log.debug(`${msg} (inside a private directory: nobody else could reach them)`);
  }
  return loose;
}
