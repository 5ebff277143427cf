/**
 * The journal's request hash, kept incrementally per process, is the hash of the request alone: whatever
 * the calls before it, a request hashes as it does from scratch (a restarted kernel replaying a step).
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../util/random.js';
import { requestHash } from './request-hash.js';

type Msg = {
  role: string;
  content: string;
  toolCalls?: Array<{ id: string; name: string; arguments: string }>;
};

const msg = (r: () => number, i: number): Msg =>
  r() < 0.3
    ? {
        role: 'assistant',
        content: `a${i}`,
        toolCalls: [{ id: `c${i}`, name: 'calc', arguments: `{"x":${i}}` }],
      }
    : { role: r() < 0.5 ? 'user' : 'tool', content: `m${i} ${'x'.repeat(Math.floor(r() * 40))}` };

describe('requestHash (incremental)', () => {
  it('equals the from-scratch hash for 500 seeded conversations that grow, shrink and change', () => {
    const r = mulberry32(7);
    const owner = {};
    let messages: Msg[] = [{ role: 'system', content: 'sys' }];
    const tools = [{ name: 'calc', description: 'adds', parameters: { type: 'object' } }];
    for (let call = 0; call < 500; call++) {
      const x = r();
      if (x < 0.6) messages = [...messages, msg(r, call), msg(r, call + 0.5)];
      else if (x < 0.75) messages = messages.slice(0, Math.max(1, Math.floor(messages.length / 2)));
      else if (x < 0.9 && messages.length > 1) {
        // an earlier message changed (compaction): same length, different content
        const i = 1 + Math.floor(r() * (messages.length - 1));
        messages = messages.map((m, j) => (j === i ? { ...m, content: `${m.content}!` } : m));
      } else messages = messages.map((m) => ({ ...m })); // new objects, same values
      const request = { messages, tools, ...(r() < 0.2 ? { temperature: 0.5 } : {}) };
      const model = r() < 0.05 ? 'other-model' : 'gpt-fake';
      const incremental = requestHash(owner, model, request);
      expect(incremental).toBe(requestHash({}, model, request));
    }
  });

  it('tells requests apart that differ in a message, the tools, the model or the order', () => {
    const owner = {};
    const a = {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'yo' },
      ],
    };
    const h = requestHash(owner, 'm', a);
    expect(
      requestHash(owner, 'm', { messages: [a.messages[0]!, { role: 'assistant', content: 'yo!' }] }),
    ).not.toBe(h);
    expect(requestHash(owner, 'm', { ...a, tools: [] })).not.toBe(h);
    expect(requestHash(owner, 'n', a)).not.toBe(h);
    expect(requestHash(owner, 'm', { messages: [...a.messages].reverse() })).not.toBe(h);
    expect(requestHash(owner, 'm', { messages: a.messages.map((m) => ({ ...m })) })).toBe(h);
  });
});
