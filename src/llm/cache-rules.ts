/**
 * The providers' prompt-cache rules, once. The context layer models hit ratios from them
 * (src/context/cache-model.ts), the breakpoint placer respects them (./cache-hints.ts) and the simulator
 * enforces them (./simulated/prefix-cache.ts); nothing else writes these numbers down.
 */

export const CACHE_RULES = {
  /** OpenAI (and Kimi, DeepSeek-style automatic caching): prompts of ≥ 1024 tokens, cached part in 128-token steps. */
  openai: { minTokens: 1024, incrementTokens: 128 },
  /** vLLM automatic prefix caching: 16-token blocks; the last prompt token is always computed. */
  vllm: { blockTokens: 16 },
  /**
   * Anthropic (and Qwen, MiniMax `cache_control`): explicit breakpoints, at most 4 per request; a breakpoint
   * reads the longest written prefix at it or up to 20 blocks before it; prefixes under 1024 tokens are not cached.
   */
  anthropic: { minTokens: 1024, maxBreakpoints: 4, lookbackBlocks: 20 },
} as const;

/** Tokens an OpenAI-style cache serves for a longest common prefix of `lcp` tokens. */
export function openaiCachedTokens(lcp: number): number {
  const r = CACHE_RULES.openai;
  return lcp >= r.minTokens ? Math.floor(lcp / r.incrementTokens) * r.incrementTokens : 0;
}

/** Tokens vLLM's prefix cache serves for a prefix of `lcp` tokens of an `input`-token prompt. */
export function vllmCachedTokens(lcp: number, input: number): number {
  const b = CACHE_RULES.vllm.blockTokens;
  return Math.floor(Math.max(0, Math.min(lcp, input - 1)) / b) * b;
}
