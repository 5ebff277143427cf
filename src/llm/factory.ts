/**
 * From names to Models. `LLMProviderFactory.create({ provider, model, api_key?, base_url? })` has the seeds'
 * shape and returns a ready Model (retries + the provider's circuit breaker included). `fromConfig(config)`
 * builds a `ModelRegistry` over config.yaml's `llms.models`, `default_model` and `api_keys`, resolving keys
 * from the config first, then the preset's environment variables. Unknown providers and missing keys are
 * ECONFIG errors that name the variable to set.
 */
import type { AosConfig, ModelConfigEntry } from '../config/schema.js';
import { KernelError } from '../errors.js';
import { logger } from '../util/log.js';
import { addKnownSecret } from '../util/redact.js';
import { AnthropicProvider } from './anthropic/anthropic-provider.js';
import { type CatalogEntry, findModel } from './catalog.js';
import type { EmbeddingModel, Model, ModelProvider } from './model.js';
import { OpenAiCompatibleProvider } from './openai-compatible/openai-compatible-provider.js';
import { findPreset, type Preset, presetNames } from './presets.js';
import { CircuitBreaker, type CircuitOptions } from './resilience/circuit.js';
import { FallbackModel } from './resilience/fallback-model.js';
import { ResilientModel } from './resilience/resilient-model.js';
import type { RetryOptions } from './resilience/retry.js';
import type { SimEngine } from './simulated/engine.js';
import { SimulatedProvider } from './simulated/simulated-provider.js';

const log = logger('llm');

/** The seeds' LLMConfig. */
export interface LLMConfig {
  provider: string;
  model: string;
  api_key?: string;
  base_url?: string;
  /** max_tokens for requests that name none; capped by the catalogue's max output. */
  max_output_tokens?: number;
  /** Anthropic extended thinking budget (absent = off). */
  thinking_budget_tokens?: number;
}

/** A configured max_output_tokens capped by the catalogue (a value above the model's limit is a 400). */
export function cappedMaxOutput(model: string, provider: string, configured?: number): number | undefined {
  if (configured === undefined) return undefined;
  const cap = findModel(model, provider)?.maxOutput;
  if (cap !== undefined && configured > cap) {
    log.warnOnce(
      `maxout:${provider}/${model}`,
      `max_output_tokens ${configured} for ${model} is above its limit ${cap}; sending ${cap}`,
    );
    return cap;
  }
  return configured;
}

export interface FactoryOptions {
  env?: NodeJS.ProcessEnv;
  /** `api_keys` from config.yaml: provider name → key. */
  apiKeys?: Record<string, string>;
  retry?: RetryOptions;
  circuit?: CircuitOptions;
  /** False returns bare provider models (no retry, no circuit): benches and tests of the raw layer. */
  resilient?: boolean;
  /** Engine behind the in-process `simulated` provider (default: one shared engine with the rule policy). */
  simulator?: SimEngine;
}

export interface KeyResolution {
  key: string | undefined;
  /** Where it came from: `config`, `api_keys.<name>`, an env var name, or `none`. */
  source: string;
  /** The variable an error message tells the user to set. */
  envKey: string | undefined;
}

export function presetOrThrow(provider: string): Preset {
  const p = findPreset(provider);
  if (!p) {
    throw new KernelError(
      'ECONFIG',
      `unknown LLM provider "${provider}"; use one of: ${presetNames().join(', ')} (any OpenAI-compatible server works as "openai" with base_url)`,
      {
        details: { provider },
      },
    );
  }
  return p;
}

export class LLMProviderFactory {
  private readonly env: NodeJS.ProcessEnv;
  private readonly providers = new Map<string, ModelProvider>();
  private readonly breakers = new Map<string, CircuitBreaker>();
  private simulated: SimulatedProvider | undefined;

  constructor(readonly opts: FactoryOptions = {}) {
    this.env = opts.env ?? process.env;
  }

