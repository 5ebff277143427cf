/**
 * The one embedder module: the `Embedder` seam and the kernel's offline lexical embedding, used by memory
 * search (storage), page similarity and prefetch (context), lesson and task-family matching (learning) and
 * the simulator's /v1/embeddings (llm). Provider embeddings plug in through `Embedder`.
 *
 * `hashingEmbedding` is LEXICAL, not semantic: it hashes word unigrams and character trigrams into `dim`
 * buckets (signed feature hashing, sublinear term frequency, L2-normalised). Texts that share words or word
 * fragments land close; synonyms and paraphrases with no shared surface form do not. It is deterministic,
 * fast and needs no network; it reads the first EMBED_MAX_CHARS of a text. The vectors are those of
 * `hashing-v1-<dim>` (memories stored by earlier versions stay comparable).
 */
import { EMBED_MAX_CHARS, EMBEDDING_DIM } from '../param.js';

export interface Embedder {
  /** Length of every vector embed() returns. */
  readonly dimensions: number;
  /** Stable identifier (stored in logs and bench results), e.g. "hashing-v1-256". */
  readonly name: string;
  embed(texts: readonly string[]): Promise<number[][]>;
}

const WORD = /[\p{L}\p{N}]+/gu;
const TRIGRAM_WEIGHT = 0.5; // fragments count, but less than whole words

const SEED = 0x811c9dc5; // FNV-1a offset basis: the bucket hash
const SIGN_SEED = 0x9747b28c; // a second FNV-1a picks the sign, so collisions cancel rather than pile up
const PRIME = 0x01000193;

/** FNV-1a, 32-bit, of `prefix` followed by `s[from, to)`: tiny, fast, well spread for short strings. */
function fnv(h: number, s: string, from: number, to: number): number {
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), PRIME) >>> 0;
  return h;
}
const fnvOf = (seed: number, prefix: string): number => fnv(seed >>> 0, prefix, 0, prefix.length);
const W = [fnvOf(SEED, 'w:'), fnvOf(SIGN_SEED, 'w:')] as const; // states after a feature's kind prefix
const G = [fnvOf(SEED, 'g:'), fnvOf(SIGN_SEED, 'g:')] as const;

/** The lower-cased words of a text (letters and digits), as the embedding and full-text search see them. */
export function words(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/**
 * Term frequencies of the features of one text, keyed by the feature's two hashes, in first-seen order (the
 * order the vector is summed in). An open-addressing table on typed arrays, reused between calls: a Map
 * costs three times as much on a page of tool output.
 */
const table = {
  cap: 0,
  h: new Uint32Array(0),
  sign: new Uint32Array(0),
  n: new Float64Array(0),
  used: new Uint8Array(0),
  order: new Int32Array(0),
  size: 0,
};

function resetTable(features: number): void {
  let cap = 1024;
  while (cap < features * 2) cap *= 2;
  if (cap > table.cap) {
    Object.assign(table, {
      cap,
      h: new Uint32Array(cap),
      sign: new Uint32Array(cap),
      n: new Float64Array(cap),
      used: new Uint8Array(cap),
      order: new Int32Array(cap),
    });
  } else {
    for (let i = 0; i < table.size; i++) table.used[table.order[i]!] = 0;
  }
  table.size = 0;
}

function count(h: number, sign: number, n: number): void {
  const mask = table.cap - 1;
  let i = (h ^ Math.imul(sign, 0x9e3779b1)) & mask;
  while (table.used[i]) {
    if (table.h[i] === h && table.sign[i] === sign) {
      table.n[i]! += n;
      return;
    }
    i = (i + 1) & mask;
  }
  table.used[i] = 1;
  table.h[i] = h;
  table.sign[i] = sign;
  table.n[i] = n;
  table.order[table.size++] = i;
}

/** The lexical embedding of one text: `dim` numbers, unit length (all zero for a text without words). */
export function hashingEmbedding(text: string, dim: number = EMBEDDING_DIM): number[] {
  const ws = words(text.length > EMBED_MAX_CHARS ? text.slice(0, EMBED_MAX_CHARS) : text);
  let features = 0;
  for (const w of ws) features += w.length + 1; // the word and the trigrams of #word#
  resetTable(features);
  // Features are `w:<word>` and `g:<trigram of #word#>`, hashed without building their strings.
  for (const w of ws) {
    count(fnv(W[0], w, 0, w.length), fnv(W[1], w, 0, w.length), 1);
    const padded = `#${w}#`;
    for (let i = 0; i + 3 <= padded.length; i++)
      count(fnv(G[0], padded, i, i + 3), fnv(G[1], padded, i, i + 3), TRIGRAM_WEIGHT);
  }
  const v = new Float64Array(dim);
  const { order, h, sign, n } = table;
  for (let k = 0; k < table.size; k++) {
    const i = order[k]!;
    v[h[i]! % dim]! += (sign[i]! & 1 ? 1 : -1) * (1 + Math.log(n[i]!));
  }
  let norm = 0;
  for (let i = 0; i < dim; i++) norm += v[i]! * v[i]!;
  norm = Math.sqrt(norm);
  const out = new Array<number>(dim);
  for (let i = 0; i < dim; i++) out[i] = norm === 0 ? 0 : v[i]! / norm;
  return out;
}

/** `hashingEmbedding` behind the `Embedder` seam: the default embedder of memories and lessons. */
export class HashingEmbedder implements Embedder {
  readonly dimensions: number;
  readonly name: string;

  constructor(dimensions: number = EMBEDDING_DIM) {
    this.dimensions = dimensions;
    this.name = `hashing-v1-${dimensions}`;
  }

  embedOne(text: string): number[] {
    return hashingEmbedding(text, this.dimensions);
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    return texts.map((t) => hashingEmbedding(t, this.dimensions));
  }
}

/** Cosine similarity of two vectors of one length (0 when either is all zero). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
