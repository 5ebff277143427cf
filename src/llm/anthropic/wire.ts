/**
 * ChatRequest → Anthropic Messages body. Leading system messages become the `system` blocks; tool results
 * become `tool_result` blocks in one user turn (the API wants all results of a turn together), failed ones
 * with `is_error: true`; assistant tool calls become `tool_use` blocks, preceded by their thinking blocks
 * (signatures unmodified) inside the current tool loop when extended thinking is on; `cacheBreakpoint`
 * puts `cache_control: ephemeral` on the message's last block, at most 4 per request (the first and the
 * newest are kept). Text blocks are never empty or whitespace only: the API answers 400 to those. A
 * json_schema response format becomes `output_config.format`.
 */
import { KernelError } from '../../errors.js';
import { ANTHROPIC_MIN_THINKING_TOKENS, ANTHROPIC_THINKING_ANSWER_TOKENS } from '../../param.js';
import type { ChatMessage, ChatRequest, ModelOptions, ToolChoice } from '../model.js';
import { reasoningEchoed, refuseResponseFormat, rulesFor } from '../wire-rules.js';

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

const RULES = rulesFor('anthropic');

/** ChatRequest fields the Messages API has no parameter for (OpenAI's names, as the caller knows them). */
const NO_FIELD = [
  ['seed', 'seed'],
  ['frequencyPenalty', 'frequency_penalty'],
  ['presencePenalty', 'presence_penalty'],
  ['reasoningEffort', 'reasoning_effort'],
] as const;

/**
 * The request's sampling and output controls → Messages fields: stop → `stop_sequences`, topP/topK →
 * `top_p`/`top_k`, parallelToolCalls false → `tool_choice.disable_parallel_tool_use`, endUser →
 * `metadata.user_id`. Those it has no field for were refused by checkMessagesRequest, never dropped.
 */
function sampling(body: Record<string, unknown>, req: ChatRequest): void {
  if (req.stop?.length) body.stop_sequences = req.stop;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.topK !== undefined) body.top_k = req.topK;
  if (req.parallelToolCalls === false && req.tools?.length) {
    const tc = (body.tool_choice as Block | undefined) ?? { type: 'auto' };
    if (tc.type !== 'none') body.tool_choice = { ...tc, disable_parallel_tool_use: true };
  }
  if (req.endUser !== undefined) body.metadata = { user_id: req.endUser };
  // Structured outputs: a JSON schema → output_config.format (no JSON mode). The
  // schema's name has no field (it only identifies it); its description goes into the schema, where Claude
  // reads it. The provider shapes the schema by the SDK's rule before sending (./anthropic-provider.ts).
  // (JSON mode was refused by checkMessagesRequest.)
  const rf = req.responseFormat;
  if (rf?.type === 'json_schema') {
    const schema =
      rf.description !== undefined && rf.schema.description === undefined
        ? { ...rf.schema, description: rf.description }
        : rf.schema;
    body.output_config = { format: { type: 'json_schema', schema } };
  }
}
/**
 * Everything this adapter refuses, checked before anything is built or sent (Model.validate; the body
 * builder runs it first): an empty conversation, a tool result that names no call, a field the Messages
 * API has no parameter for, and JSON mode (structured outputs take a schema). (Tool-call arguments that
 * are not JSON are found by the builder's own parse: checking them here would parse every call of the
 * conversation twice per request.)
 */
export function checkMessagesRequest(req: ChatRequest): void {
  if (req.messages.length === 0)
    throw new KernelError('EINVAL', 'ChatRequest.messages is empty; send at least one message');
  for (let i = 0; i < req.messages.length; i++) {
    const m = req.messages[i]!;
    if (m.role === 'tool' && !m.toolCallId)
      throw new KernelError(
        'EINVAL',
        `messages[${i}] has role "tool" but no toolCallId; set it to the id of the call it answers`,
      );
  }
  // A zero penalty is OpenAI's default, no penalty at all: what Anthropic does anyway.
  for (const [k, param] of NO_FIELD)
    if (req[k] !== undefined && req[k] !== 0)
      throw new KernelError(
        'EUNSUPPORTED',
        `${param} has no Anthropic Messages equivalent, so an Anthropic model cannot honour it; omit it or use an OpenAI model`,
        { details: { param } },
      );
  refuseResponseFormat(RULES, req.responseFormat, 'Anthropic');
}

