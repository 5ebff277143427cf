/**
 * A real BPE tokenizer (OpenAI's o200k_base via js-tiktoken, ranks bundled in the package: no download).
 * Other vendors' tokenizers differ by a few percent; the context layer calibrates its counts against the
 * usage each provider reports, so one shared encoding is enough here. Loaded lazily once per process.
 */
import { Tiktoken } from 'js-tiktoken/lite';
import o200k from 'js-tiktoken/ranks/o200k_base';

let enc: Tiktoken | null = null;

function encoding(): Tiktoken {
  enc ??= new Tiktoken(o200k);
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
