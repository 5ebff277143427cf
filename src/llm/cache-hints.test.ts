import { describe, expect, it } from 'vitest';
import { placeCacheBreakpoints } from './cache-hints.js';
import type { ChatMessage } from './model.js';

const conv = (n: number): ChatMessage[] => [
  { role: 'system', content: 'sys' },
  ...Array.from({ length: n }, (_, i) => ({
    role: (i % 2 ? 'assistant' : 'user') as ChatMessage['role'],
    content: `m${i}`,
  })),
];
const marks = (ms: ChatMessage[]) => ms.flatMap((m, i) => (m.cacheBreakpoint ? [i] : []));

describe('placeCacheBreakpoints', () => {
  it('marks the static prefix and the last message', () => {
    expect(marks(placeCacheBreakpoints(conv(3)))).toEqual([0, 3]);
  });
  it('rolls every 15 messages back from the end and never exceeds 4', () => {
    const out = placeCacheBreakpoints(conv(100));
    expect(marks(out)).toEqual([0, 70, 85, 100]);
  });
  it('honours an explicit static prefix end and clears stale marks', () => {
    const ms = conv(5).map((m) => ({ ...m, cacheBreakpoint: true }));
    expect(marks(placeCacheBreakpoints(ms, { staticPrefixEnd: 2, every: 2 }))).toEqual([2, 3, 5]);
  });
});
