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
 *
 * Structured outputs (`structured`): which response formats the vendor documents — JSON mode
 * (`json_object`: any JSON object) and/or JSON Schema (`json_schema`: constrained to the caller's schema) —
 * and whether JSON mode wants the word "json" in the messages (OpenAI, DeepSeek, Qwen answer 400 without
 * it). A format the vendor lacks is refused before the call (refuseResponseFormat), naming what to send
 * instead: JSON mode is never passed off as a schema, a schema never silently becomes JSON mode.
 */
import { KernelError } from '../errors.js';
import { CACHE_RULES } from './cache-rules.js';
import type { ResponseFormat } from './model.js';
import type { Preset } from './presets.js';

export type ReasoningCarrier = 'none' | 'reasoning_content' | 'think_tags' | 'thinking_blocks';
export type ReasoningEcho = 'never' | 'tool_turns' | 'tool_loop' | 'all';

export type ResponseFormatType = ResponseFormat['type'];

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
  structured: {
    /** The response formats the vendor documents (none: ask for JSON in the prompt). */
    formats: readonly ResponseFormatType[];
    /** JSON mode needs the word "json" somewhere in the messages (a 400 otherwise). */
    jsonWord?: boolean;
    doc?: string;
  };
}

/** OpenAI's own rule; an OpenAI-compatible server the kernel has no preset rule for is assumed to follow it. */
const OPENAI_STRUCTURED: WireRules['structured'] = {
  formats: ['json_object', 'json_schema'],
  jsonWord: true,
  doc: 'https://platform.openai.com/docs/guides/structured-outputs',
};

const OPENAI_LIKE: WireRules = {
  reasoning: { carrier: 'reasoning_content', echo: 'never' },
  toolMessageName: 'accept',
  errorShape: 'openai',
  structured: OPENAI_STRUCTURED,
};

const STRICT_OPENAI: WireRules = { ...OPENAI_LIKE, toolMessageName: 'reject' };

const BY_PRESET: Record<string, WireRules> = {
  openai: { ...STRICT_OPENAI, reasoning: { carrier: 'none', echo: 'never' } },
  simulated: OPENAI_LIKE,
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
    // output_config.format: a JSON schema only (no JSON mode); the schema is shaped by the SDK's own rule.
    structured: {
      formats: ['json_schema'],
      doc: 'https://platform.claude.com/docs/en/build-with-claude/structured-outputs',
    },
  },
  deepseek: {
    ...OPENAI_LIKE,
    reasoning: {
      carrier: 'reasoning_content',
      echo: 'tool_turns',
      thinkingModels: /reasoner|thinking|deepseek-v3\.[2-9]|deepseek-v4/i,
      doc: 'https://api-docs.deepseek.com/guides/thinking_mode',
    },
    structured: {
      formats: ['json_object'],
      jsonWord: true,
      doc: 'https://api-docs.deepseek.com/guides/json_mode',
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
    structured: {
      formats: ['json_object'],
      doc: 'https://platform.moonshot.ai/docs/guide/use-json-mode-feature-of-kimi-api',
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
    // Its OpenAI-compatible API documents no response_format.
    structured: { formats: [], doc: 'https://platform.minimax.io/docs/api-reference/text-openai-api' },
  },
  qwen: {
    ...OPENAI_LIKE,
    maxCacheBreakpoints: CACHE_RULES.anthropic.maxBreakpoints,
    // json_schema on the models the page lists (qwen-plus, qwen-max, qwen-flash …); others answer 400.
    structured: {
      ...OPENAI_STRUCTURED,
      doc: 'https://www.alibabacloud.com/help/en/model-studio/qwen-structured-output',
    },
  },
  zhipu: {
    ...OPENAI_LIKE,
    structured: { formats: ['json_object'], doc: 'https://docs.z.ai/guides/capabilities/struct-output' },
  },
  siliconflow: {
    ...OPENAI_LIKE,
    structured: { formats: ['json_object'], doc: 'https://docs.siliconflow.cn/features/json_mode' },
  },
  // LM Studio documents a schema only (response_format json_schema), no JSON mode.
  lmstudio: {
    ...OPENAI_LIKE,
    structured: {
      formats: ['json_schema'],
      doc: 'https://lmstudio.ai/docs/developer/openai-compat/structured-output',
    },
  },
  groq: STRICT_OPENAI,
  gemini: STRICT_OPENAI,
};
BY_PRESET['kimi-cn'] = BY_PRESET.kimi!;
BY_PRESET['minimax-cn'] = BY_PRESET.minimax!;
BY_PRESET['qwen-intl'] = BY_PRESET.qwen!;

const FORMAT_NAME: Record<ResponseFormatType, string> = {
  json_object: 'json_object (JSON mode)',
  json_schema: 'json_schema (structured outputs)',
};

/**
 * Refuses a response format the vendor has no mode for (EUNSUPPORTED, param response_format), saying what it
 * does have. `label`: the vendor as the caller knows it (the preset's label).
 */
export function refuseResponseFormat(rules: WireRules, rf: ResponseFormat | undefined, label: string): void {
  if (!rf || rules.structured.formats.includes(rf.type)) return;
  const has = rules.structured.formats;
  const instead =
    has.length === 0
      ? 'ask for JSON in the prompt and parse the text, or use a model whose vendor supports structured outputs'
      : has.includes('json_object')
        ? `send response_format {type: 'json_object'}${rules.structured.jsonWord ? ' (with the word "json" in a message)' : ''} and describe the fields in the prompt, or use a model whose vendor supports json_schema (OpenAI, Qwen, Gemini, vLLM, Ollama)`
        : 'send a json_schema response_format naming the fields you want instead';
  const offers = has.length
    ? `it offers ${has.map((t) => FORMAT_NAME[t]).join(' and ')} only`
    : 'it documents none';
  throw new KernelError(
    'EUNSUPPORTED',
    `response_format ${rf.type} is not supported by ${label} (${offers}${rules.structured.doc ? `: ${rules.structured.doc}` : ''}); ${instead}`,
    { details: { param: 'response_format' } },
  );
}

/** Whether some message says "json" (any case): JSON mode's precondition where `structured.jsonWord`. */
export function mentionsJson(messages: ReadonlyArray<{ content: string }>): boolean {
  return messages.some((m) => /json/i.test(m.content));
}

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
