/**
 * The vocabulary policies speak: what a tool may touch (`Permission`) and how a policy names tools
 * (`toolMatches`: exact, `ns.*` for a whole namespace, or `*`). Tools (src/io) declare permissions in these
 * words; policies (./policy.ts) decide on them. Security imports nothing from io.
 */

export type Permission = 'fs.read' | 'fs.write' | 'net' | 'exec' | 'ipc' | 'mem';

export const PERMISSIONS: readonly Permission[] = ['fs.read', 'fs.write', 'net', 'exec', 'ipc', 'mem'];

/** Matches `name` against a pattern: exact, `ns.*` (a whole namespace) or `*`. */
export function toolMatches(pattern: string, fullName: string): boolean {
  if (pattern === '*' || pattern === fullName) return true;
  if (pattern.endsWith('.*')) return fullName.startsWith(pattern.slice(0, -1));
  return false;
}
