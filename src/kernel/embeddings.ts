/**
 * The memory embedder: config.yaml's `embeddings:` section (a preset + model, through the same presets and
 * keys as chat models) behind storage's `Embedder` seam, or the local lexical hashing embedder when the
 * section is absent. Memory search, recall-by-query and prefetch use it; its `name` is the model id stored
 * with every vector (`openai/text-embedding-3-small`, `hashing-v1-256`), so vectors of two models are never
 * compared. Bad config is an ECONFIG naming the key and the fix.
 */
import type { AosConfig } from '../config/schema.js';
import { KernelError } from '../errors.js';
import { LLMProviderFactory, presetOrThrow } from '../llm/factory.js';
import type { EmbeddingModel } from '../llm/model.js';
import { presetNames } from '../llm/presets.js';
import { EMBED_BATCH_DEFAULT, EMBED_BATCH_QWEN } from '../param.js';
import { type Embedder, HashingEmbedder } from '../util/embedder.js';

/** What the banner, `/api/v1/health` and `aos memory` say about the embedder. */
export interface EmbedderInfo {
  /** `provider`: a configured embedding model; `lexical`: the local hashing embedder (no synonyms). */
  kind: 'provider' | 'lexical' | 'custom';
  /** The id stored with every vector. */
  model: string;
  provider: string | null;
  baseUrl: string | null;
}

/** A provider's embedding model behind the Embedder seam: batched, one dimension for every vector. */
export class ProviderEmbedder implements Embedder {
  readonly name: string;
  private dims: number;

  constructor(
    private readonly model: EmbeddingModel,
    readonly info: EmbedderInfo,
    private readonly batch: number,
    configuredDims: number | undefined,
  ) {
    this.name = info.model;
    this.dims = configuredDims ?? 0;
  }

  /** 0 until the first answer says how many (unless `embeddings.dimensions` is set). */
  get dimensions(): number {
    return this.dims;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    const out: number[][] = [];
    for (let at = 0; at < texts.length; at += this.batch) {
      const part = texts.slice(at, at + this.batch);
      const vecs = await this.model.embed(part.map((t) => (t === '' ? ' ' : t)));
      if (vecs.length !== part.length) {
        throw new KernelError(
          'EPROVIDER',
          `embedding model ${this.name} answered ${vecs.length} vectors for ${part.length} texts`,
        );
      }
      for (const v of vecs) {
        if (this.dims === 0) this.dims = v.length;
        if (v.length !== this.dims) {
          throw new KernelError(
            'EPROVIDER',
            `embedding model ${this.name} answered a ${v.length}-dimensional vector where ${this.dims} were expected; ` +
              'set embeddings.dimensions in config.yaml to what the model returns',
            { details: { expected: this.dims, got: v.length } },
          );
        }
        out.push(v);
      }
    }
    return out;
  }
}

/** The embedder config.yaml asks for (`embeddings:`), or the lexical hashing embedder without one. */
export function memoryEmbedder(config: AosConfig, configFile?: string | null): Embedder {
  const e = config.embeddings;
  if (!e) return new HashingEmbedder();
  const where = configFile ?? 'config.yaml';
  const preset = (() => {
    try {
      return presetOrThrow(e.provider);
    } catch {
      throw new KernelError(
        'ECONFIG',
        `embeddings.provider "${e.provider}" in ${where} is not a provider preset; use one of: ${presetNames().join(', ')} ` +
          '(any OpenAI-compatible embeddings server works as "openai" or "vllm" with base_url)',
        { details: { key: 'embeddings.provider', value: e.provider } },
      );
    }
  })();
  if (preset.kind === 'anthropic') {
    throw new KernelError(
      'ECONFIG',
      `embeddings.provider "${e.provider}" in ${where} has no embeddings API; use an OpenAI-compatible one ` +
        '(openai, qwen, ollama, vllm, siliconflow, together) or remove the embeddings section for the lexical embedder',
      { details: { key: 'embeddings.provider', value: e.provider } },
    );
  }
  const factory = LLMProviderFactory.fromConfig(config).factory;
  const { key, envKey } = factory.resolveKey(e.provider, e.api_key);
  const local =
    e.base_url !== undefined && /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(e.base_url);
  if (!key && preset.keyRequired && !local) {
    throw new KernelError(
      'ECONFIG',
      `no API key for embeddings.provider "${preset.name}" (model ${e.model}) in ${where}: set ${envKey}, ` +
        `api_keys.${preset.name} or embeddings.api_key`,
      { details: { key: 'embeddings.api_key', env: envKey } },
    );
  }
  const model = factory.embeddings({
    provider: e.provider,
    model: e.model,
    ...(key ? { api_key: key } : {}),
    ...(e.base_url ? { base_url: e.base_url } : {}),
    ...(e.dimensions ? { dimensions: e.dimensions } : {}),
  });
  const batch = e.batch_size ?? (preset.name.startsWith('qwen') ? EMBED_BATCH_QWEN : EMBED_BATCH_DEFAULT);
  return new ProviderEmbedder(
    model,
    {
      kind: 'provider',
      model: `${preset.name}/${e.model}${e.dimensions ? `@${e.dimensions}` : ''}`,
      provider: preset.name,
      baseUrl: e.base_url ?? preset.baseUrl,
    },
    batch,
    e.dimensions,
  );
}

/** What an embedder is, for the banner and health. */
export function embedderInfo(e: Embedder): EmbedderInfo {
  if (e instanceof ProviderEmbedder) return e.info;
  const kind = e instanceof HashingEmbedder ? 'lexical' : 'custom';
  return { kind, model: e.name, provider: null, baseUrl: null };
}
