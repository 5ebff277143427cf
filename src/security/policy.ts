/**
 * Per-process security policy: decides *whether* (the sandbox in ./sandbox.ts decides *how*). Permission
 * levels grant tool permissions and path access; paths are resolved through realpath, so symlinks and
 * `..` cannot escape; hosts are checked against a domain allowlist. Accepts the seeds' snake_case shape.
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { KernelError } from '../errors.js';
import * as P from '../param.js';
import { type Permission, toolMatches } from './permissions.js';
import { fixedDenyList, foreignWorkspace, isProcessProcPath, protectedPaths } from './secrets.js';

export type PermissionLevel = 'readonly' | 'standard' | 'elevated' | 'admin';
export const PERMISSION_LEVELS: readonly PermissionLevel[] = ['readonly', 'standard', 'elevated', 'admin'];

const LEVEL_PERMS: Record<PermissionLevel, readonly Permission[]> = {
  readonly: ['fs.read', 'mem'],
  standard: ['fs.read', 'fs.write', 'exec', 'mem', 'ipc', 'net'],
  elevated: ['fs.read', 'fs.write', 'exec', 'mem', 'ipc', 'net'],
  admin: ['fs.read', 'fs.write', 'exec', 'mem', 'ipc', 'net'],
};

/**
 * The fixed deny list every policy starts with (credential files, system secrets). Policies may add to it,
 * never remove from it; the kernel's own files (./secrets.ts: data dir, config, plugins) and every
 * per-process /proc entry are denied on top of it by resolvePath, outside any policy.
 */
export function defaultBlockedPaths(): string[] {
  return fixedDenyList().filter((p) => !protectedPaths().includes(p));
}

export interface ResourceLimits {
  memoryMb: number;
  cpuSeconds: number;
  processes: number;
  fileSizeMb: number;
  wallSeconds: number;
}

/** The seeds' shape (snake_case), as in config.yaml `security.default_policy`. All keys optional. */
export interface SecurityPolicyOptions {
  permission_level?: PermissionLevel;
  allowed_paths?: string[];
  blocked_paths?: string[];
  network_allow?: string[];
  allowed_tools?: string[];
  ask_tools?: string[];
  max_memory_mb?: number;
  max_cpu_seconds?: number;
  max_processes?: number;
  max_file_size_mb?: number;
  max_wall_seconds?: number;
  /**
   * A named workspace shared with every process that names it (`<security.workspace>/shared/<name>`);
   * absent: the process works in a directory of its own (`<security.workspace>/proc/<pid>`).
   */
  workspace?: string;
}

/** What a shared workspace may be called: one path component, no dots first (so never `.` or `..`). */
export const WORKSPACE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

export type ToolDecision = { decision: 'allow' | 'ask' | 'deny'; reason: string };

export class SecurityPolicy {
  readonly level: PermissionLevel;
  readonly allowedPaths: readonly string[];
  readonly blockedPaths: readonly string[];
  readonly networkAllow: readonly string[];
  readonly allowedTools: readonly string[] | undefined;
  readonly askTools: readonly string[];
  readonly limits: Readonly<ResourceLimits>;
  /** The shared workspace this process works in, or undefined for a workspace of its own. */
  readonly workspace: string | undefined;

