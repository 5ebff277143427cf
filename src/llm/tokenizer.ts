/**
 * A real BPE tokenizer: OpenAI's o200k_base, ranks bundled (no download). Other vendors' tokenizers differ
 * by a few percent; the context layer calibrates its counts against the usage each provider reports, so
 * one shared encoding is enough here. Loaded lazily once per process.
 *
 * Implementation: bpe.ts, tiktoken's algorithm over a compact rank file (dist/llm/o200k_base.bpe, compiled
 * from gpt-tokenizer's ranks at build time): +6 MiB RSS and ~20 ms to load, where gpt-tokenizer's own
 * encoder took +55–60 MiB and 0.5 s (its ranks are a 200k-string JavaScript literal). Without the file (a
 * test run from src/) the ranks are compiled from gpt-tokenizer's package at first use, same counts.
 * Counts and tokens equal gpt-tokenizer's and js-tiktoken's on tokenizer.test.ts's corpus. Measured on
 * Node 20 before: gpt-tokenizer 0.14 µs/token; the WASM `tiktoken` 2.3 µs/token, +69 MiB; `js-tiktoken`
 * 7.4 µs/token, 2.4 s load, +152 MiB, quadratic on long letter runs. js-tiktoken stays as the reference
 * the tests compare against.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { TOKENIZER_MERGE_CACHE } from '../param.js';
import { BytePairEncoder, compileRanks, type RankList } from './bpe.js';
import type { ChatRequest } from './model.js';

interface Encoder {
  name: string;
  encode(text: string): number[];
  decode(tokens: number[]): string;
  count(text: string): number;
}

let enc: Encoder | null = null;

/** Where the build writes the compiled ranks: next to this module in dist/. */
export const RANK_FILE = fileURLToPath(new URL('./o200k_base.bpe', import.meta.url));

/** The ranks compiled from gpt-tokenizer's package (what postbuild writes to RANK_FILE). */
export function compileFromPackage(): Uint8Array {
  const require = createRequire(import.meta.url);
  const id = require.resolve('gpt-tokenizer/bpeRanks/o200k_base');
  const mod = require(id) as { default: RankList };
  const out = compileRanks(mod.default);
  delete require.cache[id]; // the 200k strings can go
  return out;
}

// The file the build wrote; without it (a run from src/) or when it does not load (written on a machine of
// the other byte order), the same ranks compiled from the package.
function loadEncoder(): BytePairEncoder {
  let file: Uint8Array | null = null;
  try {
    file = readFileSync(RANK_FILE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (file)
    try {
      return new BytePairEncoder(file, TOKENIZER_MERGE_CACHE);
    } catch {}
  return new BytePairEncoder(compileFromPackage(), TOKENIZER_MERGE_CACHE);
}

// Special-token strings such as `<|endoftext|>` count as the plain text they are in a prompt: providers
// never let message content carry special tokens.
function encoding(): Encoder {
  if (enc) return enc;
  const e = loadEncoder();
  enc = {
    name: 'o200k_base',
    encode: (t) => e.encode(t),
    decode: (t) => e.decode(t),
    count: (t) => e.count(t),
  };
  return enc;
}

/** js-tiktoken's encoder (same encoding, its own implementation): the reference tests compare against. */
function jsTiktoken(require: NodeJS.Require): Pick<Encoder, 'encode' | 'count'> {
  const { Tiktoken } = require('js-tiktoken/lite') as typeof import('js-tiktoken/lite');
  const ranks = require('js-tiktoken/ranks/o200k_base') as
    | import('js-tiktoken/lite').TiktokenBPE
    | { default: import('js-tiktoken/lite').TiktokenBPE };
  const e = new Tiktoken('default' in ranks ? ranks.default : ranks);
  return {
    encode: (t) => e.encode(t, [], []),
    count: (t) => e.encode(t, [], []).length,
  };
}

/** Which implementation counts (for the bench and diagnostics). */
export function tokenizerName(): string {
  return encoding().name;
}

/** The reference encoder, for tests that check both implementations agree. */
export function referenceEncoder(): Pick<Encoder, 'encode' | 'count'> {
  return jsTiktoken(createRequire(import.meta.url));
}

export function encode(text: string): number[] {
  return encoding().encode(text);
}

export function decode(tokens: number[]): string {
  return encoding().decode(tokens);
}

export function countTokens(text: string): number {
  return text.length === 0 ? 0 : encoding().count(text);
}

/** Tokens of a prompt (messages with their tool calls, tool definitions), a few of framing per message. */
export function promptTokens(chat: Pick<ChatRequest, 'messages' | 'tools'>): number {
  let n = 0;
  for (const m of chat.messages) {
    n += countTokens(m.content) + 4;
    if (m.toolCalls?.length) n += countTokens(JSON.stringify(m.toolCalls));
  }
  if (chat.tools?.length) n += countTokens(JSON.stringify(chat.tools));
  return n;
}