  resolveKey(provider: string, explicit?: string): KeyResolution {
    const preset = presetOrThrow(provider);
    const envKey = preset.envKeys[0];
    if (explicit) return { key: explicit, source: 'config', envKey };
    const keys = this.opts.apiKeys ?? {};
    for (const n of [provider, preset.name, ...(preset.aliases ?? [])]) {
      const v = keys[n];
      if (v) return { key: v, source: `api_keys.${n}`, envKey };
    }
    for (const e of preset.envKeys) {
      const v = this.env[e];
      if (v) return { key: v, source: e, envKey };
    }
    return { key: undefined, source: 'none', envKey };
  }

  /** The (cached) provider instance for a preset + endpoint + key. */
  provider(provider: string, apiKey?: string, baseUrl?: string): ModelProvider {
    const preset = presetOrThrow(provider);
    if (preset.kind === 'simulated' && !baseUrl) {
      this.simulated ??= new SimulatedProvider(this.opts.simulator ? { engine: this.opts.simulator } : {});
      return this.simulated;
    }
    const cacheKey = `${preset.name}|${baseUrl ?? ''}|${apiKey ?? ''}`;
    let p = this.providers.get(cacheKey);
    if (!p) {
      // Every key a provider client holds is masked wherever it might surface (logs, audit, errors), whether
      // it came from api_keys, an env var or a model's own api_key.
      if (apiKey) addKnownSecret(apiKey, `${preset.name}-key`);
      p =
        preset.kind === 'anthropic'
          ? new AnthropicProvider({
              ...(apiKey ? { apiKey } : {}),
              ...(baseUrl ? { baseUrl } : {}),
              name: preset.name,
            })
          : new OpenAiCompatibleProvider({
              preset,
              ...(apiKey ? { apiKey } : {}),
              ...(baseUrl ? { baseUrl } : {}),
            });
      this.providers.set(cacheKey, p);
    }
    return p;
  }

  /** One breaker per endpoint: every model on a dead endpoint fails fast together. */
  breaker(provider: string, baseUrl?: string): CircuitBreaker {
    const preset = presetOrThrow(provider);
    const key = `${preset.name}|${baseUrl ?? preset.baseUrl}`;
    let b = this.breakers.get(key);
    if (!b) {
      b = new CircuitBreaker(baseUrl ? `${preset.name} (${baseUrl})` : preset.name, {
        ...this.opts.circuit,
        onChange: (state, name) => {
          log.warn(`circuit ${state}`, { provider: name });
          this.opts.circuit?.onChange?.(state, name);
        },
      });
      this.breakers.set(key, b);
    }
    return b;
  }

  /** The seeds' entry point: a ready Model for `{ provider, model, api_key?, base_url? }`. */
  create(cfg: LLMConfig): Model {
    if (!cfg || typeof cfg.provider !== 'string' || typeof cfg.model !== 'string' || !cfg.model) {
      throw new KernelError(
        'ECONFIG',
        'LLMProviderFactory.create needs { provider, model }, e.g. { provider: "deepseek", model: "deepseek-chat" }',
      );
    }
    const preset = presetOrThrow(cfg.provider);
    const { key, envKey } = this.resolveKey(cfg.provider, cfg.api_key);
    if (
      !key &&
      preset.keyRequired &&
      !cfg.base_url?.startsWith('http://127.0.0.1') &&
      !cfg.base_url?.startsWith('http://localhost')
    ) {
      throw new KernelError(
        'ECONFIG',
        `no API key for provider "${preset.name}" (model ${cfg.model}): set ${envKey}${preset.envKeys.length > 1 ? ` (or ${preset.envKeys.slice(1).join(', ')})` : ''} or api_keys.${preset.name} in config.yaml`,
        { details: { provider: preset.name, model: cfg.model, env: envKey } },
      );
    }
    const maxOutputTokens = cappedMaxOutput(cfg.model, preset.name, cfg.max_output_tokens);
    const model = this.provider(cfg.provider, key, cfg.base_url).model(cfg.model, {
      ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
      ...(cfg.thinking_budget_tokens ? { thinkingBudget: cfg.thinking_budget_tokens } : {}),
    });
    if (this.opts.resilient === false) return model;
    return new ResilientModel(model, this.breaker(cfg.provider, cfg.base_url), this.opts.retry);
  }