  constructor(opts: SecurityPolicyOptions = {}) {
    const level = opts.permission_level ?? 'standard';
    if (!PERMISSION_LEVELS.includes(level)) {
      throw new KernelError(
        'EINVAL',
        `permission_level "${String(level)}" is not one of ${PERMISSION_LEVELS.join(', ')}`,
      );
    }
    this.level = level;
    this.allowedPaths = (opts.allowed_paths ?? []).map((p) => realRoot(p));
    this.blockedPaths = [
      ...new Set([...defaultBlockedRoots(), ...(opts.blocked_paths ?? []).map((p) => realRoot(p))]),
    ];
    this.networkAllow = (opts.network_allow ?? []).map((d) => d.toLowerCase().trim());
    this.allowedTools = opts.allowed_tools;
    this.askTools = opts.ask_tools ?? [];
    if (
      opts.workspace !== undefined &&
      (typeof opts.workspace !== 'string' || !WORKSPACE_NAME.test(opts.workspace))
    )
      throw new KernelError(
        'EINVAL',
        `workspace must name a shared workspace (letters, digits, '_', '.', '-'; 1–64, not starting with '.'), got ${JSON.stringify(opts.workspace)}`,
      );
    this.workspace = opts.workspace;
    const num = (v: number | undefined, def: number, key: string) => {
      if (v === undefined) return def;
      if (!Number.isFinite(v) || v <= 0)
        throw new KernelError('EINVAL', `${key} must be a positive number, got ${v}`);
      return v;
    };
    this.limits = Object.freeze({
      memoryMb: num(opts.max_memory_mb, P.SANDBOX_MEMORY_MB, 'max_memory_mb'),
      cpuSeconds: num(opts.max_cpu_seconds, P.SANDBOX_CPU_SECONDS, 'max_cpu_seconds'),
      processes: num(opts.max_processes, P.SANDBOX_MAX_PROCESSES, 'max_processes'),
      fileSizeMb: num(opts.max_file_size_mb, P.SANDBOX_FILE_SIZE_MB, 'max_file_size_mb'),
      wallSeconds: num(opts.max_wall_seconds, P.SANDBOX_WALL_SECONDS, 'max_wall_seconds'),
    });
  }

  /** The policy as the seeds' snake_case options (for checkpoints and child processes). */
  toJSON(): Required<Omit<SecurityPolicyOptions, 'allowed_tools' | 'workspace'>> & {
    allowed_tools?: string[];
    workspace?: string;
  } {
    return {
      permission_level: this.level,
      allowed_paths: [...this.allowedPaths],
      blocked_paths: [...this.blockedPaths],
      network_allow: [...this.networkAllow],
      ...(this.allowedTools ? { allowed_tools: [...this.allowedTools] } : {}),
      ask_tools: [...this.askTools],
      max_memory_mb: this.limits.memoryMb,
      max_cpu_seconds: this.limits.cpuSeconds,
      max_processes: this.limits.processes,
      max_file_size_mb: this.limits.fileSizeMb,
      max_wall_seconds: this.limits.wallSeconds,
      ...(this.workspace !== undefined ? { workspace: this.workspace } : {}),
    };
  }

  permits(perm: Permission): boolean {
    return LEVEL_PERMS[this.level].includes(perm);
  }

  /** Whether a tool may run: level grants its permissions, allowed_tools lists it, ask_tools asks first. */
  checkTool(fullName: string, permissions: readonly Permission[]): ToolDecision {
    if (this.allowedTools && !this.allowedTools.some((p) => toolMatches(p, fullName))) {
      return { decision: 'deny', reason: `tool "${fullName}" is not in this process's allowed_tools` };
    }
    const missing = permissions.filter((p) => !this.permits(p));
    if (missing.length) {
      return {
        decision: 'deny',
        reason: `tool "${fullName}" needs ${missing.join(', ')}, which permission level "${this.level}" does not grant`,
      };
    }
    if (this.askTools.some((p) => toolMatches(p, fullName))) {
      return { decision: 'ask', reason: `tool "${fullName}" is marked ask: a human must approve it` };
    }
    return { decision: 'allow', reason: `level ${this.level}` };
  }

  /**
   * Resolves `path` (relative to `workspace`) to a real absolute path and checks it. Symlinks are followed
   * for every existing component, so a link inside the workspace that points outside is caught; `..` is
   * resolved before the check. Throws EPERM naming the path and the rule.
   */
  resolvePath(path: string, mode: 'read' | 'write', workspace: string): string {
    if (typeof path !== 'string' || path.length === 0)
      throw new KernelError('EINVAL', 'path must be a non-empty string');
    if (path.includes('\0')) throw new KernelError('EINVAL', 'path contains a NUL byte');
    const { ws, abs, real } = this.denyAtEveryLevel(path, workspace);
    if (this.level === 'admin') return real;
    const roots = mode === 'read' || this.level === 'elevated' ? [ws, ...this.allowedPaths] : [ws];
    if (mode === 'write' && !this.permits('fs.write')) {
      throw new KernelError('EPERM', `permission level "${this.level}" cannot write files (${path})`, {
        details: { path, rule: 'permission_level' },
      });
    }
    if (!roots.some((r) => within(real, r))) {
      const why = real !== abs ? ` (it resolves through a symlink to ${real})` : '';
      throw new KernelError(
        'EPERM',
        `${mode} access to ${path} is outside the allowed paths${why}; allowed for ${mode}: ${roots.join(', ')}`,
        { details: { path, resolved: real, rule: 'allowed_paths', mode } },
      );
    }
    return real;
  }

