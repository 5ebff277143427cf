/**
 * ChatRequest → Anthropic Messages body. Leading system messages become the `system` blocks; tool results
 * become `tool_result` blocks in one user turn (the API wants all results of a turn together); assistant
 * tool calls become `tool_use` blocks; `cacheBreakpoint` puts `cache_control: ephemeral` on the message's
 * last block (see ../cache-hints.ts for where the context layer should put them).
 */
import { KernelError } from '../../errors.js';
import type { ChatMessage, ChatRequest, ToolChoice } from '../model.js';

type Block = Record<string, unknown>;
interface Turn {
  role: 'user' | 'assistant';
  content: Block[];
}

const EPHEMERAL = { type: 'ephemeral' } as const;

function mark(blocks: Block[], on: boolean | undefined): Block[] {
  if (!on || blocks.length === 0) return blocks;
  const last = blocks[blocks.length - 1]!;
  return [...blocks.slice(0, -1), { ...last, cache_control: EPHEMERAL }];
}

function parseInput(m: ChatMessage, args: string, i: number): unknown {
  try {
    return args.trim() === '' ? {} : JSON.parse(args);
  } catch {
    throw new KernelError(
      'EINVAL',
      `messages[${i}]: tool call "${m.toolCalls?.[0]?.name}" has arguments that are not JSON; Anthropic needs an object — fix or drop the call`,
      {
        details: { index: i, arguments: args },
      },
    );
  }
}

function toolChoice(c: ToolChoice): Block {
  if (typeof c !== 'string') return { type: 'tool', name: c.name };
  return c === 'required' ? { type: 'any' } : { type: c };
}

export function buildMessagesBody(
  model: string,
  req: ChatRequest,
  maxTokens: number,
  stream: boolean,
): Record<string, unknown> {
  if (req.messages.length === 0)
    throw new KernelError('EINVAL', 'ChatRequest.messages is empty; send at least one message');
  const system: Block[] = [];
  const turns: Turn[] = [];
  let i = 0;
  for (; i < req.messages.length && req.messages[i]!.role === 'system'; i++) {
    const m = req.messages[i]!;
    system.push(...mark([{ type: 'text', text: m.content }], m.cacheBreakpoint));
  }
  const push = (role: Turn['role'], blocks: Block[]) => {
    const prev = turns[turns.length - 1];
    if (prev && prev.role === role) prev.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  for (; i < req.messages.length; i++) {
    const m = req.messages[i]!;
    if (m.role === 'tool') {
      if (!m.toolCallId)
        throw new KernelError(
          'EINVAL',
          `messages[${i}] has role "tool" but no toolCallId; set it to the id of the call it answers`,
        );
      push(
        'user',
        mark([{ type: 'tool_result', tool_use_id: m.toolCallId, content: m.content }], m.cacheBreakpoint),
      );
    } else if (m.role === 'assistant') {
      const blocks: Block[] = [];
      if (m.content) blocks.push({ type: 'text', text: m.content });
      for (const tc of m.toolCalls ?? [])
        blocks.push({ type: 'tool_use', id: tc.id, name: tc.name, input: parseInput(m, tc.arguments, i) });
      if (blocks.length === 0) blocks.push({ type: 'text', text: '(no output)' });
      push('assistant', mark(blocks, m.cacheBreakpoint));
    } else {
      // A system message after the conversation started has no Anthropic slot: it is sent as user text.
      const text = m.role === 'system' ? `[system] ${m.content}` : m.content;
      push('user', mark([{ type: 'text', text }], m.cacheBreakpoint));
    }
  }
  if (turns[0]?.role !== 'user')
    turns.unshift({ role: 'user', content: [{ type: 'text', text: '(start)' }] });
  const body: Record<string, unknown> = {
    model,
    max_tokens: req.maxOutputTokens ?? maxTokens,
    messages: turns,
  };
  if (system.length) body.system = system;
  if (req.tools?.length) {
    body.tools = req.tools.map((t) => ({
      name: t.name,
      description: t.description,
      input_schema: t.parameters,
    }));
    if (req.toolChoice !== undefined) body.tool_choice = toolChoice(req.toolChoice);
  }
  if (req.temperature !== undefined) body.temperature = Math.min(1, Math.max(0, req.temperature));
  if (stream) body.stream = true;
  return body;
}
