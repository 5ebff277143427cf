/**
 * The model catalogue: data, not code. Context window, max output, prices per 1M tokens in USD (input,
 * cached input, cache write, output) and capabilities. Prices are list prices copied from the vendors'
 * pricing pages on the date in `pricesAsOf`; they drift, so a config entry may override the window and
 * the kernel treats cost as an estimate. Seed model names the vendors renamed stay accepted as aliases.
 *
 * Size: Over 500 lines because it is data: one entry per model id with its window and prices, not logic.
 */
import { logger } from '../util/log.js';

const log = logger('llm');

export interface ModelPrice {
  /** USD per 1M uncached input tokens. */
  input: number;
  /** USD per 1M input tokens read from the prompt cache (equals `input` when the vendor gives no discount). */
  cachedInput: number;
  /** USD per 1M tokens written to the cache (Anthropic-style explicit caching; else equals `input`). */
  cacheWrite: number;
  output: number;
}

export interface ModelCapabilities {
  tools: boolean;
  vision: boolean;
  reasoning: boolean;
}

export interface CatalogEntry {
  id: string;
  provider: string;
  aliases?: readonly string[];
  contextWindow: number;
  maxOutput: number;
  price: ModelPrice | null;
  capabilities: ModelCapabilities;
  /** Month the prices were read from the vendor's page (YYYY-MM). */
  pricesAsOf: string;
  note?: string;
}

const T = { tools: true, vision: false, reasoning: false };
const TV = { tools: true, vision: true, reasoning: false };
const TR = { tools: true, vision: false, reasoning: true };
const TVR = { tools: true, vision: true, reasoning: true };

/** Price helper: `cacheWrite` defaults to the input price (no explicit-cache surcharge). */
const $ = (input: number, cachedInput: number, output: number, cacheWrite = input): ModelPrice => ({
  input,
  cachedInput,
  cacheWrite,
  output,
});