  /**
   * The denials that hold at every level, whatever allowed_paths say: per-process /proc entries, the
   * kernel's and the user's secrets, other processes' workspaces, blocked_paths. Throws EPERM naming the
   * rule; returns the resolved forms. Also what the `none` sandbox checks for each path a command names
   * before it starts (src/io/builtin/named-paths.ts).
   */
  denyAtEveryLevel(path: string, workspace: string): { ws: string; abs: string; real: string } {
    const expanded = path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
    const ws = realRoot(workspace);
    const abs = isAbsolute(expanded) ? resolve(expanded) : resolve(ws, expanded);
    const real = realpathLoose(abs);
    if (isProcessProcPath(real) || isProcessProcPath(abs)) {
      throw new KernelError(
        'EPERM',
        `access to ${path} is blocked by policy at every level: per-process /proc entries (environ, memory, fds) belong to the kernel`,
        { details: { path, resolved: real, rule: 'kernel_secrets' } },
      );
    }
    const secret = kernelDenied().find((b) => within(real, b) || within(abs, b));
    if (secret) {
      throw new KernelError(
        'EPERM',
        `access to ${path} is blocked by policy at every level: ${secret} holds the kernel's or the user's secrets, and no policy can lift that`,
        { details: { path, resolved: real, rule: 'kernel_secrets' } },
      );
    }
    const foreign = foreignWorkspace(real, ws) ?? foreignWorkspace(abs, ws);
    if (foreign) {
      throw new KernelError(
        'EPERM',
        `access to ${path} is blocked by policy at every level: it is in another process's workspace (${foreign}); processes share files only through a named workspace (policy workspace: <name>)`,
        { details: { path, resolved: real, rule: 'other_workspace' } },
      );
    }
    const blocked = this.blockedPaths.find((b) => within(real, b) || within(abs, b));
    if (blocked) {
      throw new KernelError('EPERM', `access to ${path} is blocked by policy (blocked path ${blocked})`, {
        details: { path, resolved: real, rule: 'blocked_paths' },
      });
    }
    return { ws, abs, real };
  }

  /**
   * Whether the network allowlist admits `host` by name (no DNS). `*` admits any name and any public IP
   * literal; a loopback or private address (or `localhost`) only when an entry names it exactly.
   */
  hostAllowed(host: string, port?: number): boolean {
    const h = normHost(host);
    const privateLiteral = h === 'localhost' || (isIP(h) !== 0 && isPrivateAddress(h));
    return this.networkEntries().some((e) => {
      if (port !== undefined && !e.ports.includes(port)) return false;
      if (e.host === h) return true;
      if (privateLiteral) return false;
      if (e.host === '*') return true;
      if (e.host.startsWith('*.')) return h.endsWith(e.host.slice(1)) && h.length > e.host.length - 1;
      return false;
    });
  }

  private entries?: Array<{ host: string; ports: readonly number[] }>;

  /** network_allow parsed: `host`, `*.domain`, `*`, each optionally `:port` (default ports 80 and 443). */
  networkEntries(): Array<{ host: string; ports: readonly number[] }> {
    this.entries ??= this.networkAllow.map((raw) => {
      const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(raw);
      const plain = isIP(raw) === 6 ? null : /^(.+):(\d{1,5})$/.exec(raw);
      const [host, port] = bracketed
        ? [bracketed[1] as string, bracketed[2]]
        : plain
          ? [plain[1] as string, plain[2]]
          : [raw, undefined];
      return { host: normHost(host), ports: port ? [Number(port)] : P.NETWORK_DEFAULT_PORTS };
    });
    return this.entries;
  }

