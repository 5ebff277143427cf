/**
 * The simulator's prompt caches, by real prefix matching on token ids (no estimates):
 *  - `PrefixCache` follows OpenAI's published rules: the cached part of a prompt is its longest common token
 *    prefix with an earlier prompt (same `prompt_cache_key` pool), reported only from 1024 tokens up and in
 *    128-token steps. Prefixes are stored as a hash chain over 128-token blocks, so "longest common prefix
 *    with ANY earlier request" is a walk down the chain until a block hash is unknown.
 *  - `BreakpointCache` follows Anthropic's: only prefixes ending at a `cache_control` breakpoint are written;
 *    a breakpoint reads the longest written prefix ending at one of the 20 block boundaries before it.
 * Both evict least-recently-used entries beyond a bound.
 */
import { createHash } from 'node:crypto';
import { SIM_CACHE_MAX_PREFIXES } from '../../param.js';
import { CACHE_RULES } from '../cache-rules.js';

function chain(prev: string, tokens: ArrayLike<number>, from: number, to: number): string {
  const buf = Buffer.allocUnsafe((to - from) * 4);
  for (let i = from; i < to; i++) buf.writeUInt32LE(tokens[i]! >>> 0, (i - from) * 4);
  return createHash('sha256').update(prev).update(buf).digest('base64');
}

class Lru {
  private readonly m = new Map<string, true>();
  constructor(private readonly max: number) {}
  has(k: string): boolean {
    if (!this.m.has(k)) return false;
    this.m.delete(k);
    this.m.set(k, true);
    return true;
  }
  add(k: string): void {
    this.m.delete(k);
    this.m.set(k, true);
    while (this.m.size > this.max) this.m.delete(this.m.keys().next().value as string);
  }
  get size(): number {
    return this.m.size;
  }
  clear(): void {
    this.m.clear();
  }
}

export interface PrefixCacheOptions {
  minTokens?: number;
  blockTokens?: number;
  maxEntries?: number;
}

export class PrefixCache {
  readonly minTokens: number;
  readonly blockTokens: number;
  private readonly lru: Lru;

  constructor(opts: PrefixCacheOptions = {}) {
    this.minTokens = opts.minTokens ?? CACHE_RULES.openai.minTokens;
    this.blockTokens = opts.blockTokens ?? CACHE_RULES.openai.incrementTokens;
    this.lru = new Lru(opts.maxEntries ?? SIM_CACHE_MAX_PREFIXES);
  }

  /**
   * Looks the prompt up, then records it. Returns the cached token count OpenAI would report:
   * 0 below `minTokens`, else the matched prefix rounded down to whole blocks.
   */
  lookupAndStore(tokens: ArrayLike<number>, pool = ''): number {
    const B = this.blockTokens;
    const blocks = Math.floor(tokens.length / B);
    let h = `pool:${pool}`;
    let matched = 0;
    let stillMatching = true;
    for (let b = 0; b < blocks; b++) {
      h = chain(h, tokens, b * B, (b + 1) * B);
      if (stillMatching && this.lru.has(h)) matched = b + 1;
      else {
        stillMatching = false;
        this.lru.add(h);
      }
    }
    const cached = matched * B;
    return cached >= this.minTokens ? cached : 0;
  }

  get entries(): number {
    return this.lru.size;
  }

  clear(): void {
    this.lru.clear();
  }
}

/** One content block of an Anthropic prompt (tool, system block, message block) in prefix order. */
export interface PromptBlock {
  tokens: ArrayLike<number>;
  breakpoint: boolean;
}

export interface BreakpointResult {
  /** Tokens read from the cache (`cache_read_input_tokens`). */
  read: number;
  /** Tokens written to the cache (`cache_creation_input_tokens`). */
  write: number;
  /** Everything else (`input_tokens`, which excludes both). */
  uncached: number;
}

export class BreakpointCache {
  readonly minTokens: number;
  private readonly lru: Lru;

  constructor(opts: { minTokens?: number; maxEntries?: number } = {}) {
    this.minTokens = opts.minTokens ?? CACHE_RULES.anthropic.minTokens;
    this.lru = new Lru(opts.maxEntries ?? SIM_CACHE_MAX_PREFIXES);
  }

  lookupAndStore(blocks: readonly PromptBlock[], pool = ''): BreakpointResult {
    const hashes: string[] = [];
    const cum: number[] = [];
    let h = `pool:${pool}`;
    let total = 0;
    for (const b of blocks) {
      h = chain(h, b.tokens, 0, b.tokens.length);
      total += b.tokens.length;
      hashes.push(h);
      cum.push(total);
    }
    const bps = blocks.map((b, i) => (b.breakpoint ? i : -1)).filter((i) => i >= 0);
    let read = 0;
    for (const bp of bps) {
      for (let j = bp; j >= Math.max(0, bp - CACHE_RULES.anthropic.lookbackBlocks); j--) {
        if (this.lru.has(hashes[j]!)) {
          read = Math.max(read, cum[j]!);
          break;
        }
      }
    }
    let writeEnd = read;
    for (const bp of bps) {
      const end = cum[bp]!;
      if (end < this.minTokens) continue;
      this.lru.add(hashes[bp]!);
      if (end > writeEnd) writeEnd = end;
    }
    const write = writeEnd - read;
    return { read, write, uncached: total - read - write };
  }

  clear(): void {
    this.lru.clear();
  }
}
