/**
 * Each vendor's documented request rules, as data next to the presets (./presets.ts). The providers read
 * them to shape what they send (./openai-compatible/wire.ts, ./anthropic/wire.ts); the simulator reads the
 * same table to refuse what a real endpoint refuses (./simulated/wire-in.ts), with that vendor's error
 * shape. A rule names the page that documents it; checked 2026-12.
 *
 * Reasoning echo, the rule the ReAct loop used to break: a thinking model's reasoning is part of the
 * conversation state and some vendors want it back.
 *  - `tool_turns` (DeepSeek thinking mode, Kimi thinking models): every assistant turn that carried
 *    tool_calls keeps its `reasoning_content` in all later requests; turns without tool calls drop it.
 *  - `tool_loop` (Anthropic extended thinking): thinking blocks, signatures unmodified, on the assistant
 *    turns since the last user text (the current tool loop); earlier turns drop them.
 *  - `all` (MiniMax M2, `<think>` in the content): the complete assistant message, think tags included.
 */
import { CACHE_RULES } from './cache-rules.js';
import type { Preset } from './presets.js';

export type ReasoningCarrier = 'none' | 'reasoning_content' | 'think_tags' | 'thinking_blocks';
export type ReasoningEcho = 'never' | 'tool_turns' | 'tool_loop' | 'all';

export interface WireRules {
  reasoning: {
    carrier: ReasoningCarrier;
    echo: ReasoningEcho;
    /** Model ids (case-insensitive regex) that think; the echo rule binds only them. */
    thinkingModels?: RegExp;
    doc?: string;
  };
  /** Tool-role messages may carry `name` (OpenAI's schema has no such field; strict servers answer 400). */
  toolMessageName: 'accept' | 'reject';
  /** Most `cache_control` markers one request may carry. */
  maxCacheBreakpoints?: number;
  /** Text blocks must hold non-whitespace text (Anthropic answers 400 otherwise). */
  noBlankText?: boolean;
  /** Shape of an error body: OpenAI's `{ error: { message, type, param, code } }` or Anthropic's. */
  errorShape: 'openai' | 'anthropic';
}

const OPENAI_LIKE: WireRules = {
  reasoning: { carrier: 'reasoning_content', echo: 'never' },
  toolMessageName: 'accept',
  errorShape: 'openai',
};

const STRICT_OPENAI: WireRules = { ...OPENAI_LIKE, toolMessageName: 'reject' };

const BY_PRESET: Record<string, WireRules> = {
  openai: { ...STRICT_OPENAI, reasoning: { carrier: 'none', echo: 'never' } },
  anthropic: {
    reasoning: {
      carrier: 'thinking_blocks',
      echo: 'tool_loop',
      thinkingModels: /^claude-/i,
      doc: 'https://docs.claude.com/en/docs/build-with-claude/extended-thinking#preserving-thinking-blocks',
    },
    toolMessageName: 'accept',
    maxCacheBreakpoints: CACHE_RULES.anthropic.maxBreakpoints,
    noBlankText: true,
    errorShape: 'anthropic',
  },
  deepseek: {
    ...OPENAI_LIKE,
    reasoning: {
      carrier: 'reasoning_content',
      echo: 'tool_turns',
      thinkingModels: /reasoner|thinking|deepseek-v3\.[2-9]|deepseek-v4/i,
      doc: 'https://api-docs.deepseek.com/guides/thinking_mode',
    },
  },
  kimi: {
    ...OPENAI_LIKE,
    reasoning: {
      carrier: 'reasoning_content',
      echo: 'tool_turns',
      thinkingModels: /thinking|kimi-k2\.5/i,
      doc: 'https://platform.moonshot.ai/docs/guide/use-kimi-k2-thinking-model',
    },
  },
  minimax: {
    ...OPENAI_LIKE,
    reasoning: {
      carrier: 'think_tags',
      echo: 'all',
      thinkingModels: /minimax-m/i,
      doc: 'https://platform.minimax.io/docs/guides/text-m2-function-call',
    },
  },
  qwen: { ...OPENAI_LIKE, maxCacheBreakpoints: CACHE_RULES.anthropic.maxBreakpoints },
  groq: STRICT_OPENAI,
  gemini: STRICT_OPENAI,
};
BY_PRESET['kimi-cn'] = BY_PRESET.kimi!;
BY_PRESET['minimax-cn'] = BY_PRESET.minimax!;
BY_PRESET['qwen-intl'] = BY_PRESET.qwen!;

export function rulesFor(preset: Pick<Preset, 'name'> | string): WireRules {
  const name = typeof preset === 'string' ? preset : preset.name;
  return BY_PRESET[name] ?? OPENAI_LIKE;
}

/** True when `model` is one of the preset's thinking models (its reasoning echo rule applies). */
export function thinks(rules: WireRules, model: string): boolean {
  return rules.reasoning.thinkingModels?.test(model) ?? false;
}

/**
 * Which assistant messages carry their reasoning back, by index, for a rule. `tool_loop` keeps the
 * assistant turns after the last user message that is not only tool results.
 */
export function reasoningEchoed(
  messages: ReadonlyArray<{ role: string; toolCalls?: readonly unknown[] }>,
  echo: ReasoningEcho,
): (i: number) => boolean {
  if (echo === 'never') return () => false;
  if (echo === 'all') return (i) => messages[i]?.role === 'assistant';
  if (echo === 'tool_turns')
    return (i) => messages[i]?.role === 'assistant' && (messages[i]?.toolCalls?.length ?? 0) > 0;
  let loopStart = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const r = messages[i]!.role;
    if (r === 'user' || r === 'system') {
      loopStart = i + 1;
      break;
    }
  }
  return (i) => i >= loopStart && messages[i]?.role === 'assistant';
}
