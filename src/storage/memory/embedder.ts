/**
 * The Embedder seam and the offline default. HashingEmbedder is LEXICAL, not semantic: it hashes word
 * unigrams and character trigrams into EMBEDDING_DIM buckets (signed feature hashing, sublinear term
 * frequency, L2-normalised). Texts that share words or word fragments land close; synonyms and paraphrases
 * with no shared surface form do not. It is deterministic, fast and needs no network. Provider embeddings
 * (OpenAI-compatible /embeddings, etc.) plug in through the same interface.
 */
import { EMBEDDING_DIM } from '../../param.js';

export interface Embedder {
  /** Length of every vector embed() returns. */
  readonly dimensions: number;
  /** Stable identifier (stored in logs and bench results), e.g. "hashing-v1-256". */
  readonly name: string;
  embed(texts: readonly string[]): Promise<number[][]>;
}

const WORD = /[\p{L}\p{N}]+/gu;
const TRIGRAM_WEIGHT = 0.5; // fragments count, but less than whole words

/** FNV-1a, 32-bit: tiny, fast, well spread for short strings. */
function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function words(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

export class HashingEmbedder implements Embedder {
  readonly dimensions: number;
  readonly name: string;

  constructor(dimensions: number = EMBEDDING_DIM) {
    this.dimensions = dimensions;
    this.name = `hashing-v1-${dimensions}`;
  }

  embedOne(text: string): number[] {
    const tf = new Map<string, number>();
    for (const w of words(text)) {
      tf.set(`w:${w}`, (tf.get(`w:${w}`) ?? 0) + 1);
      const padded = `#${w}#`;
      for (let i = 0; i + 3 <= padded.length; i++) {
        const g = `g:${padded.slice(i, i + 3)}`;
        tf.set(g, (tf.get(g) ?? 0) + TRIGRAM_WEIGHT);
      }
    }
    const v = new Array<number>(this.dimensions).fill(0);
    for (const [feature, count] of tf) {
      const h = fnv1a(feature);
      const sign = fnv1a(feature, 0x9747b28c) & 1 ? 1 : -1; // a second hash picks the sign: collisions cancel
      const idx = h % this.dimensions;
      v[idx] = (v[idx] ?? 0) + sign * (1 + Math.log(count));
    }
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm);
    return norm === 0 ? v : v.map((x) => x / norm);
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    return texts.map((t) => this.embedOne(t));
  }
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
