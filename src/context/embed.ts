/**
 * A local, deterministic lexical embedding for page similarity (feature hashing of words and word bigrams
 * into EMBEDDING_DIM signed buckets, L2-normalised). It is lexical, not semantic: "car" and "automobile"
 * are unrelated to it. It costs no model call, so the replacer and prefetch can use it on every step.
 */
import { EMBEDDING_DIM, CTX_EMBED_MAX_CHARS as MAX_CHARS } from '../param.js';

const WORD = /[\p{L}\p{N}_]{2,}/gu;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function embedText(text: string, dim = EMBEDDING_DIM): Float32Array {
  const v = new Float32Array(dim);
  const words = (text.length > MAX_CHARS ? text.slice(0, MAX_CHARS) : text).toLowerCase().match(WORD) ?? [];
  let prev = '';
  for (const w of words) {
    add(v, w, 1);
    if (prev) add(v, `${prev} ${w}`, 0.5);
    prev = w;
  }
  let norm = 0;
  for (let i = 0; i < dim; i++) norm += (v[i] ?? 0) ** 2;
  if (norm > 0) {
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < dim; i++) v[i] = (v[i] ?? 0) * inv;
  }
  return v;
}

function add(v: Float32Array, feature: string, weight: number): void {
  const h = fnv1a(feature);
  const i = h % v.length;
  v[i] = (v[i] ?? 0) + (h & 0x80000000 ? -weight : weight);
}

/** Cosine similarity of two normalised vectors (0 when either is empty). */
export function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) s += (a[i] ?? 0) * (b[i] ?? 0);
  return s;
}
