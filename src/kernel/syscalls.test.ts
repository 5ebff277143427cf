/**
 * llm.chat's arguments are checked message by message, each frozen message once (parseChat): a bad message
 * still fails with its path whatever came before, an unfrozen one is checked every call (a program may
 * change it between calls), and the context's own frozen messages and tool list come back as the same
 * parsed objects every call.
 */
import { describe, expect, it } from 'vitest';
import { parseSyscallArgs } from './syscalls.js';

const tools = Object.freeze([
  Object.freeze({ name: 'calc', description: 'adds', parameters: Object.freeze({ type: 'object' }) }),
]);

describe('parseSyscallArgs llm.chat', () => {
  it('names the bad message and field, and refuses an empty or missing conversation', () => {
    const ok = Object.freeze({ role: 'user', content: 'hi' });
    const call = () =>
      parseSyscallArgs('llm.chat', { messages: [ok, ok, { role: 'robot', content: 'x' }], tools });
    expect(call).toThrow(/llm\.chat: invalid argument 'messages\.2\.role'/);
    expect(() => parseSyscallArgs('llm.chat', { messages: [ok, { role: 'user' }] })).toThrow(
      /'messages\.1\.content'/,
    );
    expect(() => parseSyscallArgs('llm.chat', { messages: [] })).toThrow(/'messages'/);
    expect(() => parseSyscallArgs('llm.chat', { tools })).toThrow(/'messages'/);
    expect(() => parseSyscallArgs('llm.chat', { messages: [ok], temperature: 9 })).toThrow(/'temperature'/);
    expect(() =>
      parseSyscallArgs('llm.chat', { messages: [ok], tools: [{ name: 'x', parameters: {} }] }),
    ).toThrow(/'tools\.0\.description'/);
    try {
      call();
    } catch (e) {
      expect((e as { code: string }).code).toBe('EINVAL');
      expect((e as { details: { issues: { path: string[] }[] } }).details.issues[0]!.path).toEqual([
        'messages',
        '2',
        'role',
      ]);
    }
  });

  it('checks an unfrozen message on every call: one changed after a call that passed is refused', () => {
    const m: { role: string; content: unknown } = { role: 'user', content: 'hi' };
    parseSyscallArgs('llm.chat', { messages: [m] });
    m.content = 42;
    expect(() => parseSyscallArgs('llm.chat', { messages: [m] })).toThrow(/'messages\.0\.content'/);
    // A frozen message whose tool calls are not frozen is not remembered either.
    const calls = [{ id: 'c1', name: 'calc', arguments: '{}' }];
    const a = Object.freeze({ role: 'assistant', content: '', toolCalls: calls });
    parseSyscallArgs('llm.chat', { messages: [a] });
    (calls[0] as { arguments: unknown }).arguments = 7;
    expect(() => parseSyscallArgs('llm.chat', { messages: [a] })).toThrow(
      /'messages\.0\.toolCalls\.0\.arguments'/,
    );
  });

  it('gives back the same parsed objects for frozen messages and tools, with unknown fields dropped', () => {
    const calls = Object.freeze([Object.freeze({ id: 'c1', name: 'calc', arguments: '{}' })]);
    const a = Object.freeze({ role: 'assistant', content: '', toolCalls: calls, extra: 1 });
    const first = parseSyscallArgs('llm.chat', { messages: [a], tools });
    const second = parseSyscallArgs('llm.chat', { messages: [a], tools });
    expect(second.messages[0]).toBe(first.messages[0]);
    expect(second.tools).toBe(first.tools);
    expect(first.messages[0]).toEqual({
      role: 'assistant',
      content: '',
      toolCalls: [{ id: 'c1', name: 'calc', arguments: '{}' }],
    });
    expect(Object.isFrozen(first.messages[0])).toBe(true);
    expect(Object.isFrozen(first.messages[0]!.toolCalls![0])).toBe(true);
    // Options are parsed every call.
    expect(parseSyscallArgs('llm.chat', { messages: [a], temperature: 0.5 }).temperature).toBe(0.5);
  });
});
