/**
 * Two behaviours that make the simulator act like an instruction-following model on file tasks, which the
 * learning bench and evals rely on (they are rules, and docs/learning.md says so):
 * - it follows explicit instructions in its system context of the form "use X instead of Y" (what learned
 *   lessons say): a planned path that starts with Y is rewritten to start with X;
 * - when a file it read does not exist, it lists the workspace recursively once and reads the entry with
 *   the same file name, if there is one — the "long way round" a first run takes.
 */
import type { ChatMessage, ToolSpec } from '../model.js';

export interface Replacement {
  from: string;
  to: string;
}

const INSTRUCTION = /\buse (\S+) instead of (\S+?)(?=[\s,;)]|$)/g;

/** "use X instead of Y" lines from system messages, longest Y first (the most specific wins). */
export function instructedReplacements(messages: readonly ChatMessage[]): Replacement[] {
  const out: Replacement[] = [];
  for (const m of messages) {
    if (m.role !== 'system' || typeof m.content !== 'string') continue;
    for (const x of m.content.matchAll(INSTRUCTION)) {
      const to = x[1]!.replace(/[.,;:]+$/, '');
      const from = x[2]!.replace(/[.,;:]+$/, '');
      if (from && to && from !== to && !out.some((r) => r.from === from)) out.push({ from, to });
    }
  }
  return out.sort((a, b) => b.from.length - a.from.length);
}

export function applyReplacements(path: string, reps: readonly Replacement[]): string {
  for (const r of reps) {
    if (path === r.from) return r.to;
    if (r.from.endsWith('/') && path.startsWith(r.from)) return r.to + path.slice(r.from.length);
  }
  return path;
}

interface SeenResult {
  name: string;
  content: string;
  args: string;
}

const MISSING = /^error (ENOTFOUND|ENOENT)\b/;

function argPath(args: string): string | null {
  try {
    const a = JSON.parse(args) as Record<string, unknown>;
    return typeof a.path === 'string' ? a.path : null;
  } catch {
    return null;
  }
}

/**
 * After a read of a missing file: a recursive listing (once), then a read of the listed entry with the
 * same file name. Returns the next call, or null when there is nothing left to try.
 */
export function recoverMissingFile(
  results: readonly SeenResult[],
  reader: ToolSpec | undefined,
  lister: ToolSpec | undefined,
  alreadyCalled: (name: string, args: Record<string, unknown>) => boolean,
): { tool: ToolSpec; args: Record<string, unknown> } | null {
  if (!reader || !lister) return null;
  const failed = [...results].reverse().find((r) => r.name === reader.name && MISSING.test(r.content));
  if (!failed) return null;
  const missing = argPath(failed.args);
  if (!missing) return null;
  const base = missing.split('/').filter(Boolean).at(-1);
  if (!base) return null;
  // Solved already: a later read of a file with that name succeeded.
  if (
    results.some(
      (r) => r.name === reader.name && !MISSING.test(r.content) && argPath(r.args)?.endsWith(`/${base}`),
    )
  )
    return null;
  const listing = results.find((r) => r.name === lister.name && !r.content.startsWith('error '));
  if (!listing) {
    const props = (lister.parameters.properties ?? {}) as Record<string, unknown>;
    const args: Record<string, unknown> = { path: '.', ...('recursive' in props ? { recursive: true } : {}) };
    return alreadyCalled(lister.name, args) ? null : { tool: lister, args };
  }
  const root = argPath(listing.args) ?? '.';
  for (const line of listing.content.split('\n')) {
    const entry = line.trim();
    if (entry.endsWith('/') || entry.split('/').at(-1) !== base) continue;
    const path = root === '.' ? entry : `${root.replace(/\/$/, '')}/${entry}`;
    if (path === missing) continue;
    const args = { path };
    if (!alreadyCalled(reader.name, args)) return { tool: reader, args };
  }
  return null;
}
