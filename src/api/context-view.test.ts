import { describe, expect, it } from 'vitest';
import { ContextManager } from '../context/manager.js';
import { describeContextState } from './context-view.js';

const tools = [
  {
    name: 'calculator',
    description: 'evaluates arithmetic',
    parameters: { type: 'object', properties: { expression: { type: 'string' } } },
  },
];

describe('context view', () => {
  it('lists pages in prompt order; the part shared with the previous prompt is the cached prefix', async () => {
    const cm = new ContextManager();
    cm.open(7, {
      contextWindow: 100_000,
      outputReserve: 1_000,
      system: 'You are a test agent.',
      tools,
      task: 'Add numbers.',
      pinned: ['remember: be brief'],
    });
    cm.append(7, {
      kind: 'assistant',
      content: '',
      toolCalls: [{ id: 'c1', name: 'calculator', arguments: '{"expression":"1+1"}' }],
    });
    cm.appendToolResult(7, { toolCallId: 'c1', name: 'calculator', output: '2' });
    await cm.prepare(7);
    cm.render(7); // the prompt the "provider" saw
    cm.append(7, { kind: 'assistant', content: 'The answer is 2.' });
    const v = describeContextState(7, cm.exportState(7), true);
    expect(v.loaded).toBe(true);
    expect(v.pages.map((p) => p.kind)).toEqual([
      'tools',
      'system',
      'pinned',
      'task',
      'assistant',
      'tool_result',
      'assistant',
    ]);
    // Everything but the newest message was in the previous prompt.
    expect(v.pages.map((p) => p.cachedPrefix)).toEqual([true, true, true, true, true, true, false]);
    expect(v.pages.every((p) => p.resident && p.tokens > 0)).toBe(true);
    expect(v.used).toBeGreaterThanOrEqual(v.pages.reduce((n, p) => n + p.tokens, 0) - 40);
    expect(v.budget).toBe(99_000);
    expect(v.cachedPrefixTokens).toBeGreaterThan(0);
    expect(v.metrics).toHaveProperty('residentPages');
  });

  it('shows evicted pages as not resident, with the stub that replaced them', async () => {
    const cm = new ContextManager();
    cm.open(8, { contextWindow: 3_000, outputReserve: 500, system: 'sys', task: 'a long task' });
    for (let i = 0; i < 40; i++) {
      cm.append(8, { kind: 'user', content: `note ${i}: ${'lorem ipsum dolor sit amet '.repeat(25)}` });
      await cm.prepare(8);
      cm.render(8);
    }
    const v = describeContextState(8, cm.exportState(8), false);
    const swapped = v.pages.filter((p) => !p.resident);
    expect(swapped.length).toBeGreaterThan(0);
    expect(swapped.every((p) => !p.cachedPrefix && typeof p.summary === 'string')).toBe(true);
    expect(v.pages.some((p) => p.kind === 'stub')).toBe(true);
    expect(v.used).toBeLessThanOrEqual(v.budget);
  });

  it('refuses a state that is not an exported context', () => {
    expect(() => describeContextState(1, { v: 9 }, false)).toThrow(/context state/);
  });
});