  /**
   * An embedding model from a provider that has one (OpenAI-compatible endpoints; the simulator's hashing
   * embeddings for `simulated`). Anthropic has no embeddings API: EUNSUPPORTED.
   */
  embeddings(cfg: LLMConfig & { dimensions?: number }): EmbeddingModel {
    const preset = presetOrThrow(cfg.provider);
    const { key } = this.resolveKey(cfg.provider, cfg.api_key);
    const p = this.provider(cfg.provider, key, cfg.base_url) as ModelProvider & {
      embeddings?: (id: string, dimensions?: number) => EmbeddingModel;
    };
    if (!p.embeddings) {
      throw new KernelError(
        'EUNSUPPORTED',
        `provider "${preset.name}" has no embeddings API; use an OpenAI-compatible provider or the local hashing embedder`,
      );
    }
    return p.embeddings(cfg.model, cfg.dimensions);
  }

  /** A fallback chain over several configs (A → B → …), each resilient on its own. */
  createChain(cfgs: LLMConfig[]): Model {
    const models = cfgs.map((c) => this.create(c));
    if (models.length === 1) return models[0]!;
    return new FallbackModel(models, ({ from, to, error }) =>
      log.warn(`falling back from ${from.provider}/${from.id} to ${to.provider}/${to.id}`, {
        code: error.code,
      }),
    );
  }

  static fromConfig(config: AosConfig, opts: Omit<FactoryOptions, 'apiKeys'> = {}): ModelRegistry {
    const r = config.llms.retry;
    const retry = r ? { maxRetries: r.max_retries, baseMs: r.base_ms, maxMs: r.max_ms } : undefined;
    const c = config.llms.circuit;
    const circuit = c ? { threshold: c.threshold, openMs: c.open_ms } : undefined;
    return new ModelRegistry(
      new LLMProviderFactory({
        ...(retry ? { retry } : {}),
        ...(circuit ? { circuit } : {}),
        ...opts,
        apiKeys: config.api_keys,
      }),
      config,
    );
  }
}

export interface ModelInfo {
  name: string;
  provider: string;
  baseUrl: string;
  contextWindow: number | null;
  maxOutput: number | null;
  price: CatalogEntry['price'];
  pricesAsOf: string | null;
  keyPresent: boolean;
  /** Environment variable that would supply the key. */
  keyEnv: string | null;
  isDefault: boolean;
  fallbacks: string[];
}

const SIM_DEFAULT = 'sim-react';

export class ModelRegistry {
  private readonly entries = new Map<string, ModelConfigEntry>();
  private readonly cache = new Map<string, Model>();

  constructor(
    readonly factory: LLMProviderFactory,
    readonly config: AosConfig,
  ) {
    const st = config.llms.stream;
    if (st && typeof st === 'object')
      for (const name of Object.keys(st)) {
        if (!findPreset(name))
          throw new KernelError(
            'ECONFIG',
            `llms.stream.${name}: "${name}" is not a provider; use one of: ${presetNames().join(', ')}`,
            { details: { key: `llms.stream.${name}` } },
          );
      }
    for (const e of config.llms.models) {
      presetOrThrow(e.provider);
      if (this.entries.has(e.name))
        throw new KernelError(
          'ECONFIG',
          `llms.models has two entries named "${e.name}"; names must be unique`,
        );
      this.entries.set(e.name, e);
    }
  }

  private entryFor(name: string): ModelConfigEntry {
    const e = this.entries.get(name);
    if (e) return e;
    const c = findModel(name);
    if (c) return { name, provider: c.provider };
    if (name.startsWith('sim-')) return { name, provider: 'simulated' };
    throw new KernelError(
      'ECONFIG',
      `model "${name}" is neither in llms.models nor in the catalogue; add it to llms.models with its provider (and base_url if self-hosted)`,
      {
        details: { model: name, configured: [...this.entries.keys()] },
      },
    );
  }

