import { describe, expect, it } from 'vitest';
import { countTokens, decode, encode } from './tokenizer.js';

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
});
