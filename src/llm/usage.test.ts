import { describe, expect, it } from 'vitest';
import { findModel } from './catalog.js';
import { costUsd, normaliseAnthropicUsage, normaliseOpenAiUsage } from './usage.js';

describe('usage normaliser', () => {
  it('OpenAI: prompt_tokens_details.cached_tokens and reasoning tokens', () => {
    expect(
      normaliseOpenAiUsage({
        prompt_tokens: 2000,
        completion_tokens: 300,
        prompt_tokens_details: { cached_tokens: 1920 },
        completion_tokens_details: { reasoning_tokens: 120 },
      }),
    ).toEqual({ input: 2000, cachedInput: 1920, cacheWrite: 0, output: 300, reasoning: 120 });
  });
  it('DeepSeek: prompt_cache_hit_tokens / miss', () => {
    expect(
      normaliseOpenAiUsage({
        prompt_tokens: 1000,
        completion_tokens: 10,
        prompt_cache_hit_tokens: 640,
        prompt_cache_miss_tokens: 360,
      }),
    ).toEqual({
      input: 1000,
      cachedInput: 640,
      cacheWrite: 0,
      output: 10,
      reasoning: 0,
    });
    // hit + miss alone still give the input
    expect(normaliseOpenAiUsage({ prompt_cache_hit_tokens: 64, prompt_cache_miss_tokens: 36 }).input).toBe(
      100,
    );
  });
  it('Kimi: top-level cached_tokens', () => {
    expect(
      normaliseOpenAiUsage({ prompt_tokens: 3000, completion_tokens: 5, cached_tokens: 2048 }).cachedInput,
    ).toBe(2048);
  });
  it('Ollama: no cached field, and junk is ignored', () => {
    expect(normaliseOpenAiUsage({ prompt_tokens: 12, completion_tokens: 3 })).toEqual({
      input: 12,
      cachedInput: 0,
      cacheWrite: 0,
      output: 3,
      reasoning: 0,
    });
    expect(normaliseOpenAiUsage(undefined)).toEqual({
      input: 0,
      cachedInput: 0,
      cacheWrite: 0,
      output: 0,
      reasoning: 0,
    });
    expect(normaliseOpenAiUsage({ prompt_tokens: 'x', completion_tokens: -4 }).input).toBe(0);
  });
  it('Anthropic: input_tokens excludes cache reads and writes, which are added back', () => {
    expect(
      normaliseAnthropicUsage({
        input_tokens: 50,
        cache_read_input_tokens: 1500,
        cache_creation_input_tokens: 400,
        output_tokens: 20,
      }),
    ).toEqual({
      input: 1950,
      cachedInput: 1500,
      cacheWrite: 400,
      output: 20,
      reasoning: 0,
    });
  });
  it('cost: uncached, cached, cache-write and output tokens each at their price', () => {
    const price = findModel('claude-sonnet-4-6')!.price!;
    const usage = normaliseAnthropicUsage({
      input_tokens: 1_000_000,
      cache_read_input_tokens: 1_000_000,
      cache_creation_input_tokens: 1_000_000,
      output_tokens: 1_000_000,
    });
    expect(costUsd(usage, price)).toBeCloseTo(3 + 0.3 + 3.75 + 15, 10);
    const ds = findModel('deepseek-chat')!.price!;
    expect(
      costUsd({ input: 1_000_000, cachedInput: 900_000, cacheWrite: 0, output: 0, reasoning: 0 }, ds),
    ).toBeCloseTo(0.1 * 0.28 + 0.9 * 0.028, 10);
    expect(costUsd({ input: 10, cachedInput: 0, cacheWrite: 0, output: 10, reasoning: 0 }, null)).toBe(0);
  });
});

describe('catalogue', () => {
  it('knows the seeds model names (some as aliases of current ids)', () => {
    for (const n of [
      'deepseek-chat',
      'deepseek-reasoner',
      'moonshot-v1-8k',
      'moonshot-v1-32k',
      'moonshot-v1-128k',
      'abab6.5s-chat',
      'qwen-turbo',
      'qwen-plus',
      'qwen-max',
      'gpt-4o',
      'claude-sonnet-4-20250514',
      'kimi-k1',
    ]) {
      expect(findModel(n), n).toBeDefined();
    }
    expect(findModel('claude-sonnet-4-20250514')!.id).toBe('claude-sonnet-4-6');
    expect(findModel('openai/gpt-4o')!.id).toBe('gpt-4o');
  });
});
