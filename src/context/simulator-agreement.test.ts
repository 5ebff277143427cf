import { describe, expect, it } from 'vitest';
import { buildMessagesBody } from '../llm/anthropic/wire.js';
import { buildChatBody } from '../llm/openai-compatible/wire.js';
import { findPreset } from '../llm/presets.js';
import { BreakpointCache, PrefixCache } from '../llm/simulated/prefix-cache.js';
import { anthropicPromptBlocks, openAiPromptTokens } from '../llm/simulated/prompt.js';
import { runWorkload } from './workload.js';

// The kernel's in-process cache model (segments, estimated tokens) against the simulator's server-side
// caches (real token ids of the wire JSON): both must tell the same story on the same prompts.
describe('cache model agrees with the simulator', () => {
  it('OpenAI prefix rule and Anthropic breakpoints, on a seeded long run with evictions', async () => {
    const preset = findPreset('openai');
    if (!preset) throw new Error('openai preset missing');
    const prefix = new PrefixCache();
    const bp = new BreakpointCache();
    const sim = { input: 0, cached: 0, aInput: 0, aRead: 0 };
    const r = await runWorkload({
      steps: 60,
      contextWindow: 32_000,
      seed: 21,
      onRender: (p) => {
        const req = { messages: p.messages, tools: p.tools, promptCacheKey: p.promptCacheKey };
        const tokens = openAiPromptTokens(buildChatBody('gpt-4o', req, preset, false));
        sim.input += tokens.length;
        sim.cached += prefix.lookupAndStore(tokens, p.promptCacheKey);
        const blocks = anthropicPromptBlocks(buildMessagesBody('claude-sonnet-4-5', req, 1024, false));
        const a = bp.lookupAndStore(blocks, p.promptCacheKey);
        sim.aInput += a.read + a.write + a.uncached;
        sim.aRead += a.read;
      },
    });
    expect(r.evictionEvents).toBeGreaterThan(0);
    const simHit = sim.cached / sim.input;
    const simRead = sim.aRead / sim.aInput;
    console.info(
      `[context] OpenAI rule: kernel ${(r.hitRatio * 100).toFixed(1)}% vs simulator ${(simHit * 100).toFixed(1)}%; ` +
        `Anthropic: kernel ${(r.anthropicHitRatio * 100).toFixed(1)}% vs simulator ${(simRead * 100).toFixed(1)}%; ` +
        `tokens kernel ${r.metrics.cache.input} vs simulator ${sim.input}`,
    );
    expect(Math.abs(r.hitRatio - simHit)).toBeLessThan(0.02);
    expect(Math.abs(r.anthropicHitRatio - simRead)).toBeLessThan(0.03);
  }, 60_000);
});
