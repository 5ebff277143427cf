/**
 * Roles mean something: a caller below admin may only spawn processes whose policy is the configured
 * default or tighter. narrowPolicy() merges a requested policy into the base (blocked_paths and ask_tools
 * can only grow) and refuses, naming every field, a request that would raise the level, widen paths,
 * hosts or tools, drop an approval, or raise a limit. The same check decides whether a non-admin API
 * caller may run tools under a live process's policy.
 */
import { sep } from 'node:path';
import { KernelError } from '../errors.js';
import { toolMatches } from './permissions.js';
import { isPrivateAddress, PERMISSION_LEVELS, SecurityPolicy, type SecurityPolicyOptions } from './policy.js';

type Options = ReturnType<SecurityPolicy['toJSON']>;

const LIMITS = [
  ['max_memory_mb', 'memoryMb'],
  ['max_cpu_seconds', 'cpuSeconds'],
  ['max_processes', 'processes'],
  ['max_file_size_mb', 'fileSizeMb'],
  ['max_wall_seconds', 'wallSeconds'],
] as const;

function within(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

function privateLiteral(h: string): boolean {
  return h === 'localhost' || isPrivateAddress(h);
}

function hostCovered(base: SecurityPolicy, host: string, port: number): boolean {
  return base
    .networkEntries()
    .some(
      (b) =>
        b.ports.includes(port) &&
        (b.host === host ||
          (b.host === '*' && !privateLiteral(host)) ||
          (b.host.startsWith('*.') && host.endsWith(b.host.slice(1)) && host.length > b.host.length - 1)),
    );
}

/** Every way `p` is wider than `base` (empty when it is the same or tighter). */
export function widenings(base: SecurityPolicy, p: SecurityPolicy): string[] {
  const out: string[] = [];
  if (PERMISSION_LEVELS.indexOf(p.level) > PERMISSION_LEVELS.indexOf(base.level))
    out.push(`permission_level "${p.level}" is above the configured "${base.level}"`);
  for (const a of p.allowedPaths)
    if (!base.allowedPaths.some((r) => within(a, r))) out.push(`allowed_paths adds ${a}`);
  for (const b of base.blockedPaths)
    if (!p.blockedPaths.some((x) => within(b, x))) out.push(`blocked_paths drops ${b}`);
  for (const e of p.networkEntries())
    for (const port of e.ports)
      if (!hostCovered(base, e.host, port)) out.push(`network_allow adds ${e.host}:${port}`);
  if (base.allowedTools) {
    if (!p.allowedTools) out.push('allowed_tools is dropped (the configured policy restricts tools)');
    else
      for (const t of p.allowedTools)
        if (!base.allowedTools.some((b) => b === t || (!t.includes('*') && toolMatches(b, t))))
          out.push(`allowed_tools adds ${t}`);
  }
  for (const a of base.askTools) if (!p.askTools.includes(a)) out.push(`ask_tools drops ${a}`);
  // Joining a shared workspace sees (and can plant files for) every process in it: only the configured one.
  if (p.workspace !== undefined && p.workspace !== base.workspace)
    out.push(`workspace "${p.workspace}" joins a shared workspace the configured policy does not name`);
  for (const [, key] of LIMITS)
    if (p.limits[key] > base.limits[key]) out.push(`${key} ${p.limits[key]} is above ${base.limits[key]}`);
  return out;
}

/**
 * The policy a non-admin caller gets: `requested` over `base`, blocked_paths and ask_tools unioned.
 * Throws EPERM naming every widening; EINVAL when the request is not a valid policy.
 */
export function narrowPolicy(base: SecurityPolicy, requested: Record<string, unknown>): Options {
  const b = base.toJSON();
  const req = requested as SecurityPolicyOptions;
  const merged: SecurityPolicyOptions = {
    ...b,
    ...req,
    blocked_paths: [...new Set([...b.blocked_paths, ...(req.blocked_paths ?? [])])],
    ask_tools: [...new Set([...b.ask_tools, ...(req.ask_tools ?? [])])],
  };
  const p = new SecurityPolicy(merged);
  const wider = widenings(base, p);
  if (wider.length) {
    throw new KernelError(
      'EPERM',
      `only an admin may spawn a process with a wider policy than the configured default: ${wider.join('; ')}`,
      { details: { widenings: wider, rule: 'role' } },
    );
  }
  return p.toJSON();
}
