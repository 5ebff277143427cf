/**
 * Prompt-cache hints for the context layer. OpenAI and Kimi cache automatically and only need a stable
 * `promptCacheKey` (the kernel uses the pid). Anthropic-style providers cache only up to explicit
 * `cache_control` breakpoints: at most 4 per request, and a breakpoint finds an earlier cached prefix only
 * within ~20 blocks before it. `placeCacheBreakpoints` marks the end of the static prefix (tools + system +
 * pinned pages) and then rolls breakpoints along the append-only history every ≤ `every` messages, always
 * including the last message, so each turn reads the previous turn's cache and writes its own.
 */
import { CACHE_RULES } from './cache-rules.js';
import type { ChatMessage } from './model.js';

export const ANTHROPIC_MAX_BREAKPOINTS = CACHE_RULES.anthropic.maxBreakpoints; // the API rejects a fifth
export const ANTHROPIC_LOOKBACK_BLOCKS = CACHE_RULES.anthropic.lookbackBlocks; // how far back a breakpoint looks

export interface BreakpointOptions {
  /** Index of the last message of the static prefix (system + pinned pages); -1 when there is none. */
  staticPrefixEnd?: number;
  /** Distance between rolling breakpoints (≤ 20 so consecutive breakpoints stay within the lookback). */
  every?: number;
  max?: number;
}

/** Returns a copy of `messages` with `cacheBreakpoint` set where Anthropic-style caching should cut. */
export function placeCacheBreakpoints(
  messages: readonly ChatMessage[],
  opts: BreakpointOptions = {},
): ChatMessage[] {
  const every = Math.max(1, Math.min(opts.every ?? 15, ANTHROPIC_LOOKBACK_BLOCKS));
  const max = Math.max(1, Math.min(opts.max ?? ANTHROPIC_MAX_BREAKPOINTS, ANTHROPIC_MAX_BREAKPOINTS));
  const staticEnd =
    opts.staticPrefixEnd ??
    (() => {
      let i = -1;
      while (i + 1 < messages.length && messages[i + 1]!.role === 'system') i++;
      return i;
    })();
  const marks = new Set<number>();
  const last = messages.length - 1;
  // Rolling marks counted back from the end: the newest turns matter most for the next read.
  for (let i = last; i > staticEnd && marks.size < max - (staticEnd >= 0 ? 1 : 0); i -= every) marks.add(i);
  if (staticEnd >= 0 && staticEnd <= last) marks.add(staticEnd);
  return messages.map((m, i) => {
    const { cacheBreakpoint: _drop, ...rest } = m;
    return marks.has(i) ? { ...rest, cacheBreakpoint: true } : rest;
  });
}