export const CATALOG: readonly CatalogEntry[] = [
  // OpenAI
  {
    id: 'gpt-5',
    provider: 'openai',
    contextWindow: 400_000,
    maxOutput: 128_000,
    price: $(1.25, 0.125, 10),
    capabilities: TVR,
    pricesAsOf: '2025-10',
  },
  {
    id: 'gpt-5-mini',
    provider: 'openai',
    contextWindow: 400_000,
    maxOutput: 128_000,
    price: $(0.25, 0.025, 2),
    capabilities: TVR,
    pricesAsOf: '2025-10',
  },
  {
    id: 'gpt-4.1',
    provider: 'openai',
    contextWindow: 1_047_576,
    maxOutput: 32_768,
    price: $(2, 0.5, 8),
    capabilities: TV,
    pricesAsOf: '2025-10',
  },
  {
    id: 'gpt-4.1-mini',
    provider: 'openai',
    contextWindow: 1_047_576,
    maxOutput: 32_768,
    price: $(0.4, 0.1, 1.6),
    capabilities: TV,
    pricesAsOf: '2025-10',
  },
  {
    id: 'gpt-4o',
    provider: 'openai',
    contextWindow: 128_000,
    maxOutput: 16_384,
    price: $(2.5, 1.25, 10),
    capabilities: TV,
    pricesAsOf: '2025-10',
  },
  {
    id: 'gpt-4o-mini',
    provider: 'openai',
    contextWindow: 128_000,
    maxOutput: 16_384,
    price: $(0.15, 0.075, 0.6),
    capabilities: TV,
    pricesAsOf: '2025-10',
  },
  {
    id: 'o3',
    provider: 'openai',
    contextWindow: 200_000,
    maxOutput: 100_000,
    price: $(2, 0.5, 8),
    capabilities: TVR,
    pricesAsOf: '2025-10',
  },
  {
    id: 'o4-mini',
    provider: 'openai',
    contextWindow: 200_000,
    maxOutput: 100_000,
    price: $(1.1, 0.275, 4.4),
    capabilities: TVR,
    pricesAsOf: '2025-10',
  },
  // Anthropic (cache write = 5-minute TTL price)
  {
    id: 'claude-sonnet-4-6',
    provider: 'anthropic',
    aliases: ['claude-sonnet-4-20250514', 'claude-sonnet-4-0', 'claude-sonnet-4', 'claude-sonnet-latest'],
    contextWindow: 200_000,
    maxOutput: 64_000,
    price: $(3, 0.3, 15, 3.75),
    capabilities: TVR,
    pricesAsOf: '2026-11',
    note: 'price assumed at the Sonnet tier (unchanged from 3.5 to 4.5); the seed id claude-sonnet-4-20250514 is retired and maps here',
  },
  {
    id: 'claude-sonnet-4-5',
    provider: 'anthropic',
    aliases: ['claude-sonnet-4-5-20250929'],
    contextWindow: 200_000,
    maxOutput: 64_000,
    price: $(3, 0.3, 15, 3.75),
    capabilities: TVR,
    pricesAsOf: '2025-10',
    note: 'deprecated by the vendor, end of life 2026-11-30',
  },
  {
    id: 'claude-opus-4-5',
    provider: 'anthropic',
    aliases: ['claude-opus-4-5-20251101'],
    contextWindow: 200_000,
    maxOutput: 64_000,
    price: $(5, 0.5, 25, 6.25),
    capabilities: TVR,
    pricesAsOf: '2025-11',
  },
  {
    id: 'claude-opus-4-1',
    provider: 'anthropic',
    aliases: ['claude-opus-4-1-20250805'],
    contextWindow: 200_000,
    maxOutput: 32_000,
    price: $(15, 1.5, 75, 18.75),
    capabilities: TVR,
    pricesAsOf: '2025-10',
  },
  {
    id: 'claude-haiku-4-5',
    provider: 'anthropic',
    aliases: ['claude-haiku-4-5-20251001'],
    contextWindow: 200_000,
    maxOutput: 64_000,
    price: $(1, 0.1, 5, 1.25),
    capabilities: TVR,
    pricesAsOf: '2025-10',
  },
  // DeepSeek (V3.2 pricing; both ids serve the same model, -reasoner in thinking mode)
  {
    id: 'deepseek-chat',
    provider: 'deepseek',
    contextWindow: 128_000,
    maxOutput: 8_192,
    price: $(0.28, 0.028, 0.42),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'deepseek-reasoner',
    provider: 'deepseek',
    aliases: ['deepseek-r1'],
    contextWindow: 128_000,
    maxOutput: 65_536,
    price: $(0.28, 0.028, 0.42),
    capabilities: TR,
    pricesAsOf: '2025-10',
  },
  // Kimi / Moonshot (international USD prices)
  {
    id: 'kimi-k2-0905-preview',
    provider: 'kimi',
    aliases: ['kimi-k2', 'kimi-latest'],
    contextWindow: 262_144,
    maxOutput: 32_768,
    price: $(0.6, 0.15, 2.5),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'kimi-k2-turbo-preview',
    provider: 'kimi',
    contextWindow: 262_144,
    maxOutput: 32_768,
    price: $(1.15, 0.15, 8),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'kimi-k2-thinking',
    provider: 'kimi',
    aliases: ['kimi-k1', 'kimi-thinking-preview'],
    contextWindow: 262_144,
    maxOutput: 32_768,
    price: $(0.6, 0.15, 2.5),
    capabilities: TR,
    pricesAsOf: '2025-11',
    note: 'seed name kimi-k1 (retired) maps here',
  },
  {
    id: 'moonshot-v1-8k',
    provider: 'kimi',
    contextWindow: 8_192,
    maxOutput: 8_192,
    price: $(0.2, 0.2, 2),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'moonshot-v1-32k',
    provider: 'kimi',
    contextWindow: 32_768,
    maxOutput: 32_768,
    price: $(1, 1, 3),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'moonshot-v1-128k',
    provider: 'kimi',
    contextWindow: 131_072,
    maxOutput: 131_072,
    price: $(2, 2, 5),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'moonshot-v1-8k-vision-preview',
    provider: 'kimi',
    aliases: ['kimi-vl'],
    contextWindow: 8_192,
    maxOutput: 8_192,
    price: $(0.2, 0.2, 2),
    capabilities: TV,
    pricesAsOf: '2025-10',
  },
  // MiniMax
  {
    id: 'MiniMax-M2',
    provider: 'minimax',
    aliases: ['minimax-m2'],
    contextWindow: 204_800,
    maxOutput: 131_072,
    price: $(0.3, 0.03, 1.2, 0.375),
    capabilities: TR,
    pricesAsOf: '2025-11',
  },
  {
    id: 'MiniMax-Text-01',
    provider: 'minimax',
    contextWindow: 1_000_192,
    maxOutput: 40_000,
    price: $(0.2, 0.2, 1.1),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'abab6.5s-chat',
    provider: 'minimax',
    aliases: ['abab6.5-chat'],
    contextWindow: 245_760,
    maxOutput: 8_192,
    price: $(1.4, 1.4, 1.4),
    capabilities: T,
    pricesAsOf: '2025-06',
    note: 'legacy model; converted from CNY 0.01/1k tokens',
  },
  // Qwen / DashScope (international list prices, lowest tier)
  {
    id: 'qwen-max',
    provider: 'qwen',
    contextWindow: 32_768,
    maxOutput: 8_192,
    price: $(1.6, 0.32, 6.4),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'qwen3-max',
    provider: 'qwen',
    contextWindow: 262_144,
    maxOutput: 65_536,
    price: $(1.2, 0.24, 6),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'qwen-plus',
    provider: 'qwen',
    contextWindow: 131_072,
    maxOutput: 16_384,
    price: $(0.4, 0.08, 1.2),
    capabilities: TR,
    pricesAsOf: '2025-10',
  },
  {
    id: 'qwen-turbo',
    provider: 'qwen',
    contextWindow: 1_000_000,
    maxOutput: 16_384,
    price: $(0.05, 0.01, 0.2),
    capabilities: TR,
    pricesAsOf: '2025-10',
    note: 'vendor recommends qwen-flash as its successor',
  },
  {
    id: 'qwen-flash',
    provider: 'qwen',
    contextWindow: 1_000_000,
    maxOutput: 32_768,
    price: $(0.05, 0.01, 0.4),
    capabilities: TR,
    pricesAsOf: '2025-10',
  },
  {
    id: 'qwen-long',
    provider: 'qwen',
    contextWindow: 10_000_000,
    maxOutput: 8_192,
    price: $(0.07, 0.07, 0.28),
    capabilities: T,
    pricesAsOf: '2025-10',
    note: 'China region only',
  },
  {
    id: 'qwen-vl-max',
    provider: 'qwen',
    contextWindow: 131_072,
    maxOutput: 8_192,
    price: $(0.8, 0.8, 3.2),
    capabilities: TV,
    pricesAsOf: '2025-10',
  },
  // Zhipu GLM
  {
    id: 'glm-4.6',
    provider: 'zhipu',
    contextWindow: 200_000,
    maxOutput: 128_000,
    price: $(0.6, 0.11, 2.2),
    capabilities: TR,
    pricesAsOf: '2025-10',
  },
  {
    id: 'glm-4.5-air',
    provider: 'zhipu',
    contextWindow: 128_000,
    maxOutput: 96_000,
    price: $(0.2, 0.03, 1.1),
    capabilities: TR,
    pricesAsOf: '2025-10',
  },
  // Gemini (prompts ≤ 200k tokens)
  {
    id: 'gemini-2.5-pro',
    provider: 'gemini',
    contextWindow: 1_048_576,
    maxOutput: 65_536,
    price: $(1.25, 0.125, 10),
    capabilities: TVR,
    pricesAsOf: '2025-10',
  },
  {
    id: 'gemini-2.5-flash',
    provider: 'gemini',
    contextWindow: 1_048_576,
    maxOutput: 65_536,
    price: $(0.3, 0.03, 2.5),
    capabilities: TVR,
    pricesAsOf: '2025-10',
  },
  // Groq
  {
    id: 'llama-3.3-70b-versatile',
    provider: 'groq',
    contextWindow: 131_072,
    maxOutput: 32_768,
    price: $(0.59, 0.59, 0.79),
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  // Local servers: no price
  {
    id: 'qwen2.5',
    provider: 'ollama',
    aliases: ['qwen2.5:7b'],
    contextWindow: 32_768,
    maxOutput: 8_192,
    price: null,
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  {
    id: 'llama3.1',
    provider: 'ollama',
    aliases: ['llama3.1:8b'],
    contextWindow: 131_072,
    maxOutput: 8_192,
    price: null,
    capabilities: T,
    pricesAsOf: '2025-10',
  },
  // The simulator: free, and never a real model.
  {
    id: 'sim-react',
    provider: 'simulated',
    aliases: ['sim-default', 'sim'],
    contextWindow: 128_000,
    maxOutput: 16_384,
    price: null,
    capabilities: T,
    pricesAsOf: '2026-11',
    note: 'built-in simulator',
  },
];

const INDEX = new Map<string, CatalogEntry>();
for (const e of CATALOG) {
  for (const key of [e.id, ...(e.aliases ?? [])]) {
    INDEX.set(key.toLowerCase(), e);
    INDEX.set(`${e.provider}/${key}`.toLowerCase(), e);
  }
}

/**
 * The catalogue entry for a model id or alias. Router-style ids (`openai/gpt-4o`, `deepseek-ai/DeepSeek-V3`)
 * fall back to the part after the last slash.
 */
export function findModel(id: string, provider?: string): CatalogEntry | undefined {
  const k = id.toLowerCase();
  if (provider) {
    const hit = INDEX.get(`${provider.toLowerCase()}/${k}`);
    if (hit) return hit;
  }
  const direct = INDEX.get(k);
  if (direct) return direct;
  const slash = k.lastIndexOf('/');
  return slash >= 0 ? INDEX.get(k.slice(slash + 1)) : undefined;
}

/** The id to send on the wire: the current id when `id` is an alias of a renamed or retired model. */
export function canonicalModelId(id: string): string {
  const e = findModel(id);
  if (!e || e.id.toLowerCase() === id.toLowerCase()) return id;
  // Dated snapshots are exact vendor ids: send them as written. Only retired seed names are rewritten.
  return RETIRED_ALIASES.has(id.toLowerCase()) ? e.id : id;
}

/**
 * The id sent on the wire for a configured id, with a warning (once per id) when it differs: a user who
 * wrote `claude-sonnet-4-20250514` must be told that `claude-sonnet-4-6` is what answers.
 */
export function wireModelId(id: string, provider: string): string {
  const wire = canonicalModelId(id);
  if (wire !== id) {
    log.warnOnce(
      `model-map:${provider}/${id}`,
      `model ${id} (${provider}) is retired; requests go out as ${wire} — write ${wire} in llms.models to silence this`,
      { provider, configured: id, sent: wire },
    );
  }
  return wire;
}

/** Seed names the vendors retired; requests for them go out under the successor's id. */
const RETIRED_ALIASES = new Set([
  'kimi-k1',
  'deepseek-r1',
  'claude-sonnet-4-20250514',
  'claude-sonnet-4-0',
  'claude-sonnet-4',
  'sim',
  'sim-default',
]);
