import { describe, expect, it } from 'vitest';
import { splitThink, ThinkSplitter } from './think.js';

describe('<think> splitting', () => {
  it('splits whole text', () => {
    expect(splitThink('<think>\nplan it\n</think>\n\nThe answer.')).toEqual({
      text: 'The answer.',
      reasoning: 'plan it',
    });
    expect(splitThink('no tags here')).toEqual({ text: 'no tags here', reasoning: '' });
  });
  it('recognises tags split across stream deltas', () => {
    const s = new ThinkSplitter();
    const out = [
      ...s.push('<thi'),
      ...s.push('nk>abc</th'),
      ...s.push('ink>hello <'),
      ...s.push('b>'),
      ...s.flush(),
    ];
    const text = out
      .filter((p) => p.kind === 'text')
      .map((p) => p.text)
      .join('');
    const reasoning = out
      .filter((p) => p.kind === 'reasoning')
      .map((p) => p.text)
      .join('');
    expect(reasoning).toBe('abc');
    expect(text).toBe('hello <b>');
  });
});
