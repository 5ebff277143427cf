/**
 * A compact byte-pair encoder: the o200k_base ranks as one byte blob plus offsets (2.2 MB, written to
 * dist/llm/o200k_base.bpe at build time by scripts/postbuild.mjs) and an open-addressing hash from token
 * bytes to rank (2 MiB of Int32Array). Why not gpt-tokenizer's own encoder: its ranks module is a 2.4 MB
 * JavaScript array literal of 200k strings; parsing it and building its string Map added 55–60 MiB RSS to
 * every kernel process, and its merge cache holds up to 100,000 entries. This one adds ~6 MiB.
 *
 * The algorithm is tiktoken's, exactly as gpt-tokenizer runs it (tokenizer.test.ts compares counts and
 * tokens on a corpus): split with the o200k regex, a piece that is a token is one token, otherwise merge
 * byte pairs lowest rank first (leftmost on ties). Special tokens in the text count as plain text.
 */

// The o200k_base pre-tokenizer (tiktoken's pattern, as gpt-tokenizer writes it for JavaScript's regex).
const CONTRACTION = String.raw`(?:'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE]))?`;
export const O200K_SPLIT_PATTERN = String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+${CONTRACTION}|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*${CONTRACTION}|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/** gpt-tokenizer's o200k special tokens: decode() renders them; encode() never emits them. */
const O200K_SPECIALS: ReadonlyArray<readonly [number, string]> = [
  [199999, '<|endoftext|>'],
  [200000, '<|fim_prefix|>'],
  [200001, '<|fim_middle|>'],
  [200002, '<|fim_suffix|>'],
  [200003, '<|im_start|>'],
  [200004, '<|im_end|>'],
  [200005, '<|im_sep|>'],
  [200006, '<|endofprompt|>'],
];

const MAGIC = 'AOSBPE02'; // format: magic, u32 ranks, blob bytes, table slots, 0x01020304; offsets, table, blob
const headerBytes = 24;
const byteOrderMark = 0x01020304; // the arrays are in the writer's byte order: a reader with the other one recompiles

/** The ranks as the package ships them (index = rank; a string, or the bytes of a non-UTF-8 token). */
export type RankList = ArrayLike<string | readonly number[] | undefined>;

