/**
 * Request bodies as the simulator receives them → SimRequest, with the validation a real endpoint does
 * (400 on a missing model or messages) and each preset's known strictness, so the conformance suite proves
 * the providers handle the quirks: DeepSeek's thinking mode rejects assistant tool-call turns without
 * `reasoning_content`; MiniMax rejects temperature outside (0, 1]; the simulated Ollama rejects
 * `tool_choice` (real Ollama silently ignores it — stricter here so a leak is caught).
 */
import type { ChatMessage, ToolSpec } from '../model.js';
import type { Preset } from '../presets.js';
import { SimHttpError } from './engine.js';
import type { SimRequest } from './scenario.js';

type Loose = Record<string, unknown>;

const bad = (msg: string) => new SimHttpError(400, msg, 'invalid_request_error');

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((b: Loose) =>
        typeof b.text === 'string'
          ? b.text
          : typeof b.content === 'string'
            ? b.content
            : Array.isArray(b.content)
              ? text(b.content)
              : '',
      )
      .join('');
  }
  return '';
}

export function openAiToSim(body: Loose, preset: Preset): SimRequest {
  if (typeof body.model !== 'string' || !body.model) throw bad('you must provide a model parameter');
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw bad("'messages' must be a non-empty array");
  const isReasoner = /reasoner|thinking/i.test(body.model);
  if (preset.name.startsWith('minimax') && body.temperature !== undefined) {
    const t = Number(body.temperature);
    if (!(t > 0 && t <= 1))
      throw bad(`invalid params, temperature must be in (0, 1], got ${body.temperature}`);
  }
  if (preset.quirks.noToolChoice && body.tool_choice !== undefined)
    throw bad('tool_choice is not supported by this server (simulated Ollama)');
  const messages: ChatMessage[] = (body.messages as Loose[]).map((m, i) => {
    const role = m.role as ChatMessage['role'];
    if (!['system', 'user', 'assistant', 'tool', 'developer'].includes(String(role)))
      throw bad(`messages[${i}].role '${String(role)}' is invalid`);
    const out: ChatMessage = {
      role: role === ('developer' as string) ? 'system' : role,
      content: text(m.content),
    };
    if (role === 'assistant' && Array.isArray(m.tool_calls)) {
      if (preset.dialect === 'deepseek' && isReasoner && typeof m.reasoning_content !== 'string') {
        throw bad(`Missing \`reasoning_content\` field in the assistant message at message index ${i}`);
      }
      out.toolCalls = (m.tool_calls as Loose[]).map((tc) => {
        const fn = (tc.function ?? {}) as Loose;
        return { id: String(tc.id), name: String(fn.name), arguments: String(fn.arguments ?? '') };
      });
    }
    if (typeof m.reasoning_content === 'string') out.reasoning = m.reasoning_content;
    if (role === 'tool') {
      if (typeof m.tool_call_id !== 'string')
        throw bad(`messages[${i}]: 'tool_call_id' is required for role 'tool'`);
      out.toolCallId = m.tool_call_id;
      if (typeof m.name === 'string') out.name = m.name;
    }
    return out;
  });
  // Tool results carry the name of the call they answer (the policy reads it).
  const names = new Map<string, string>();
  for (const m of messages) for (const tc of m.toolCalls ?? []) names.set(tc.id, tc.name);
  for (const m of messages)
    if (m.role === 'tool' && !m.name && m.toolCallId) m.name = names.get(m.toolCallId) ?? 'tool';
  const tools: ToolSpec[] = ((body.tools as Loose[] | undefined) ?? []).map((t, i) => {
    const fn = (t.function ?? {}) as Loose;
    if (typeof fn.name !== 'string') throw bad(`tools[${i}].function.name is required`);
    return {
      name: fn.name,
      description: String(fn.description ?? ''),
      parameters: (fn.parameters ?? {}) as Loose,
    };
  });
  return { model: body.model, messages, tools, preset: preset.name, stream: body.stream === true };
}

export function anthropicToSim(body: Loose): SimRequest {
  if (typeof body.model !== 'string' || !body.model) throw bad('model: Field required');
  if (typeof body.max_tokens !== 'number') throw bad('max_tokens: Field required');
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw bad('messages: at least one message is required');
  const messages: ChatMessage[] = [];
  const sys = typeof body.system === 'string' ? body.system : text(body.system);
  if (sys) messages.push({ role: 'system', content: sys });
  const names = new Map<string, string>();
  for (const [i, m] of (body.messages as Loose[]).entries()) {
    if (m.role !== 'user' && m.role !== 'assistant')
      throw bad(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    const blocks: Loose[] =
      typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : ((m.content as Loose[]) ?? []);
    if (m.role === 'assistant') {
      const calls = blocks.filter((b) => b.type === 'tool_use');
      for (const c of calls) names.set(String(c.id), String(c.name));
      messages.push({
        role: 'assistant',
        content: text(blocks.filter((b) => b.type === 'text')),
        ...(calls.length
          ? {
              toolCalls: calls.map((c) => ({
                id: String(c.id),
                name: String(c.name),
                arguments: JSON.stringify(c.input ?? {}),
              })),
            }
          : {}),
      });
      continue;
    }
    const userText = text(blocks.filter((b) => b.type === 'text'));
    for (const r of blocks.filter((b) => b.type === 'tool_result')) {
      const id = String(r.tool_use_id);
      messages.push({
        role: 'tool',
        toolCallId: id,
        name: names.get(id) ?? 'tool',
        content: text(r.content),
      });
    }
    if (userText) messages.push({ role: 'user', content: userText });
  }
  const tools: ToolSpec[] = ((body.tools as Loose[] | undefined) ?? []).map((t, i) => {
    if (typeof t.name !== 'string') throw bad(`tools.${i}.name: Field required`);
    return {
      name: t.name,
      description: String(t.description ?? ''),
      parameters: (t.input_schema ?? {}) as Loose,
    };
  });
  return { model: body.model, messages, tools, preset: 'anthropic', stream: body.stream === true };
}
