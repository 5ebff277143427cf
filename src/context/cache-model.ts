/**
 * The providers' prompt-cache rules, computed in-process from the prompts the manager renders, so the
 * kernel knows its cache hit ratio without trusting (or having) provider reports.
 *
 *   OpenAI (and Kimi, DeepSeek-style automatic caching): prompts of ≥ 1024 tokens; the cached part is the
 *     longest common prefix with an earlier prompt (same prompt_cache_key), rounded down to 128 tokens.
 *   vLLM automatic prefix caching: 16-token blocks; the last prompt token is always computed.
 *   Anthropic explicit caching: a prefix is written at each `cache_control` breakpoint; a request reads the
 *     longest previously written prefix found at one of its breakpoints or up to 20 blocks before one;
 *     prefixes under 1024 tokens are not cached; tokens from the read point to the last breakpoint are written.
 *
 * A prompt is a list of segments (tool block, then one per message), each with a content hash and token
 * count; prefixes are compared at segment granularity (a differing message counts as differing from its
 * first token, which at most loses its few framing tokens against a byte-level comparison).
 */
import { CACHE_RULES, openaiCachedTokens, vllmCachedTokens } from '../llm/cache-rules.js';
import * as P from '../param.js';

export interface Segment {
  hash: string;
  tokens: number;
  /** A cache breakpoint closes this segment (Anthropic `cache_control`). */
  breakpoint?: boolean;
}

export interface CacheObservation {
  input: number;
  /** Longest common prefix, in tokens, with any remembered earlier prompt. */
  lcpTokens: number;
  openaiCached: number;
  vllmCached: number;
  anthropicRead: number;
  anthropicWrite: number;
  /** The previous prompt is not a prefix of this one: everything after the first change is re-read. */
  cacheBreak: boolean;
}

export interface CacheTotals {
  requests: number;
  input: number;
  openaiCached: number;
  vllmCached: number;
  anthropicRead: number;
  anthropicWrite: number;
  cacheBreaks: number;
  /** OpenAI-rule cached tokens had every prompt extended the previous one: the ceiling any layout can reach. */
  ceiling: number;
}

interface Remembered {
  hashes: string[];
  /** cum[i] = tokens of the first i segments (cum[0] = 0). */
  cum: number[];
  /** Segment counts at which breakpoints closed a prefix. */
  bps: number[];
}

// The rules themselves are src/llm/cache-rules.ts; these names are kept for callers of this module.
export const OPENAI_MIN_TOKENS = CACHE_RULES.openai.minTokens;
export const OPENAI_INCREMENT = CACHE_RULES.openai.incrementTokens;
export const VLLM_BLOCK = CACHE_RULES.vllm.blockTokens;
export const ANTHROPIC_MIN_TOKENS = CACHE_RULES.anthropic.minTokens;
export const ANTHROPIC_LOOKBACK_BLOCKS = CACHE_RULES.anthropic.lookbackBlocks;
export { openaiCachedTokens, vllmCachedTokens };

export function emptyTotals(): CacheTotals {
  return {
    requests: 0,
    input: 0,
    openaiCached: 0,
    vllmCached: 0,
    anthropicRead: 0,
    anthropicWrite: 0,
    cacheBreaks: 0,
    ceiling: 0,
  };
}

export class PromptCacheModel {
  private prompts: Remembered[] = [];
  readonly totals: CacheTotals = emptyTotals();

  constructor(private readonly remember = P.CTX_CACHE_HISTORY) {}

  /** Records one request's prompt and returns what each provider's cache would have served. */
  observe(segments: readonly Segment[]): CacheObservation {
    const cur: Remembered = { hashes: [], cum: [0], bps: [] };
    for (const [i, s] of segments.entries()) {
      cur.hashes.push(s.hash);
      cur.cum.push((cur.cum[i] ?? 0) + s.tokens);
      if (s.breakpoint) cur.bps.push(i + 1);
    }
    const input = cur.cum[cur.cum.length - 1] ?? 0;
    const lcpSegs = this.prompts.map((p) => commonPrefix(p.hashes, cur.hashes));
    const bestSegs = lcpSegs.reduce((m, x) => Math.max(m, x), 0);
    const lcpTokens = cur.cum[bestSegs] ?? 0;

    // Anthropic: the largest earlier-written breakpoint prefix reachable from one of our breakpoints.
    let readSegs = 0;
    for (const b of cur.bps) {
      for (let j = b; j >= Math.max(1, b - ANTHROPIC_LOOKBACK_BLOCKS); j--) {
        if (j <= readSegs) break;
        if (this.prompts.some((p, k) => p.bps.includes(j) && (lcpSegs[k] ?? 0) >= j)) {
          readSegs = j;
          break;
        }
      }
    }
    const readTokens = cur.cum[readSegs] ?? 0;
    const anthropicRead = readTokens >= ANTHROPIC_MIN_TOKENS ? readTokens : 0;
    const lastBp = cur.bps[cur.bps.length - 1] ?? 0;
    const lastBpTokens = cur.cum[lastBp] ?? 0;
    const anthropicWrite =
      lastBpTokens >= ANTHROPIC_MIN_TOKENS ? Math.max(0, lastBpTokens - anthropicRead) : 0;

    const prev = this.prompts[this.prompts.length - 1];
    const cacheBreak = prev !== undefined && (lcpSegs[lcpSegs.length - 1] ?? 0) < prev.hashes.length;

    const obs: CacheObservation = {
      input,
      lcpTokens,
      openaiCached: openaiCachedTokens(lcpTokens),
      vllmCached: vllmCachedTokens(lcpTokens, input),
      anthropicRead,
      anthropicWrite,
      cacheBreak,
    };
    const t = this.totals;
    t.requests++;
    t.input += input;
    t.openaiCached += obs.openaiCached;
    t.vllmCached += obs.vllmCached;
    t.anthropicRead += anthropicRead;
    t.anthropicWrite += anthropicWrite;
    if (cacheBreak) t.cacheBreaks++;
    if (prev) t.ceiling += openaiCachedTokens(Math.min(input, prev.cum[prev.cum.length - 1] ?? 0));
    this.prompts.push(cur);
    if (this.prompts.length > this.remember) this.prompts.shift();
    return obs;
  }

  /** The last prompt and the totals, for a process checkpoint (the provider's cache outlives a restart). */
  exportState(): { last: Remembered | null; totals: CacheTotals } {
    const last = this.prompts[this.prompts.length - 1];
    return {
      last: last ? { hashes: [...last.hashes], cum: [...last.cum], bps: [...last.bps] } : null,
      totals: { ...this.totals },
    };
  }

  importState(s: { last: Remembered | null; totals: CacheTotals }): void {
    this.prompts = s.last ? [{ hashes: [...s.last.hashes], cum: [...s.last.cum], bps: [...s.last.bps] }] : [];
    Object.assign(this.totals, s.totals);
  }
}

function commonPrefix(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export function hitRatio(cached: number, input: number): number {
  return input === 0 ? 0 : cached / input;
}
