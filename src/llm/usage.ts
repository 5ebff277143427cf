/**
 * Usage normaliser: every vendor's usage object → one `LlmUsage`, and a cost in USD from the catalogue.
 * Dialects (all tolerated by both functions, whatever the preset, because proxies mix them):
 *  - OpenAI / Qwen / GLM / Gemini: `prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`,
 *    `completion_tokens_details.reasoning_tokens`.
 *  - DeepSeek: `prompt_cache_hit_tokens` + `prompt_cache_miss_tokens` (= `prompt_tokens`).
 *  - Kimi: top-level `cached_tokens`.
 *  - Ollama: no cached field at all.
 *  - Anthropic: `input_tokens` EXCLUDES `cache_read_input_tokens` and `cache_creation_input_tokens`.
 */
import type { CatalogEntry, ModelPrice } from './catalog.js';
import type { LlmUsage } from './model.js';

type Raw = Record<string, unknown> | null | undefined;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};

/** Usage from an OpenAI-compatible response (any of the OpenAI, DeepSeek, Kimi, Ollama dialects). */
export function normaliseOpenAiUsage(raw: Raw): LlmUsage {
  const u = obj(raw);
  const hit = num(u.prompt_cache_hit_tokens);
  const miss = num(u.prompt_cache_miss_tokens);
  const input = num(u.prompt_tokens) || hit + miss;
  const cached = num(obj(u.prompt_tokens_details).cached_tokens) || hit || num(u.cached_tokens);
  const output = num(u.completion_tokens);
  const reasoning = num(obj(u.completion_tokens_details).reasoning_tokens) || num(u.reasoning_tokens);
  return {
    input,
    cachedInput: Math.min(cached, input),
    cacheWrite: 0,
    output,
    reasoning: Math.min(reasoning, output),
  };
}

/** Usage from an Anthropic Messages response; cache reads and writes are added back into `input`. */
export function normaliseAnthropicUsage(raw: Raw): LlmUsage {
  const u = obj(raw);
  const read = num(u.cache_read_input_tokens);
  const write = num(u.cache_creation_input_tokens);
  return {
    input: num(u.input_tokens) + read + write,
    cachedInput: read,
    cacheWrite: write,
    output: num(u.output_tokens),
    reasoning: 0,
  };
}

export function addUsage(a: LlmUsage, b: LlmUsage): LlmUsage {
  return {
    input: a.input + b.input,
    cachedInput: a.cachedInput + b.cachedInput,
    cacheWrite: a.cacheWrite + b.cacheWrite,
    output: a.output + b.output,
    reasoning: a.reasoning + b.reasoning,
  };
}

/** Cost in USD of one call; 0 when the model has no price (local servers, the simulator, unknown ids). */
export function costUsd(usage: LlmUsage, price: ModelPrice | null | undefined): number {
  if (!price) return 0;
  const uncached = Math.max(0, usage.input - usage.cachedInput - usage.cacheWrite);
  const micro =
    uncached * price.input +
    usage.cachedInput * price.cachedInput +
    usage.cacheWrite * price.cacheWrite +
    usage.output * price.output;
  return micro / 1_000_000;
}

export function costFor(usage: LlmUsage, entry: CatalogEntry | undefined): number {
  return costUsd(usage, entry?.price);
}
