import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BytePairEncoder } from './bpe.js';
import {
  compileFromPackage,
  countTokens,
  decode,
  encode,
  referenceEncoder,
  tokenizerName,
} from './tokenizer.js';

const gpt = createRequire(import.meta.url)(
  'gpt-tokenizer/encoding/o200k_base',
) as typeof import('gpt-tokenizer/encoding/o200k_base');
const plain = { disallowedSpecial: new Set<string>() };

/** Real text (this package's sources and docs) plus generated unicode: scripts, emoji, marks, lone surrogates. */
function corpus(): string[] {
  const dir = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));
  const texts = [
    ...readdirSync(dir('./')).filter((f) => f.endsWith('.ts')),
    ...readdirSync(dir('../../docs')).filter((f) => f.endsWith('.md')),
  ].map((f) => readFileSync(existsSync(dir(`./${f}`)) ? dir(`./${f}`) : dir(`../../docs/${f}`), 'utf8'));
  let seed = 7;
  const rnd = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const ranges = [
    [0x20, 0x7e],
    [0x9, 0xd],
    [0xa0, 0x24f],
    [0x300, 0x36f],
    [0x400, 0x4ff],
    [0x590, 0x6ff],
    [0x900, 0x97f],
    [0x3040, 0x30ff],
    [0x4e00, 0x9fff],
    [0xac00, 0xd7a3],
    [0x1f300, 0x1faff],
    [0xd800, 0xdfff],
    [0x200b, 0x200d],
  ] as const;
  for (let k = 0; k < 400; k++) {
    let s = '';
    const len = 1 + Math.floor(rnd() * 120);
    for (let i = 0; i < len; i++) {
      const [a, b] = ranges[Math.floor(rnd() * ranges.length)] as readonly [number, number];
      s += String.fromCodePoint(a + Math.floor(rnd() * (b - a + 1)));
    }
    texts.push(s);
  }
  return texts;
}

describe('tokenizer', () => {
  it('encodes real BPE tokens and round-trips', () => {
    const text = 'The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸';
    const toks = encode(text);
    expect(toks.length).toBeGreaterThan(8);
    expect(toks.length).toBeLessThan(text.length);
    expect(decode(toks)).toBe(text);
    expect(countTokens('hello world')).toBe(2);
    expect(countTokens('')).toBe(0);
    expect(tokenizerName()).toBe('o200k_base');
  });

  it('counts exactly what the reference o200k_base encoder counts', () => {
    const ref = referenceEncoder();
    const texts = [
      'You are an agent running as a process inside agent-os-kernel.\nWork step by step.',
      JSON.stringify({ type: 'function', function: { name: 'read_file', parameters: { type: 'object' } } }),
      'def f(x):\n\treturn x ** 2  # square\r\n',
      'Übergrößenträger — naïve café, 東京都 こんにちは, emoji 🎉👩‍👩‍👧 and ZWJ',
      'special tokens as text: <|endoftext|> <|im_start|>user',
      '   leading spaces, trailing   ',
      `${'x'.repeat(500)} ${'12345'.repeat(40)} https://example.com/a?b=c&d=e`,
    ];
    for (const t of texts) {
      expect(countTokens(t), t).toBe(ref.count(t));
      expect(encode(t), t).toEqual(ref.encode(t));
    }
  });

  it('gives gpt-tokenizer’s tokens and counts on sources, docs, code and random unicode', () => {
    const texts = corpus();
    let tokens = 0;
    const wrong: string[] = [];
    for (const t of texts) {
      const want = gpt.encode(t, plain);
      tokens += want.length;
      const got = encode(t);
      if (countTokens(t) !== want.length || got.join() !== want.join() || decode(got) !== gpt.decode(want))
        wrong.push(t.slice(0, 60));
    }
    expect(wrong).toEqual([]);
    expect(tokens).toBeGreaterThan(100_000); // the corpus is not trivially small
    // lone surrogates: gpt-tokenizer merges U+FFFD's bytes rather than looking the piece up; so do we
    for (const t of ['\uD800', 'a\uDC00b', '\uD83D x', '😀\uDE00'])
      expect(encode(t), JSON.stringify(t)).toEqual(gpt.encode(t, plain));
  });

  it('ships the compiled ranks the package compiles to, and refuses a file that is not one', () => {
    const built = fileURLToPath(new URL('../../dist/llm/o200k_base.bpe', import.meta.url));
    const compiled = compileFromPackage();
    if (existsSync(built)) expect(Buffer.compare(readFileSync(built), compiled)).toBe(0);
    const e = new BytePairEncoder(compiled, 16);
    expect(e.vocab).toBe(199_998);
    expect(e.count('hello world')).toBe(2);
    expect(() => new BytePairEncoder(new Uint8Array(64), 16)).toThrow(/rebuild with npm run build/);
    expect(() => new BytePairEncoder(compiled.subarray(0, 1000), 16)).toThrow(/truncated.*npm run build/);
  });
});
