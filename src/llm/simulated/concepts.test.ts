import { describe, expect, it } from 'vitest';
import { cosine, hashingEmbedding } from '../../util/embedder.js';
import { conceptEmbedding, concepts } from './concepts.js';

const sim = (a: string, b: string, f = conceptEmbedding) => cosine(f(a, 256), f(b, 256));

describe('the simulator’s concept lexicon (not a model)', () => {
  it('reads Chinese without spaces by longest match, skipping particles', () => {
    expect(concepts('用户之前提到的需求').concepts).toEqual(['user', 'earlier', 'mention', 'requirement']);
    expect(concepts('Requirements user mentioned earlier').concepts).toEqual([
      'requirement',
      'user',
      'mention',
      'earlier',
    ]);
    expect(concepts('状态快照').concepts).toEqual(['state', 'checkpoint']); // 快照, not 快 (fast)
  });

  it('puts the seeds’ bilingual example and paraphrases close, unrelated texts far', () => {
    const zh = '用户之前提到的需求';
    const en = 'Requirements user mentioned earlier';
    expect(sim(zh, en)).toBeGreaterThan(0.9);
    expect(sim('what did the customer ask for before?', zh)).toBeGreaterThan(0.6);
    expect(sim('客户以前说过的要求', en)).toBeGreaterThan(0.9);
    expect(sim(zh, '审计日志：所有操作的不可篡改记录')).toBeLessThan(0.3);
    // the lexical hashing embedder sees no relation at all across languages
    expect(Math.abs(sim(zh, en, hashingEmbedding))).toBeLessThan(0.2);
  });

  it('falls back to lexical hashing for words it does not know, and is deterministic', () => {
    expect(sim('zorblax quintessence', 'zorblax quintessence')).toBeCloseTo(1, 6);
    expect(sim('zorblax quintessence', 'zorblax')).toBeGreaterThan(0.4);
    expect(conceptEmbedding('a b', 64)).toEqual(conceptEmbedding('a b', 64));
    expect(conceptEmbedding('', 8).every((x) => x === 0)).toBe(true);
  });
});
