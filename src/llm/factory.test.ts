import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { KernelError } from '../errors.js';
import { LLMProviderFactory } from './factory.js';
import { createSimulator, type SimulatorHandle } from './simulated/server.js';

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await createSimulator();
});
afterAll(async () => {
  await sim.close();
});

const err = (f: () => unknown): KernelError => {
  try {
    f();
  } catch (e) {
    if (e instanceof KernelError) return e;
    throw e;
  }
  throw new Error('expected a KernelError');
};

describe('LLMProviderFactory', () => {
  it('creates a model with the seeds shape, over HTTP to an OpenAI-compatible endpoint', async () => {
    sim.engine.script([{ text: 'from deepseek (simulated)' }]);
    const f = new LLMProviderFactory({ env: {} });
    const m = f.create({
      provider: 'deepseek',
      model: 'deepseek-chat',
      api_key: 'sk-test',
      base_url: sim.urlFor('deepseek'),
    });
    expect(m.provider).toBe('deepseek');
    const r = await m.chat({ messages: [{ role: 'user', content: 'hi' }] });
    expect(r.content).toBe('from deepseek (simulated)');
    expect(r.model).toBe('sim-deepseek-chat');
  });

  it('unknown provider → ECONFIG listing the presets', () => {
    const e = err(() => new LLMProviderFactory({ env: {} }).create({ provider: 'nope', model: 'x' }));
    expect(e.code).toBe('ECONFIG');
    expect(e.message).toContain('deepseek');
  });

  it('missing key → ECONFIG naming the environment variable', () => {
    const e = err(() =>
      new LLMProviderFactory({ env: {} }).create({ provider: 'kimi', model: 'moonshot-v1-32k' }),
    );
    expect(e.code).toBe('ECONFIG');
    expect(e.message).toContain('MOONSHOT_API_KEY');
    expect(e.message).toContain('KIMI_API_KEY');
    const q = err(() =>
      new LLMProviderFactory({ env: {} }).create({ provider: 'qwen', model: 'qwen-turbo' }),
    );
    expect(q.message).toContain('DASHSCOPE_API_KEY');
  });

  it('keys come from explicit config, then api_keys (by provider or alias), then env vars', () => {
    const f = new LLMProviderFactory({
      env: { KIMI_API_KEY: 'from-env' },
      apiKeys: { moonshot: 'from-api-keys' },
    });
    expect(f.resolveKey('kimi', 'explicit')).toMatchObject({ key: 'explicit', source: 'config' });
    expect(f.resolveKey('kimi')).toMatchObject({ key: 'from-api-keys', source: 'api_keys.moonshot' });
    expect(new LLMProviderFactory({ env: { KIMI_API_KEY: 'from-env' } }).resolveKey('kimi')).toMatchObject({
      key: 'from-env',
      source: 'KIMI_API_KEY',
    });
    // local servers need no key
    expect(() =>
      new LLMProviderFactory({ env: {} }).create({ provider: 'ollama', model: 'qwen2.5' }),
    ).not.toThrow();
  });

  it('the simulated provider runs in-process with the rule policy', async () => {
    const m = new LLMProviderFactory({ env: {} }).create({ provider: 'simulated', model: 'sim-react' });
    const r = await m.chat({ messages: [{ role: 'user', content: 'hello there' }] });
    expect(r.model).toBe('sim-react');
    expect(r.content).toContain('(simulated)');
    expect(r.costUsd).toBe(0);
  });
});

describe('embeddings through the factory', () => {
  it('OpenAI-compatible and simulated providers embed; Anthropic is EUNSUPPORTED', async () => {
    const f = new LLMProviderFactory({ env: {} });
    const viaHttp = f.embeddings({
      provider: 'openai',
      model: 'text-embedding-3-small',
      api_key: 'k',
      base_url: `${sim.url}/v1`,
      dimensions: 32,
    });
    const local = f.embeddings({ provider: 'simulated', model: 'sim-embed', dimensions: 32 });
    const [a] = await viaHttp.embed(['kernel pages and caches']);
    const [b] = await local.embed(['kernel pages and caches']);
    expect(a).toHaveLength(32);
    for (let i = 0; i < 32; i++) expect(a![i]).toBeCloseTo(b![i]!, 6); // same concept-lexicon embedder both ways
    expect(() => f.embeddings({ provider: 'anthropic', model: 'x', api_key: 'k' })).toThrow(
      /no embeddings API/,
    );
  });
});

