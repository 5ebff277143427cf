/**
 * Vendor quirks, end to end through the SDK against the simulator, which is as strict as the real vendors
 * (stricter for Ollama's tool_choice): the provider must send what each vendor needs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicProvider } from './anthropic/anthropic-provider.js';
import type { ChatRequest } from './model.js';
import { OpenAiCompatibleProvider } from './openai-compatible/openai-compatible-provider.js';
import { buildChatBody } from './openai-compatible/wire.js';
import { findPreset, type Preset } from './presets.js';
import { createSimulator, type SimulatorHandle } from './simulated/server.js';

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await createSimulator();
});
afterAll(async () => {
  await sim.close();
});

const preset = (n: string) => findPreset(n)!;
const model = (p: Preset, id: string) =>
  new OpenAiCompatibleProvider({ preset: p, apiKey: 'k', baseUrl: sim.urlFor(p.name) }).model(id);
const lastBody = () => sim.engine.stats.bodies.at(-1)!.body;

const toolRoundTrip: ChatRequest = {
  tools: [
    {
      name: 'calculator',
      description: 'math',
      parameters: {
        type: 'object',
        properties: { expression: { type: 'string' } },
        required: ['expression'],
      },
    },
  ],
  messages: [
    { role: 'user', content: 'What is 6 * 7?' },
    {
      role: 'assistant',
      content: '',
      reasoning: 'Use the calculator.',
      toolCalls: [{ id: 'c1', name: 'calculator', arguments: '{"expression":"6 * 7"}' }],
    },
    { role: 'tool', toolCallId: 'c1', content: '42' },
  ],
};

describe('vendor quirks', () => {
  it('DeepSeek thinking mode: reasoning_content is sent back on assistant tool-call turns', async () => {
    sim.engine.script(null);
    const r = await model(preset('deepseek'), 'deepseek-reasoner').chat(toolRoundTrip);
    expect(r.content).toContain('42');
    expect(r.reasoning).toBeTruthy(); // the simulated reasoner thinks, and it comes back as reasoning
    const msgs = lastBody().messages as Array<Record<string, unknown>>;
    expect(msgs[1]!.reasoning_content).toBe('Use the calculator.');
  });

  it('…and without the quirk the simulated DeepSeek refuses, as the real one does', async () => {
    const noEcho: Preset = { ...preset('deepseek'), quirks: {} };
    const e = await model(noEcho, 'deepseek-reasoner')
      .chat(toolRoundTrip)
      .catch((x) => x);
    expect(e.code).toBe('EPROVIDER');
    expect(e.details.status).toBe(400);
    expect(e.message).toContain('reasoning_content');
  });

  it('MiniMax: temperature clamped into (0, 1]; <think> reasoning moved out of the content', async () => {
    sim.engine.script([
      { text: 'Final.', reasoning: 'Think first.' },
      { text: 'Streamed.', reasoning: 'Think again.' },
    ]);
    const m = model(preset('minimax'), 'MiniMax-M2');
    const r = await m.chat({ messages: [{ role: 'user', content: 'hi' }], temperature: 0 });
    expect(lastBody().temperature).toBe(0.01);
    expect(r.content).toBe('Final.');
    expect(r.reasoning).toBe('Think first.');
    const events = [];
    for await (const ev of m.stream({ messages: [{ role: 'user', content: 'hi' }], temperature: 1.7 }))
      events.push(ev);
    expect(lastBody().temperature).toBe(1);
    const done = events.at(-1)!;
    expect(done.type === 'done' && done.response.content).toBe('Streamed.');
    expect(done.type === 'done' && done.response.reasoning).toBe('Think again.');
  });

  it('Ollama: tool_choice is never sent (the simulated server would refuse it)', async () => {
    sim.engine.script([{ text: 'ok' }]);
    await model(preset('ollama'), 'qwen2.5').chat({ ...toolRoundTrip, toolChoice: 'required' });
    expect(lastBody().tool_choice).toBeUndefined();
    expect(lastBody().tools).toBeDefined();
  });

  it('every preset asks for usage in streams; prompt_cache_key only where honoured', () => {
    const req: ChatRequest = {
      messages: [{ role: 'user', content: 'x' }],
      promptCacheKey: 'pid-7',
      maxOutputTokens: 100,
    };
    for (const n of [
      'openai',
      'deepseek',
      'kimi',
      'qwen',
      'minimax',
      'zhipu',
      'gemini',
      'groq',
      'openrouter',
      'siliconflow',
      'together',
      'vllm',
      'ollama',
      'lmstudio',
    ]) {
      const b = buildChatBody('m', req, preset(n), true);
      expect(b.stream_options, n).toEqual({ include_usage: true });
      expect(b.prompt_cache_key, n).toBe(['openai', 'kimi'].includes(n) ? 'pid-7' : undefined);
    }
    expect(buildChatBody('m', req, preset('openai'), false).max_completion_tokens).toBe(100);
    const marked: ChatRequest = {
      messages: [
        { role: 'system', content: 'static prefix', cacheBreakpoint: true },
        { role: 'user', content: 'x' },
      ],
    };
    expect((buildChatBody('qwen-plus', marked, preset('qwen'), false).messages as unknown[])[0]).toEqual({
      role: 'system',
      content: [{ type: 'text', text: 'static prefix', cache_control: { type: 'ephemeral' } }],
    });
    expect((buildChatBody('gpt-4o', marked, preset('openai'), false).messages as unknown[])[0]).toEqual({
      role: 'system',
      content: 'static prefix',
    });
    expect(buildChatBody('m', req, preset('deepseek'), false).max_tokens).toBe(100);
  });

  it('Anthropic: cache_control lands on the marked blocks; tool results are grouped into one user turn', async () => {
    sim.engine.script([{ text: 'done' }]);
    const m = new AnthropicProvider({ apiKey: 'k', baseUrl: sim.urlFor('anthropic') }).model(
      'claude-haiku-4-5',
    );
    await m.chat({
      tools: toolRoundTrip.tools!,
      messages: [
        { role: 'system', content: 'You are terse.', cacheBreakpoint: true },
        { role: 'user', content: 'two sums' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [
            { id: 'a', name: 'calculator', arguments: '{"expression":"1+1"}' },
            { id: 'b', name: 'calculator', arguments: '{"expression":"2+2"}' },
          ],
        },
        { role: 'tool', toolCallId: 'a', content: '2' },
        { role: 'tool', toolCallId: 'b', content: '4', cacheBreakpoint: true },
      ],
    });
    const b = lastBody();
    expect((b.system as Array<Record<string, unknown>>)[0]!.cache_control).toEqual({ type: 'ephemeral' });
    const msgs = b.messages as Array<{ role: string; content: Array<Record<string, unknown>> }>;
    expect(msgs.map((x) => x.role)).toEqual(['user', 'assistant', 'user']);
    expect(msgs[2]!.content.map((c) => c.type)).toEqual(['tool_result', 'tool_result']);
    expect(msgs[2]!.content[1]!.cache_control).toEqual({ type: 'ephemeral' });
    expect(msgs[1]!.content.map((c) => c.input)).toEqual([{ expression: '1+1' }, { expression: '2+2' }]);
  });

  it('embeddings: deterministic concept-lexicon vectors through the SDK (base64 by default)', async () => {
    const p = new OpenAiCompatibleProvider({
      preset: preset('openai'),
      apiKey: 'k',
      baseUrl: `${sim.url}/v1`,
    });
    const e = p.embeddings('text-embedding-3-small', 64);
    const [a, b, c] = await e.embed(['the cat sat', 'the cat sat', 'quantum chromodynamics']);
    expect(a).toHaveLength(64);
    expect(a).toEqual(b);
    const dot = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * y[i]!, 0);
    expect(dot(a!, a!)).toBeCloseTo(1, 5);
    expect(Math.abs(dot(a!, c!))).toBeLessThan(0.5);
  });
});
