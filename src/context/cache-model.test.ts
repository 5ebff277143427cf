import { describe, expect, it } from 'vitest';
import { openaiCachedTokens, PromptCacheModel, type Segment, vllmCachedTokens } from './cache-model.js';

const seg = (h: string, tokens: number, breakpoint = false): Segment => ({
  hash: h,
  tokens,
  ...(breakpoint ? { breakpoint } : {}),
});
const msgs = (n: number, tokens: number, prefix = 'm') =>
  Array.from({ length: n }, (_, i) => seg(`${prefix}${i}`, tokens));

describe('prompt-cache rules', () => {
  it('OpenAI: nothing under 1024 tokens, then 128-token increments of the longest common prefix', () => {
    expect(openaiCachedTokens(1023)).toBe(0);
    expect(openaiCachedTokens(1024)).toBe(1024);
    expect(openaiCachedTokens(1151)).toBe(1024);
    expect(openaiCachedTokens(1152)).toBe(1152);
    const m = new PromptCacheModel();
    const a = [seg('tools', 600), ...msgs(10, 100)];
    expect(m.observe(a).openaiCached).toBe(0);
    const b = m.observe([...a, seg('new', 300)]);
    expect(b.lcpTokens).toBe(1600);
    expect(b.openaiCached).toBe(1536);
    expect(b.cacheBreak).toBe(false);
    const c = m.observe([seg('tools', 600), seg('changed', 100), ...msgs(9, 100)]);
    expect(c.lcpTokens).toBe(600);
    expect(c.openaiCached).toBe(0);
    expect(c.cacheBreak).toBe(true);
    // An earlier prompt still matches (the cache holds more than the last prompt).
    expect(m.observe([...a, seg('other', 50)]).openaiCached).toBe(1536);
    expect(m.totals.requests).toBe(4);
    expect(m.totals.cacheBreaks).toBe(2);
  });

  it('vLLM: 16-token blocks, and the last prompt token is always computed', () => {
    expect(vllmCachedTokens(100, 500)).toBe(96);
    expect(vllmCachedTokens(160, 160)).toBe(144);
    const m = new PromptCacheModel();
    m.observe(msgs(3, 50));
    expect(m.observe(msgs(3, 50)).vllmCached).toBe(144);
  });

  it('Anthropic: reads the longest written breakpoint prefix within 20 blocks, writes up to the last breakpoint', () => {
    const m = new PromptCacheModel();
    const stat = [seg('sys', 1500, true)];
    const r1 = m.observe([
      ...stat,
      ...msgs(4, 100).map((s, i) => (i === 3 ? { ...s, breakpoint: true } : s)),
    ]);
    expect(r1.anthropicRead).toBe(0);
    expect(r1.anthropicWrite).toBe(1900);
    // 4 more messages: the previous end (a breakpoint) is 4 blocks before the new end.
    const next = [...stat, ...msgs(8, 100).map((s, i) => (i === 7 ? { ...s, breakpoint: true } : s))];
    const r2 = m.observe(next);
    expect(r2.anthropicRead).toBe(1900);
    expect(r2.anthropicWrite).toBe(400);
    // 30 more messages with only a final breakpoint: the lookback misses the old end; the static one hits.
    const far = [...stat, ...msgs(38, 100).map((s, i) => (i === 37 ? { ...s, breakpoint: true } : s))];
    const r3 = m.observe(far);
    expect(r3.anthropicRead).toBe(1500);
    // Under 1024 tokens nothing is cached.
    const small = new PromptCacheModel();
    small.observe([seg('s', 500, true)]);
    expect(small.observe([seg('s', 500, true)]).anthropicRead).toBe(0);
  });

  it('exports and imports its memory so a restored process still hits', () => {
    const m = new PromptCacheModel();
    m.observe(msgs(20, 100));
    const m2 = new PromptCacheModel();
    m2.importState(JSON.parse(JSON.stringify(m.exportState())));
    expect(m2.observe([...msgs(20, 100), seg('x', 10)]).openaiCached).toBe(1920);
    expect(m2.totals.requests).toBe(2);
  });
});