/** Least budget_tokens the API accepts for extended thinking. */

/** Placeholder for a text the API would refuse as blank (a blank task, a whitespace-only reply). */
const BLANK = '(empty)';

export function buildMessagesBody(
  model: string,
  req: ChatRequest,
  maxTokens: number,
  stream: boolean,
  opts: ModelOptions = {},
): Record<string, unknown> {
  checkMessagesRequest(req);
  const thinking = opts.thinkingBudget !== undefined && opts.thinkingBudget > 0;
  const echo = reasoningEchoed(req.messages, thinking ? RULES.reasoning.echo : 'never');
  const marked = req.messages.flatMap((m, k) => (m.cacheBreakpoint ? [k] : []));
  const max = RULES.maxCacheBreakpoints ?? 4;
  const keep =
    marked.length <= max
      ? new Set(marked)
      : new Set([marked[0]!, ...marked.slice(marked.length - (max - 1))]);
  const bp = (k: number) => keep.has(k);
  const system: Block[] = [];
  const turns: Turn[] = [];
  let i = 0;
  for (; i < req.messages.length && req.messages[i]!.role === 'system'; i++) {
    const m = req.messages[i]!;
    if (m.content.trim() === '') continue;
    system.push(...mark([{ type: 'text', text: m.content }], bp(i)));
  }
  const push = (role: Turn['role'], blocks: Block[]) => {
    const prev = turns[turns.length - 1];
    if (prev && prev.role === role) prev.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  for (; i < req.messages.length; i++) {
    const m = req.messages[i]!;
    if (m.role === 'tool') {
      const result: Block = { type: 'tool_result', tool_use_id: m.toolCallId };
      // An empty result is sent without content (a blank text block would be refused).
      if (m.content.trim() !== '') result.content = m.content;
      if (m.isError) result.is_error = true;
      push('user', mark([result], bp(i)));
    } else if (m.role === 'assistant') {
      const blocks: Block[] = [];
      if (echo(i)) for (const b of m.reasoningBlocks ?? []) blocks.push({ ...b });
      if (m.content.trim() !== '') blocks.push({ type: 'text', text: m.content });
      for (const tc of m.toolCalls ?? [])
        blocks.push({ type: 'tool_use', id: tc.id, name: tc.name, input: parseInput(m, tc.arguments, i) });
      if (blocks.length === 0) blocks.push({ type: 'text', text: '(no output)' });
      // cache_control cannot sit on a thinking block; the last block is never one (text or tool_use follow).
      push('assistant', mark(blocks, bp(i)));
    } else {
      // A system message after the conversation started has no Anthropic slot: it is sent as user text.
      const body = m.content.trim() === '' ? BLANK : m.content;
      const text = m.role === 'system' ? `[system] ${body}` : body;
      push('user', mark([{ type: 'text', text }], bp(i)));
    }
  }
  if (turns[0]?.role !== 'user')
    turns.unshift({ role: 'user', content: [{ type: 'text', text: '(start)' }] });
  const budget = Math.max(ANTHROPIC_MIN_THINKING_TOKENS, opts.thinkingBudget ?? 0);
  const wanted = req.maxOutputTokens ?? opts.maxOutputTokens ?? maxTokens;
  const body: Record<string, unknown> = {
    model,
    // budget_tokens must stay below max_tokens: the answer gets its own room on top of the thinking.
    max_tokens: thinking ? Math.max(wanted, budget + ANTHROPIC_THINKING_ANSWER_TOKENS) : wanted,
    messages: turns,
  };
  if (thinking) body.thinking = { type: 'enabled', budget_tokens: budget };
  if (system.length) body.system = system;
  if (req.tools?.length) {
    body.tools = req.tools.map((t) => ({
      name: t.name,
      description: t.description,
      input_schema: t.parameters,
    }));
    // With thinking on, only auto/none are accepted: a forced tool choice is dropped.
    const forced = req.toolChoice === 'required' || typeof req.toolChoice === 'object';
    if (req.toolChoice !== undefined && !(thinking && forced)) body.tool_choice = toolChoice(req.toolChoice);
  }
  sampling(body, req);
  // Thinking is incompatible with a temperature other than 1: leave it out.
  if (req.temperature !== undefined && !thinking)
    body.temperature = Math.min(1, Math.max(0, req.temperature));
  if (stream) body.stream = true;
  return body;
}
