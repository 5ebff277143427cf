/**
 * How a sandboxed stdio MCP server is started. Two things the sandbox takes away are given back here:
 * - `npx <pkg>`: the sandbox has no network and hides ~/.npm, so npx would hang fetching the package
 *   (the 20 s connect timeout the issue found). When the package is installed — beside the config, in the
 *   current project, in this kernel's own node_modules, or in npx's cache — it is run as
 *   `node <its bin>` with its node_modules tree bound read-only; when it is not, the error says how to
 *   install it instead of timing out.
 * - a writable data dir: servers that keep state (server-memory writes memory.json beside its own code,
 *   which is mounted read-only) get `<data_dir>/mcp/<name>/`, bound read-write and announced through
 *   XDG_DATA_HOME / XDG_STATE_HOME and the known per-server variables (MEMORY_FILE_PATH), unless the
 *   entry's `env` sets them.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelError } from '../../errors.js';

export interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Extra read-write binds (the server's data dir). */
  writePaths: string[];
}

/** Environment variables known servers read for where to keep their state, as a file under the data dir. */
const STATE_FILES: Record<string, { env: string; file: string }> = {
  '@modelcontextprotocol/server-memory': { env: 'MEMORY_FILE_PATH', file: 'memory.json' },
};

/** `@scope/name@1.2.3` → `@scope/name`; `name@latest` → `name`. */
export function packageName(spec: string): string {
  const at = spec.lastIndexOf('@');
  return at > 0 ? spec.slice(0, at) : spec;
}

/** Splits `npx [-y|--yes|-q] <pkg> args…` into the package and its arguments; null when not npx-shaped. */
export function parseNpx(command: string, args: readonly string[]): { pkg: string; rest: string[] } | null {
  if (basename(command) !== 'npx') return null;
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-')) {
    // `-p pkg` / `--package pkg` name the package to install, and the command follows: not handled
    if (args[i] === '-p' || args[i]!.startsWith('--package')) return null;
    i++;
  }
  const pkg = args[i];
  return pkg ? { pkg: packageName(pkg), rest: args.slice(i + 1) } : null;
}

/** Where an installed package's package.json is, searched from `roots` and npx's cache. */
export function findPackage(pkg: string, roots: readonly string[]): string | null {
  for (const root of roots) {
    try {
      return createRequire(join(resolve(root), 'noop.js')).resolve(`${pkg}/package.json`);
    } catch {
      // not installed under this root
    }
  }
  const cache = join(process.env.npm_config_cache ?? join(homedir(), '.npm'), '_npx');
  if (existsSync(cache)) {
    for (const d of readdirSync(cache)) {
      const p = join(cache, d, 'node_modules', pkg, 'package.json');
      if (existsSync(p)) return p;
    }
  }
  return null;
}

/** The package's executable for `npx <pkg>`: its only bin, or the one named like the package. */
function binOf(pkgJson: string, pkg: string): string | null {
  const meta = JSON.parse(readFileSync(pkgJson, 'utf8')) as { bin?: string | Record<string, string> };
  if (typeof meta.bin === 'string') return resolve(dirname(pkgJson), meta.bin);
  const bins = Object.entries(meta.bin ?? {});
  const short = pkg.split('/').pop() ?? pkg;
  const hit = bins.find(([n]) => n === short) ?? (bins.length === 1 ? bins[0] : undefined);
  return hit ? resolve(dirname(pkgJson), hit[1]) : null;
}

/** This kernel's install root (its node_modules holds the packages it was installed with). */
function kernelRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
}

export function resolveLaunch(
  spec: { name: string; command: string; args: string[]; env: Record<string, string> },
  o: { dataDir?: string | undefined; roots?: string[] },
): Launch {
  let command = spec.command;
  let args = spec.args;
  let pkg: string | null = null;
  const npx = parseNpx(spec.command, spec.args);
  if (npx) {
    pkg = npx.pkg;
    const roots = [...(o.roots ?? [process.cwd()]), kernelRoot()];
    const pj = findPackage(npx.pkg, roots);
    const bin = pj ? binOf(pj, npx.pkg) : null;
    if (!bin) {
      throw new KernelError(
        'ENOTFOUND',
        `mcp server "${spec.name}": \`npx ${npx.pkg}\` cannot download inside the sandbox (no network) and ${npx.pkg} is not installed; install it (\`npm install ${npx.pkg}\`) or run \`npx -y ${npx.pkg} --help\` once to cache it, then reconnect (or set sandbox: false on this entry)`,
      );
    }
    command = process.execPath;
    args = [bin, ...npx.rest];
  } else if (basename(spec.command) === 'node') {
    const main = spec.args.find((a) => !a.startsWith('-'));
    const m = main ? /node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+)/.exec(main) : null;
    if (m) pkg = m[1]!.replace(/\\/g, '/');
  }
  const env = { ...spec.env };
  const writePaths: string[] = [];
  if (o.dataDir) {
    const dir = resolve(o.dataDir, 'mcp', spec.name);
    // bwrap binds it as root, so the data dir above it stays 0700 (security/sandbox/identity.ts).
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writePaths.push(dir);
    env.XDG_DATA_HOME ??= dir;
    env.XDG_STATE_HOME ??= dir;
    env.AOS_MCP_DATA_DIR ??= dir;
    const known = pkg ? STATE_FILES[pkg] : undefined;
    if (known) env[known.env] ??= join(dir, known.file);
  }
  return { command, args, env, writePaths };
}