describe('ModelRegistry (fromConfig)', () => {
  const seedConfig = (extra: Record<string, unknown> = {}) =>
    parseConfig(
      {
        api_keys: { deepseek: 'sk-ds', kimi: '', qwen: '' },
        llms: {
          models: [
            {
              name: 'deepseek-chat',
              provider: 'deepseek',
              base_url: sim.urlFor('deepseek'),
              fallbacks: ['sim-react'],
            },
            { name: 'moonshot-v1-32k', provider: 'kimi' },
            { name: 'qwen-turbo', provider: 'qwen' },
          ],
        },
        default_model: 'deepseek-chat',
        ...extra,
      },
      'test.yaml',
      {},
    ).config;

  it('lists configured models with window, prices and key presence, plus the simulator', () => {
    const reg = LLMProviderFactory.fromConfig(seedConfig(), { env: {} });
    const list = reg.list();
    expect(list.map((m) => m.name)).toEqual(['deepseek-chat', 'moonshot-v1-32k', 'qwen-turbo', 'sim-react']);
    const ds = list[0]!;
    expect(ds).toMatchObject({
      provider: 'deepseek',
      contextWindow: 128_000,
      keyPresent: true,
      isDefault: true,
      fallbacks: ['sim-react'],
    });
    expect(ds.price?.input).toBe(0.28);
    expect(list[1]).toMatchObject({
      provider: 'kimi',
      keyPresent: false,
      keyEnv: 'MOONSHOT_API_KEY',
      contextWindow: 32_768,
    });
  });

  it('get() resolves the default and falls back along the configured chain', async () => {
    const reg = LLMProviderFactory.fromConfig(seedConfig(), { env: {}, retry: { maxRetries: 0 } });
    sim.engine.script([{ error: { status: 503 } }]);
    const r = await reg.get().chat({ messages: [{ role: 'user', content: 'hi' }] });
    expect(r.provider).toBe('simulated'); // deepseek failed → fallback served
  });

  it('a default model without a key falls back to the simulator', () => {
    const reg = LLMProviderFactory.fromConfig(seedConfig({ default_model: 'qwen-turbo' }), { env: {} });
    expect(reg.defaultModelName()).toBe('sim-react');
    expect(reg.get().provider).toBe('simulated');
  });

  it('an unconfigured name resolves through the catalogue; an unknown one is ECONFIG', () => {
    const reg = LLMProviderFactory.fromConfig(seedConfig(), { env: { OPENAI_API_KEY: 'sk' } });
    expect(reg.get('gpt-4o').provider).toBe('openai');
    expect(err(() => reg.get('my-mystery-model')).code).toBe('ECONFIG');
    expect(err(() => reg.get('claude-haiku-4-5')).message).toContain('ANTHROPIC_API_KEY');
  });
});

describe('streaming switch (llms.stream, llms.models[].stream)', () => {
  const cfg = (llms: Record<string, unknown>) => parseConfig({ llms }, 'test').config;
  const models = [
    { name: 'deepseek-chat', provider: 'deepseek' },
    { name: 'qwen-turbo', provider: 'qwen', stream: true },
    { name: 'gpt-4o', provider: 'openai', stream: false },
  ];
  it('streams by default; a provider map turns one provider off; a model entry wins', () => {
    const on = LLMProviderFactory.fromConfig(cfg({ models }), { env: {} });
    expect(['deepseek-chat', 'qwen-turbo', 'gpt-4o'].map((m) => on.streams(m))).toEqual([true, true, false]);
    const map = LLMProviderFactory.fromConfig(cfg({ models, stream: { deepseek: false, qwen: false } }), {
      env: {},
    });
    expect(['deepseek-chat', 'qwen-turbo', 'sim-react'].map((m) => map.streams(m))).toEqual([
      false,
      true,
      true,
    ]);
    const off = LLMProviderFactory.fromConfig(cfg({ models, stream: false }), { env: {} });
    expect(['deepseek-chat', 'qwen-turbo'].map((m) => off.streams(m))).toEqual([false, true]);
  });
  it('a provider name that is not one is an error naming the key', () => {
    expect(() =>
      LLMProviderFactory.fromConfig(cfg({ models, stream: { deepsek: false } }), { env: {} }),
    ).toThrow(/llms\.stream\.deepsek: "deepsek" is not a provider; use one of: .*deepseek/);
  });
});
