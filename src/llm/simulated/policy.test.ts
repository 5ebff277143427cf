import { describe, expect, it } from 'vitest';
import type { ChatMessage, ToolSpec } from '../model.js';
import { reactPolicy } from './policy.js';

const tool = (name: string, props: Record<string, string>, required = Object.keys(props)): ToolSpec => ({
  name,
  description: name,
  parameters: {
    type: 'object',
    properties: Object.fromEntries(Object.entries(props).map(([k, t]) => [k, { type: t }])),
    required,
  },
});
const TOOLS = [
  tool('calculator', { expression: 'string' }),
  tool('read_file', { path: 'string' }),
  tool('list_dir', { path: 'string' }),
  tool('final_answer', { answer: 'string' }),
];
const req = (messages: ChatMessage[], tools = TOOLS) => ({
  model: 'sim-react',
  messages,
  tools,
  preset: 'simulated',
  stream: false,
});

describe('reactPolicy', () => {
  it('uses the calculator for arithmetic, then answers with the result via final_answer', () => {
    const msgs: ChatMessage[] = [{ role: 'user', content: 'What is (12 + 30) * 2?' }];
    const t1 = reactPolicy(req(msgs), 1);
    expect(t1.toolCalls).toHaveLength(1);
    expect(t1.toolCalls[0]!.name).toBe('calculator');
    expect(JSON.parse(t1.toolCalls[0]!.arguments)).toEqual({ expression: '(12 + 30) * 2' });
    msgs.push(
      { role: 'assistant', content: '', toolCalls: t1.toolCalls },
      { role: 'tool', toolCallId: t1.toolCalls[0]!.id, name: 'calculator', content: '84' },
    );
    const t2 = reactPolicy(req(msgs), 1);
    expect(t2.toolCalls[0]!.name).toBe('final_answer');
    expect(JSON.parse(t2.toolCalls[0]!.arguments).answer).toContain('= 84');
  });

  it('reads a named file and lists a named directory', () => {
    expect(
      JSON.parse(
        reactPolicy(req([{ role: 'user', content: 'Summarise docs/llm.md please' }]), 1).toolCalls[0]!
          .arguments,
      ),
    ).toEqual({ path: 'docs/llm.md' });
    const t = reactPolicy(req([{ role: 'user', content: 'What is in src/llm/?' }]), 1);
    expect(t.toolCalls[0]!.name).toBe('list_dir');
  });

  it('answers in plain text when no tools are offered, and says it is simulated', () => {
    const t = reactPolicy(req([{ role: 'user', content: 'Tell me a story' }], []), 1);
    expect(t.toolCalls).toEqual([]);
    expect(t.content).toContain('(simulated)');
  });

  it('is deterministic for a seed and terminates', () => {
    const msgs: ChatMessage[] = [{ role: 'user', content: 'compute 1+1 and 2*3, then read a.txt' }];
    expect(reactPolicy(req(msgs), 7)).toEqual(reactPolicy(req(msgs), 7));
    let steps = 0;
    for (;;) {
      const t = reactPolicy(req(msgs, TOOLS.slice(0, 3)), 7);
      if (t.toolCalls.length === 0) break;
      msgs.push({ role: 'assistant', content: '', toolCalls: t.toolCalls });
      for (const c of t.toolCalls) msgs.push({ role: 'tool', toolCallId: c.id, name: c.name, content: 'ok' });
      expect(++steps).toBeLessThan(10);
    }
    expect(steps).toBe(2); // both sums in parallel, then the file
  });

  it('runs the command a task names after a colon when nothing is backticked', () => {
    const shell = tool('shell', { command: 'string' });
    for (const [task, cmd] of [
      ['run the shell command: echo hi-from-shell', 'echo hi-from-shell'],
      ['Please execute: ls -la /tmp.', 'ls -la /tmp'],
      ['run `uname -a` please', 'uname -a'],
    ] as const) {
      const t = reactPolicy(req([{ role: 'user', content: task }], [shell, ...TOOLS]), 1);
      expect(t.toolCalls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([
        ['shell', { command: cmd }],
      ]);
    }
  });
});
