/**
 * Deterministic hashing embeddings for the simulator's /v1/embeddings: words and word bigrams are hashed
 * into signed buckets, then L2-normalised. LEXICAL, NOT SEMANTIC: texts sharing words are close, synonyms
 * are not. Good for exercising vector storage and search end to end without a model.
 */
import { createHash } from 'node:crypto';

function bucket(feature: string, dim: number): { index: number; sign: number } {
  const h = createHash('sha1').update(feature).digest();
  return { index: h.readUInt32LE(0) % dim, sign: (h[4]! & 1) === 0 ? 1 : -1 };
}

export function hashingEmbedding(text: string, dim: number): number[] {
  const v = new Array<number>(dim).fill(0);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const features = [...words, ...words.slice(1).map((w, i) => `${words[i]} ${w}`)];
  for (const f of features) {
    const { index, sign } = bucket(f, dim);
    v[index]! += sign;
  }
  const norm = Math.hypot(...v);
  return norm === 0 ? v : v.map((x) => x / norm);
}

/** Float32 little-endian, base64 — the encoding the openai SDK requests by default. */
export function toBase64(v: number[]): string {
  const f = new Float32Array(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}
