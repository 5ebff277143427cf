/**
 * The prefix cache as seen from what the gateway forwards: one PromptCacheModel per session (the context
 * manager's model, src/context/cache-model.ts, with the same provider rules), fed with the segments of each
 * forwarded prompt (tool block, then one per message). When a prompt does not extend the previous one, the
 * break is located: which message changed and at which byte of its canonical JSON — the thing an agent
 * developer needs to fix (a timestamp in the system prompt, a reordered tool list, an edited history).
 */
import { type CacheObservation, PromptCacheModel, type Segment } from '../context/cache-model.js';
import { countTokens } from '../llm/tokenizer.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import type { GatewayChat } from './call.js';

export interface CacheBreak {
  /** Index in the request's `messages` (-1: the tool definitions changed). */
  message: number;
  /** First differing byte of that message's canonical JSON. */
  byte: number;
  /** A few characters around the change, before and now. */
  was: string;
  now: string;
}

export interface CacheReport {
  /** Tokens of the prompt as the kernel's tokenizer counts them. */
  input: number;
  /** What the session's provider cache can serve under the provider's rules (OpenAI 1024/128 or Anthropic breakpoints). */
  predictedCached: number;
  break: CacheBreak | null;
}

export interface CacheTally {
  requests: number;
  input: number;
  predictedCached: number;
  breaks: number;
  lastBreak: CacheBreak | null;
}

function firstDiff(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

export class SessionCache {
  private readonly model = new PromptCacheModel();
  private last: string[] | null = null;
  /** Token counts of the last prompt's segments by hash: a growing conversation is counted once per message. */
  private counted = new Map<string, number>();
  readonly tally: CacheTally = { requests: 0, input: 0, predictedCached: 0, breaks: 0, lastBreak: null };

  constructor(private readonly rules: 'openai' | 'anthropic') {}

  observe(chat: GatewayChat): CacheReport {
    // Segment 0 is the tool block, so a changed tool list is reported as message -1.
    const texts = [canonicalJson(chat.tools ?? []), ...chat.messages.map((m) => canonicalJson(m))];
    const counted = new Map<string, number>();
    const segments: Segment[] = texts.map((t, i) => {
      const hash = sha256Hex(t);
      const tokens = this.counted.get(hash) ?? counted.get(hash) ?? countTokens(t);
      counted.set(hash, tokens);
      return {
        hash,
        tokens,
        ...(i > 0 && chat.messages[i - 1]?.cacheBreakpoint ? { breakpoint: true } : {}),
      };
    });
    this.counted = counted;
    const obs: CacheObservation = this.model.observe(segments);
    let brk: CacheBreak | null = null;
    const prev = this.last;
    if (obs.cacheBreak && prev) {
      let i = 0;
      while (i < prev.length && i < texts.length && prev[i] === texts[i]) i++;
      const was = prev[i] ?? '';
      const now = texts[i] ?? '';
      const byte = firstDiff(was, now);
      brk = {
        message: i - 1,
        byte: Buffer.byteLength(now.slice(0, byte)),
        was: was.slice(Math.max(0, byte - 20), byte + 40),
        now: now.slice(Math.max(0, byte - 20), byte + 40),
      };
    }
    this.last = texts;
    const predictedCached = this.rules === 'anthropic' ? obs.anthropicRead : obs.openaiCached;
    const t = this.tally;
    t.requests++;
    t.input += obs.input;
    t.predictedCached += predictedCached;
    if (brk) {
      t.breaks++;
      t.lastBreak = brk;
    }
    return { input: obs.input, predictedCached, break: brk };
  }
}
