/**
 * The simulator's answers in each wire dialect: OpenAI chat completions (with the usage fields of the
 * OpenAI, DeepSeek, Kimi and Ollama dialects, and reasoning as `reasoning_content` or `<think>` tags per
 * preset) and Anthropic messages; whole responses and stream chunks. Every response names a `sim-` model
 * and the fingerprint `simulator`, so nothing here can pass for a real model's output.
 */

import type { Preset } from '../presets.js';
import { countTokens } from '../tokenizer.js';
import type { SimOutcome } from './engine.js';
import { thinkingSignature } from './wire-in.js';

type Loose = Record<string, unknown>;

export const SIM_FINGERPRINT = 'simulator';

export function simModelName(model: string): string {
  return model.startsWith('sim-') ? model : `sim-${model}`;
}

export function openAiUsage(o: SimOutcome, preset: Preset): Loose {
  const base = {
    prompt_tokens: o.promptTokens,
    completion_tokens: o.outputTokens,
    total_tokens: o.promptTokens + o.outputTokens,
  };
  switch (preset.dialect) {
    case 'deepseek':
      return {
        ...base,
        prompt_cache_hit_tokens: o.cachedTokens,
        prompt_cache_miss_tokens: o.promptTokens - o.cachedTokens,
        completion_tokens_details: { reasoning_tokens: o.reasoningTokens },
      };
    case 'kimi':
      return { ...base, cached_tokens: o.cachedTokens };
    case 'ollama':
      return base;
    default:
      return {
        ...base,
        prompt_tokens_details: { cached_tokens: o.cachedTokens },
        completion_tokens_details: { reasoning_tokens: o.reasoningTokens },
      };
  }
}

/** How reasoning travels: OpenAI hides it, `<think>` presets inline it, the rest use `reasoning_content`. */
function reasoningMode(preset: Preset): 'hidden' | 'tags' | 'field' {
  if (preset.quirks.thinkTags) return 'tags';
  return preset.name === 'openai' ? 'hidden' : 'field';
}

const stopReason = (o: SimOutcome) =>
  o.turn.stopSequence !== undefined ? 'stop_sequence' : o.turn.toolCalls.length ? 'tool_use' : 'end_turn';

const finishOf = (o: SimOutcome) => (o.turn.toolCalls.length ? 'tool_calls' : 'stop');

export function openAiCompletion(o: SimOutcome, preset: Preset, model: string, id: string): Loose {
  const mode = reasoningMode(preset);
  const r = o.turn.reasoning;
  const message: Loose = {
    role: 'assistant',
    content:
      mode === 'tags' && r
        ? `<think>\n${r}\n</think>\n\n${o.turn.content}`
        : o.turn.content || (o.turn.toolCalls.length ? null : ''),
  };
  if (mode === 'field' && r) message.reasoning_content = r;
  if (o.turn.toolCalls.length) {
    message.tool_calls = o.turn.toolCalls.map((tc) => ({
      id: tc.id,
      type: 'function',
      function: { name: tc.name, arguments: tc.arguments },
    }));
  }
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: simModelName(model),
    system_fingerprint: SIM_FINGERPRINT,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishOf(o) }],
    usage: openAiUsage(o, preset),
  };
}

/** Pieces of roughly one word each: the unit of streaming and of per-token pacing. */
export function pieces(s: string): string[] {
  return s.match(/\s*\S+\s*/g) ?? (s ? [s] : []);
}

export interface Chunk {
  data: Loose;
  /** Output tokens this chunk carries (for per-token latency). */
  tokens: number;
  event?: string;
}

export function openAiChunks(
  o: SimOutcome,
  preset: Preset,
  model: string,
  id: string,
  includeUsage: boolean,
): { chunks: Chunk[]; final: Chunk[] } {
  const created = Math.floor(Date.now() / 1000);
  // With include_usage, OpenAI sends `usage: null` on every chunk but the last (Kimi: inside the choice).
  const nullUsage = includeUsage && !preset.quirks.streamUsageInChoice ? { usage: null } : {};
  const wrap = (delta: Loose, finish: string | null = null, extra: Loose = {}): Loose => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: simModelName(model),
    system_fingerprint: SIM_FINGERPRINT,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish, ...extra }],
    ...nullUsage,
  });
  const chunks: Chunk[] = [{ data: wrap({ role: 'assistant', content: '' }), tokens: 0 }];
  const mode = reasoningMode(preset);
  const r = o.turn.reasoning;
  if (r && mode === 'field')
    for (const p of pieces(r)) chunks.push({ data: wrap({ reasoning_content: p }), tokens: countTokens(p) });
  const content = mode === 'tags' && r ? `<think>\n${r}\n</think>\n\n${o.turn.content}` : o.turn.content;
  for (const p of pieces(content)) chunks.push({ data: wrap({ content: p }), tokens: countTokens(p) });
  o.turn.toolCalls.forEach((tc, index) => {
    chunks.push({
      data: wrap({
        tool_calls: [{ index, id: tc.id, type: 'function', function: { name: tc.name, arguments: '' } }],
      }),
      tokens: countTokens(tc.name),
    });
    const a = tc.arguments;
    const cut = [0, Math.floor(a.length / 3), Math.floor((2 * a.length) / 3), a.length];
    for (let k = 0; k < 3; k++) {
      const part = a.slice(cut[k], cut[k + 1]);
      if (part)
        chunks.push({
          data: wrap({ tool_calls: [{ index, function: { arguments: part } }] }),
          tokens: countTokens(part),
        });
    }
  });
  const usage = openAiUsage(o, preset);
  const final: Chunk[] = [];
  if (preset.quirks.streamUsageInChoice) final.push({ data: wrap({}, finishOf(o), { usage }), tokens: 0 });
  else {
    final.push({ data: wrap({}, finishOf(o)), tokens: 0 });
    if (includeUsage) final.push({ data: { ...wrap({}), choices: [], usage }, tokens: 0 });
  }
  return { chunks, final };
}

