/**
 * A real BPE tokenizer (OpenAI's o200k_base via js-tiktoken, ranks bundled in the package: no download).
 * Other vendors' tokenizers differ by a few percent; the context layer calibrates its counts against the
 * usage each provider reports, so one shared encoding is enough here. Loaded lazily once per process.
 */
import { createRequire } from 'node:module';
import type { Tiktoken, TiktokenBPE } from 'js-tiktoken/lite';

let enc: Tiktoken | null = null;

// The rank table is ~100 ms of parsing: load it on the first count, not when the package is imported.
// Synchronous require keeps encode() synchronous; the package ships CommonJS builds of both files.
function encoding(): Tiktoken {
  if (!enc) {
    const require = createRequire(import.meta.url);
    const { Tiktoken: Encoder } = require('js-tiktoken/lite') as typeof import('js-tiktoken/lite');
    const ranks = require('js-tiktoken/ranks/o200k_base') as TiktokenBPE | { default: TiktokenBPE };
    enc = new Encoder('default' in ranks ? ranks.default : ranks);
  }
  return enc;
}

export function encode(text: string): number[] {
  return encoding().encode(text, 'all');
}

export function decode(tokens: number[]): string {
  return encoding().decode(tokens);
}

export function countTokens(text: string): number {
  return text.length === 0 ? 0 : encoding().encode(text, 'all').length;
}