  private hasKey(e: ModelConfigEntry): boolean {
    const preset = presetOrThrow(e.provider);
    return (
      !preset.keyRequired ||
      e.base_url !== undefined ||
      this.factory.resolveKey(e.provider, e.api_key).key !== undefined
    );
  }

  /** The default model's name: `default_model`, else the first configured model; the simulator when its key is missing. */
  defaultModelName(): string {
    const wanted = this.config.default_model ?? this.config.llms.models[0]?.name;
    if (!wanted) return SIM_DEFAULT;
    const e = this.entryFor(wanted);
    if (this.hasKey(e)) return wanted;
    const envKey = this.factory.resolveKey(e.provider).envKey;
    log.warnOnce(
      `default-sim:${wanted}`,
      `no API key for default model ${wanted} (set ${envKey}); using the built-in simulator ${SIM_DEFAULT} — its answers are rules, not a model`,
    );
    return SIM_DEFAULT;
  }

  /** A ready Model (resilient, with its fallbacks) for a configured or catalogued name; the default when omitted. */
  get(name?: string): Model {
    const n = name ?? this.defaultModelName();
    const hit = this.cache.get(n);
    if (hit) return hit;
    const chainNames = [n, ...(this.entryFor(n).fallbacks ?? [])];
    const cfgs = chainNames.map((x) => {
      const e = this.entryFor(x);
      return {
        provider: e.provider,
        model: x,
        ...(e.api_key ? { api_key: e.api_key } : {}),
        ...(e.base_url ? { base_url: e.base_url } : {}),
        ...(e.max_output_tokens ? { max_output_tokens: e.max_output_tokens } : {}),
        ...(e.thinking_budget_tokens ? { thinking_budget_tokens: e.thinking_budget_tokens } : {}),
      };
    });
    const m = this.factory.createChain(cfgs);
    this.cache.set(n, m);
    return m;
  }

  /**
   * Whether agent steps on this model stream: the model's `stream:`, else `llms.stream` (for its provider
   * when that is a map), else on. Every preset's wire streams (OpenAI-compatible with include_usage,
   * Anthropic's event stream, the simulator).
   */
  streams(name: string): boolean {
    const e = this.entryFor(name);
    if (e.stream !== undefined) return e.stream;
    const st = this.config.llms.stream;
    if (typeof st === 'boolean') return st;
    const preset = presetOrThrow(e.provider);
    for (const n of [e.provider, preset.name, ...(preset.aliases ?? [])]) {
      const v = st?.[n];
      if (v !== undefined) return v;
    }
    return true;
  }

  info(name: string): ModelInfo {
    const e = this.entryFor(name);
    const preset = presetOrThrow(e.provider);
    const c = findModel(name, preset.name);
    const def = this.config.default_model ?? this.config.llms.models[0]?.name ?? SIM_DEFAULT;
    return {
      name,
      provider: preset.name,
      baseUrl: e.base_url ?? preset.baseUrl,
      contextWindow: e.context_window ?? c?.contextWindow ?? null,
      maxOutput: e.max_output_tokens ?? c?.maxOutput ?? null,
      price: c?.price ?? null,
      pricesAsOf: c?.price ? c.pricesAsOf : null,
      keyPresent: this.hasKey(e),
      keyEnv: preset.envKeys[0] ?? null,
      isDefault: name === def,
      fallbacks: e.fallbacks ?? [],
    };
  }

  /** Every configured model, plus the simulator (always available). */
  list(): ModelInfo[] {
    const names = [...this.entries.keys()];
    if (!names.some((n) => this.entries.get(n)?.provider === 'simulated')) names.push(SIM_DEFAULT);
    return names.map((n) => this.info(n));
  }
}