// FNV-1a over bytes [s, e) of `b`.
function hashBytes(b: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5;
  for (let i = s; i < e; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  return h >>> 0;
}

/**
 * Serialises ranks into the compact file: offsets into a byte blob, and the open-addressing hash table
 * from token bytes to rank + 1 (0 = empty slot), so loading is reading (build time, or once at load when
 * the file is absent).
 */
export function compileRanks(ranks: RankList): Uint8Array {
  const te = new TextEncoder();
  const parts: Uint8Array[] = [];
  let blobLen = 0;
  for (let r = 0; r < ranks.length; r++) {
    const v = ranks[r];
    const b = v === undefined ? new Uint8Array(0) : typeof v === 'string' ? te.encode(v) : Uint8Array.from(v);
    parts.push(b);
    blobLen += b.length;
  }
  const n = ranks.length;
  let slots = 1;
  while (slots < n * 2) slots <<= 1;
  const out = new Uint8Array(headerBytes + 4 * (n + 1) + 4 * slots + blobLen);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  new Uint32Array(out.buffer, 8, 4).set([n, blobLen, slots, byteOrderMark]);
  const offsets = new Uint32Array(out.buffer, headerBytes, n + 1);
  const table = new Int32Array(out.buffer, headerBytes + 4 * (n + 1), slots);
  const blob = out.subarray(headerBytes + 4 * (n + 1) + 4 * slots);
  let at = 0;
  for (let r = 0; r < n; r++) {
    const b = parts[r] as Uint8Array;
    offsets[r] = at;
    blob.set(b, at);
    if (b.length > 0) {
      let slot = hashBytes(blob, at, at + b.length) & (slots - 1);
      while (table[slot] !== 0) slot = (slot + 1) & (slots - 1);
      table[slot] = r + 1;
    }
    at += b.length;
  }
  offsets[n] = at;
  return out;
}

export class BytePairEncoder {
  private readonly offsets: Uint32Array;
  private readonly blob: Uint8Array;
  private readonly table: Int32Array;
  private readonly mask: number;
  private readonly byteRank = new Int32Array(256); // single bytes, the fast path
  private readonly specials = new Map<number, string>(O200K_SPECIALS);
  private readonly split = new RegExp(O200K_SPLIT_PATTERN, 'gu');
  private readonly te = new TextEncoder();
  private readonly td = new TextDecoder();
  private scratch = new Uint8Array(1024);
  private readonly cache = new Map<string, number[]>(); // pieces that needed merging, bounded
  readonly vocab: number;

  /** `file` in the format compileRanks() writes; throws naming the fix when it is not one. */
  constructor(
    file: Uint8Array,
    private readonly cacheMax: number,
  ) {
    const magic = String.fromCharCode(...file.subarray(0, MAGIC.length));
    if (magic !== MAGIC || file.length < headerBytes)
      throw new Error(
        `not a compiled BPE rank file (magic ${JSON.stringify(magic)}): rebuild with npm run build`,
      );
    const f = file.byteOffset % 4 === 0 ? file : file.slice(); // typed-array views need 4-byte alignment
    const head = new Uint32Array(f.buffer, f.byteOffset + 8, 4);
    const [n, blobLen, slots, bom] = [head[0] ?? 0, head[1] ?? 0, head[2] ?? 0, head[3]];
    if (bom !== byteOrderMark)
      throw new Error(
        'compiled BPE rank file has the other byte order: rebuild with npm run build on this machine',
      );
    if (f.length !== headerBytes + 4 * (n + 1) + 4 * slots + blobLen)
      throw new Error(`compiled BPE rank file is truncated (${f.length} bytes): rebuild with npm run build`);
    this.vocab = n;
    this.offsets = new Uint32Array(f.buffer, f.byteOffset + headerBytes, n + 1);
    this.table = new Int32Array(f.buffer, f.byteOffset + headerBytes + 4 * (n + 1), slots);
    this.blob = f.subarray(headerBytes + 4 * (n + 1) + 4 * slots);
    this.mask = slots - 1;
    const one = new Uint8Array(1);
    for (let b = 0; b < 256; b++) {
      one[0] = b;
      this.byteRank[b] = this.lookup(one, 0, 1);
    }
  }

  /** The rank of bytes [s, e) of `b`, or -1. */
  private rank(b: Uint8Array, s: number, e: number): number {
    return e - s === 1 ? (this.byteRank[b[s] as number] as number) : this.lookup(b, s, e);
  }

  private lookup(b: Uint8Array, s: number, e: number): number {
    const len = e - s;
    const table = this.table;
    const offsets = this.offsets;
    const blob = this.blob;
    const mask = this.mask;
    let slot = hashBytes(b, s, e) & mask;
    for (;;) {
      const v = table[slot] as number;
      if (v === 0) return -1;
      const r = v - 1;
      const ts = offsets[r] as number;
      if ((offsets[r + 1] as number) - ts === len) {
        let i = 0;
        while (i < len && blob[ts + i] === b[s + i]) i++;
        if (i === len) return r;
      }
      slot = (slot + 1) & mask;
    }
  }

  // UTF-8 bytes of `piece` in the scratch buffer; returns their length.
  private bytesOf(piece: string): number {
    if (this.scratch.length < piece.length * 3) this.scratch = new Uint8Array(piece.length * 3);
    return this.te.encodeInto(piece, this.scratch).written;
  }

  // Tokens of one pre-token: one rank when the piece is a token, else tiktoken's lowest-rank-first merge.
  private piece(p: string, out: number[]): void {
    const n = this.bytesOf(p);
    const b = this.scratch;
    const whole = this.rank(b, 0, n);
    // a lone surrogate encodes as U+FFFD: gpt-tokenizer then merges the bytes rather than looking the piece up
    if (whole >= 0 && (n === 1 || (p as unknown as { isWellFormed(): boolean }).isWellFormed())) {
      out.push(whole);
      return;
    }
    const hit = this.cache.get(p);
    if (hit) {
      for (const t of hit) out.push(t);
      return;
    }
    const toks = this.merge(b, n);
    if (this.cache.size >= this.cacheMax) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(p, toks);
    for (const t of toks) out.push(t);
  }

  private merge(b: Uint8Array, n: number): number[] {
    const inf = Number.POSITIVE_INFINITY;
    const starts: number[] = [];
    const ranks: number[] = [];
    const pair = (s: number, e: number | undefined): number => {
      if (e === undefined) return inf;
      const r = this.rank(b, s, e);
      return r < 0 ? inf : r;
    };
    for (let i = 0; i <= n; i++) {
      starts.push(i);
      ranks.push(i < n - 1 ? pair(i, i + 2) : inf);
    }
    while (starts.length > 1) {
      let low = inf;
      let at = -1;
      for (let i = 0; i < ranks.length - 1; i++) {
        const r = ranks[i] as number;
        if (r < low) {
          low = r;
          at = i;
        }
      }
      if (at === -1) break;
      starts.splice(at + 1, 1);
      ranks.splice(at, 1);
      ranks[at] = pair(starts[at] as number, starts[at + 2]);
      if (at > 0) ranks[at - 1] = pair(starts[at - 1] as number, starts[at + 1]);
    }
    const out: number[] = [];
    for (let i = 0; i < starts.length - 1; i++) {
      const r = this.rank(b, starts[i] as number, starts[i + 1] as number);
      if (r < 0) throw new Error('byte-pair merge produced bytes that are not a token (corrupt rank file)');
      out.push(r);
    }
    return out;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    this.split.lastIndex = 0;
    for (const [p] of text.matchAll(this.split)) this.piece(p, out);
    return out;
  }

  count(text: string): number {
    let total = 0;
    const out: number[] = [];
    for (const [p] of text.matchAll(this.split)) {
      if (p.length === 1 && p.charCodeAt(0) < 0x80) {
        total++;
        continue;
      }
      this.piece(p, out);
      total += out.length;
      out.length = 0;
    }
    return total;
  }

  decode(tokens: readonly number[]): string {
    let len = 0;
    for (const t of tokens) {
      if (t >= 0 && t < this.vocab) len += (this.offsets[t + 1] as number) - (this.offsets[t] as number);
      else if (!this.specials.has(t)) throw new Error(`Token ${t} is not in the o200k_base vocabulary`);
    }
    let text = '';
    const buf = new Uint8Array(len);
    let at = 0;
    for (const t of tokens) {
      const sp = this.specials.get(t);
      if (sp !== undefined) {
        text += this.td.decode(buf.subarray(0, at), { stream: true }) + sp;
        at = 0;
        continue;
      }
      const s = this.offsets[t] as number;
      const e = this.offsets[t + 1] as number;
      buf.set(this.blob.subarray(s, e), at);
      at += e - s;
    }
    return text + this.td.decode(buf.subarray(0, at));
  }
}