  /**
   * Throws EPERM unless `host` (and `port`, when given) is allowed. Call it once with no addresses BEFORE
   * resolving the name (a refused name is never looked up: no DNS exfiltration), then with the resolved
   * addresses: each loopback/private one must be named literally in network_allow (DNS rebinding).
   */
  checkHost(host: string, resolvedIps: readonly string[] = [], port?: number): void {
    if (!this.permits('net')) {
      throw new KernelError('EPERM', `permission level "${this.level}" has no network access`, {
        details: { host, rule: 'permission_level' },
      });
    }
    if (!this.hostAllowed(host)) {
      const h = normHost(host);
      const priv = h === 'localhost' || (isIP(h) !== 0 && isPrivateAddress(h));
      throw new KernelError(
        'EPERM',
        priv
          ? `network access to ${host} is refused: loopback and private addresses are reachable only when network_allow names them exactly ("${h}"), never through "*"`
          : `network access to ${host} is not allowed; add it to network_allow (allowed: ${this.networkAllow.join(', ') || 'none'})`,
        { details: { host, rule: 'network_allow' } },
      );
    }
    if (port !== undefined && !this.hostAllowed(host, port)) {
      throw new KernelError(
        'EPERM',
        `port ${port} of ${host} is not allowed; network_allow admits ports ${P.NETWORK_DEFAULT_PORTS.join(', ')} unless an entry names one ("${normHost(host)}:${port}")`,
        { details: { host, port, rule: 'network_allow' } },
      );
    }
    const priv = resolvedIps.find((ip) => isPrivateAddress(ip) && !this.hostAllowed(ip));
    if (priv) {
      throw new KernelError(
        'EPERM',
        `${host} resolves to private address ${priv}, which network_allow does not name; private addresses are never reached through a name or "*"`,
        { details: { host, ip: priv, rule: 'network_allow' } },
      );
    }
  }
}

function normHost(host: string): string {
  return host
    .toLowerCase()
    .trim()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
}

export function isPrivateAddress(ip: string): boolean {
  const v = ip.toLowerCase().replace(/^\[|\]$/g, '');
  if (v === '::1' || v === '::' || /^fe[89ab]/.test(v) || v.startsWith('fc') || v.startsWith('fd'))
    return true;
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v);
  if (mapped) {
    const hi = Number.parseInt(mapped[1] as string, 16);
    const lo = Number.parseInt(mapped[2] as string, 16);
    return isPrivateAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  const m = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return (
    a === 10 ||
    a === 127 ||
    a === 0 ||
    a >= 224 || // multicast, reserved, broadcast
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) ||
    (a === 100 && b >= 64 && b <= 127)
  );
}

let denyCache: { key: string; roots: string[] } | null = null;
let defaultCache: { key: string; roots: string[] } | null = null;

/**
 * defaultBlockedPaths() resolved, recomputed when the list changes — as kernelDenied() below resolves the
 * same files for every path check: each policy built (one per process) resolved them again, ~2 ms.
 */
function defaultBlockedRoots(): string[] {
  const raw = defaultBlockedPaths();
  const key = raw.join('\0');
  if (defaultCache?.key !== key) defaultCache = { key, roots: raw.map((p) => realRoot(p)) };
  return defaultCache.roots;
}

/** The fixed deny list and the kernel's registered files, resolved (recomputed when one is added). */
function kernelDenied(): string[] {
  const raw = fixedDenyList();
  const key = raw.join('\0');
  if (denyCache?.key !== key) denyCache = { key, roots: [...new Set(raw.map((p) => realRoot(p)))] };
  return denyCache.roots;
}

function within(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

function realRoot(p: string): string {
  const expanded = p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
  return realpathLoose(resolve(expanded));
}

/** realpath of the longest existing prefix, with the missing tail appended (for files not yet created). */
export function realpathLoose(abs: string, depth = 0): string {
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    if (parent === abs) return abs;
    const realParent = realpathLoose(parent, depth);
    const candidate = join(realParent, basename(abs));
    // A dangling symlink: writing through it would create its target, so follow it (bounded, like ELOOP).
    try {
      if (lstatSync(candidate).isSymbolicLink()) {
        if (depth >= 40) throw new KernelError('EPERM', `too many levels of symbolic links at ${abs}`);
        return realpathLoose(resolve(realParent, readlinkSync(candidate)), depth + 1);
      }
    } catch (err) {
      if (err instanceof KernelError) throw err;
    }
    return candidate;
  }
}