export function anthropicUsage(o: SimOutcome): Loose {
  const b = o.breakpoints ?? { read: 0, write: 0, uncached: o.promptTokens };
  return {
    input_tokens: b.uncached,
    cache_creation_input_tokens: b.write,
    cache_read_input_tokens: b.read,
    output_tokens: o.outputTokens,
  };
}

function toolInput(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return args; // malformed output stays malformed: the input is then not an object
  }
}

/** With extended thinking on, every answer opens with a signed thinking block (as Claude's do). */
function thinkingText(o: SimOutcome): string {
  return o.turn.reasoning || '(simulated) Deciding the next step.';
}

export function anthropicMessage(o: SimOutcome, model: string, id: string, thinking = false): Loose {
  const content: Loose[] = [];
  if (thinking) {
    const t = thinkingText(o);
    content.push({ type: 'thinking', thinking: t, signature: thinkingSignature(t) });
  }
  if (o.turn.content) content.push({ type: 'text', text: o.turn.content });
  for (const tc of o.turn.toolCalls)
    content.push({ type: 'tool_use', id: tc.id, name: tc.name, input: toolInput(tc.arguments) });
  return {
    id,
    type: 'message',
    role: 'assistant',
    model: simModelName(model),
    content,
    stop_reason: stopReason(o),
    stop_sequence: o.turn.stopSequence ?? null,
    usage: anthropicUsage(o),
  };
}

export function anthropicEvents(
  o: SimOutcome,
  model: string,
  id: string,
  thinking = false,
): { chunks: Chunk[]; final: Chunk[] } {
  const u = anthropicUsage(o);
  const ev = (event: string, data: Loose, tokens = 0): Chunk => ({
    event,
    data: { type: event, ...data },
    tokens,
  });
  const chunks: Chunk[] = [
    ev('message_start', {
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model: simModelName(model),
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...u, output_tokens: 1 },
      },
    }),
  ];
  let index = 0;
  if (thinking) {
    const t = thinkingText(o);
    chunks.push(
      ev('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } }),
    );
    for (const p of pieces(t))
      chunks.push(
        ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: p } }, countTokens(p)),
      );
    chunks.push(
      ev('content_block_delta', {
        index,
        delta: { type: 'signature_delta', signature: thinkingSignature(t) },
      }),
    );
    chunks.push(ev('content_block_stop', { index }));
    index++;
  }
  if (o.turn.content) {
    chunks.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }));
    for (const p of pieces(o.turn.content))
      chunks.push(
        ev('content_block_delta', { index, delta: { type: 'text_delta', text: p } }, countTokens(p)),
      );
    chunks.push(ev('content_block_stop', { index }));
    index++;
  }
  for (const tc of o.turn.toolCalls) {
    chunks.push(
      ev(
        'content_block_start',
        { index, content_block: { type: 'tool_use', id: tc.id, name: tc.name, input: {} } },
        countTokens(tc.name),
      ),
    );
    const half = Math.floor(tc.arguments.length / 2);
    for (const part of [tc.arguments.slice(0, half), tc.arguments.slice(half)]) {
      if (part)
        chunks.push(
          ev(
            'content_block_delta',
            { index, delta: { type: 'input_json_delta', partial_json: part } },
            countTokens(part),
          ),
        );
    }
    chunks.push(ev('content_block_stop', { index }));
    index++;
  }
  const final = [
    ev('message_delta', {
      delta: { stop_reason: stopReason(o), stop_sequence: o.turn.stopSequence ?? null },
      usage: { output_tokens: o.outputTokens },
    }),
    ev('message_stop', {}),
  ];
  return { chunks, final };
}
