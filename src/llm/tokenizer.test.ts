import { describe, expect, it } from 'vitest';
import { countTokens, decode, encode, referenceEncoder, tokenizerName } from './tokenizer.js';

describe('tokenizer', () => {
  it('encodes real BPE tokens and round-trips', () => {
    const text = 'The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸';
    const toks = encode(text);
    expect(toks.length).toBeGreaterThan(8);
    expect(toks.length).toBeLessThan(text.length);
    expect(decode(toks)).toBe(text);
    expect(countTokens('hello world')).toBe(2);
    expect(countTokens('')).toBe(0);
  });

  it('counts exactly what the reference o200k_base encoder counts', () => {
    expect(tokenizerName()).toBe('gpt-tokenizer');
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
});
