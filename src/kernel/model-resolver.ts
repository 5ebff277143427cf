/**
 * Model lookup for processes: a process names a model ("deepseek-chat", "sim-react"); the resolver turns
 * that into a `Model` (src/llm) plus the catalogue facts the scheduler and context manager need.
 */
import type { AosConfig } from '../config/schema.js';
import { KernelError } from '../errors.js';
import { findModel } from '../llm/catalog.js';
import { LLMProviderFactory } from '../llm/factory.js';
import type { Model, ModelProvider } from '../llm/model.js';
import { MODEL_FALLBACK_WINDOW as FALLBACK_WINDOW, OUTPUT_RESERVE_TOKENS } from '../param.js';
import { logger } from '../util/log.js';

const log = logger('models');

export interface ModelInfo {
  id: string;
  provider: string;
  /** True for the built-in simulator: never present its output as a real model's. */
  simulated: boolean;
  contextWindow: number;
  maxOutputTokens: number;
}

export interface ModelResolver {
  resolve(name: string): Model;
  describe(name: string): ModelInfo;
  /** Whether agent steps on this model stream (config `stream:` per model, `llms.stream` per provider). */
  streams(name: string): boolean;
  defaultModel(): string;
  names(): string[];
}

export function infoFor(id: string, provider: string): ModelInfo {
  const e = findModel(id, provider);
  return {
    id,
    provider,
    simulated: provider === 'simulated',
    contextWindow: e?.contextWindow ?? FALLBACK_WINDOW,
    maxOutputTokens: e?.maxOutput ?? OUTPUT_RESERVE_TOKENS,
  };
}

/** The configured providers (llms.models, api_keys, env vars); the simulator stands in for a keyless default. */
export function createModelResolver(config: AosConfig): ModelResolver {
  const registry = LLMProviderFactory.fromConfig(config);
  return {
    resolve: (name) => registry.get(name),
    streams: (name) => registry.streams(name),
    describe(name) {
      const i = registry.info(name);
      return {
        id: name,
        provider: i.provider,
        simulated: i.provider === 'simulated',
        contextWindow: i.contextWindow ?? FALLBACK_WINDOW,
        maxOutputTokens: i.maxOutput ?? OUTPUT_RESERVE_TOKENS,
      };
    },
    defaultModel: () => registry.defaultModelName(),
    names: () => registry.list().map((m) => m.name),
  };
}

/** Every model name served by one provider (tests, examples, the simulator). */
export function resolverFromProvider(provider: ModelProvider, defaultModel = 'sim-react'): ModelResolver {
  const cache = new Map<string, Model>();
  return {
    resolve(name) {
      let m = cache.get(name);
      if (!m) {
        m = provider.model(name);
        cache.set(name, m);
      }
      return m;
    },
    describe: (name) => infoFor(name, provider.name),
    streams: () => true,
    defaultModel: () => defaultModel,
    names: () => [...new Set([defaultModel, ...cache.keys()])],
  };
}

/** Resolver over several named resolvers; first one that knows a name wins. */
export function chainResolvers(primary: ModelResolver, fallback: ModelResolver): ModelResolver {
  const owner = (name: string) => (primary.names().includes(name) ? primary : fallback);
  return {
    resolve: (name) => owner(name).resolve(name),
    describe: (name) => owner(name).describe(name),
    streams: (name) => owner(name).streams(name),
    defaultModel: () => primary.defaultModel(),
    names: () => [...new Set([...primary.names(), ...fallback.names()])],
  };
}

export function unknownModel(name: string, known: string[]): KernelError {
  return new KernelError(
    'ENOTFOUND',
    `unknown model '${name}'; configured: ${known.join(', ') || 'none'} (add it under llms.models in config.yaml)`,
  );
}

export { log as modelsLog };
export type { AosConfig };
