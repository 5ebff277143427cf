/**
 * Provider presets: data, not classes. One OpenAI-compatible provider (./openai-compatible) plus a preset
 * covers every vendor below; a preset says where the endpoint is, which environment variable holds the key,
 * which usage dialect the vendor speaks and which quirks the provider must work around. Anthropic is native
 * (./anthropic) and `simulated` is the built-in simulator (./simulated). Base URLs checked 2026-11.
 */

/** How a vendor reports usage on the wire (see ./usage.ts for the fields of each). */
export type UsageDialect = 'openai' | 'deepseek' | 'kimi' | 'ollama' | 'anthropic';

export interface PresetQuirks {
  /** Send assistant `reasoning_content` back on later turns (DeepSeek thinking mode + tool calls fails without). */
  echoReasoningContent?: boolean;
  /** Clamp temperature into [min, max] (MiniMax rejects 0 and values above 1). */
  temperatureRange?: readonly [number, number];
  /** The model may wrap reasoning in `<think>…</think>` inside the content (MiniMax M-series). */
  thinkTags?: boolean;
  /** The endpoint rejects or ignores `tool_choice` (Ollama's /v1). */
  noToolChoice?: boolean;
  /** The endpoint honours `prompt_cache_key` (OpenAI, Kimi). */
  promptCacheKey?: boolean;
  /** Streams the usage object inside `choices[0].usage` of the last chunk (Kimi). */
  streamUsageInChoice?: boolean;
  /** Honours Anthropic-style `cache_control` on text content blocks (DashScope explicit cache). */
  cacheControlBlocks?: boolean;
  /** Reads `max_completion_tokens` instead of `max_tokens` (OpenAI's reasoning models require it). */
  maxCompletionTokens?: boolean;
}

export interface Preset {
  name: string;
  label: string;
  kind: 'openai-compatible' | 'anthropic' | 'simulated';
  baseUrl: string;
  /** Environment variables consulted for the key, in order; the first is the one error messages name. */
  envKeys: readonly string[];
  /** False for local servers (vLLM, Ollama, LM Studio) that accept any key. */
  keyRequired: boolean;
  dialect: UsageDialect;
  quirks: PresetQuirks;
  /** Other names users write for this preset (seeds, vendor brands). */
  aliases?: readonly string[];
  defaultModel: string;
}

const P = (p: Preset): Preset => p;

export const PRESETS: readonly Preset[] = [
  P({
    name: 'openai',
    label: 'OpenAI',
    kind: 'openai-compatible',
    baseUrl: 'https://api.openai.com/v1',
    envKeys: ['OPENAI_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: { promptCacheKey: true, maxCompletionTokens: true },
    defaultModel: 'gpt-4o',
  }),
  P({
    name: 'anthropic',
    label: 'Anthropic',
    kind: 'anthropic',
    baseUrl: 'https://api.anthropic.com',
    envKeys: ['ANTHROPIC_API_KEY'],
    keyRequired: true,
    dialect: 'anthropic',
    quirks: {},
    aliases: ['claude'],
    defaultModel: 'claude-sonnet-4-6',
  }),
  P({
    name: 'deepseek',
    label: 'DeepSeek',
    kind: 'openai-compatible',
    baseUrl: 'https://api.deepseek.com/v1',
    envKeys: ['DEEPSEEK_API_KEY'],
    keyRequired: true,
    dialect: 'deepseek',
    quirks: { echoReasoningContent: true },
    defaultModel: 'deepseek-chat',
  }),
  P({
    name: 'kimi',
    label: 'Kimi / Moonshot (international)',
    kind: 'openai-compatible',
    baseUrl: 'https://api.moonshot.ai/v1',
    envKeys: ['MOONSHOT_API_KEY', 'KIMI_API_KEY'],
    keyRequired: true,
    dialect: 'kimi',
    quirks: { promptCacheKey: true, streamUsageInChoice: true, echoReasoningContent: true },
    aliases: ['moonshot'],
    defaultModel: 'kimi-k2-0905-preview',
  }),
  P({
    name: 'kimi-cn',
    label: 'Kimi / Moonshot (China)',
    kind: 'openai-compatible',
    baseUrl: 'https://api.moonshot.cn/v1',
    envKeys: ['MOONSHOT_API_KEY', 'KIMI_API_KEY'],
    keyRequired: true,
    dialect: 'kimi',
    quirks: { promptCacheKey: true, streamUsageInChoice: true, echoReasoningContent: true },
    aliases: ['moonshot-cn'],
    defaultModel: 'kimi-k2-0905-preview',
  }),
  P({
    name: 'qwen',
    label: 'Qwen / DashScope compatible-mode (China)',
    kind: 'openai-compatible',
    baseUrl: 'https://dashscope.aliyuncs.com/compatible-mode/v1',
    envKeys: ['DASHSCOPE_API_KEY', 'QWEN_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: { cacheControlBlocks: true },
    aliases: ['dashscope', 'tongyi'],
    defaultModel: 'qwen-plus',
  }),
  P({
    name: 'qwen-intl',
    label: 'Qwen / DashScope compatible-mode (international)',
    kind: 'openai-compatible',
    baseUrl: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1',
    envKeys: ['DASHSCOPE_API_KEY', 'QWEN_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: { cacheControlBlocks: true },
    aliases: ['dashscope-intl'],
    defaultModel: 'qwen-plus',
  }),
  P({
    name: 'minimax',
    label: 'MiniMax (international)',
    kind: 'openai-compatible',
    baseUrl: 'https://api.minimax.io/v1',
    envKeys: ['MINIMAX_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: { temperatureRange: [0.01, 1], thinkTags: true },
    defaultModel: 'MiniMax-M2',
  }),
  P({
    name: 'minimax-cn',
    label: 'MiniMax (China)',
    kind: 'openai-compatible',
    baseUrl: 'https://api.minimaxi.com/v1',
    envKeys: ['MINIMAX_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: { temperatureRange: [0.01, 1], thinkTags: true },
    defaultModel: 'MiniMax-M2',
  }),
  P({
    name: 'zhipu',
    label: 'Zhipu GLM (bigmodel.cn)',
    kind: 'openai-compatible',
    baseUrl: 'https://open.bigmodel.cn/api/paas/v4',
    envKeys: ['ZHIPUAI_API_KEY', 'ZAI_API_KEY', 'GLM_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: {},
    aliases: ['glm', 'zhipuai', 'z.ai'],
    defaultModel: 'glm-4.6',
  }),
  P({
    name: 'gemini',
    label: 'Google Gemini (OpenAI-compatible endpoint)',
    kind: 'openai-compatible',
    baseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai',
    envKeys: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: {},
    aliases: ['google'],
    defaultModel: 'gemini-2.5-flash',
  }),
  P({
    name: 'groq',
    label: 'Groq',
    kind: 'openai-compatible',
    baseUrl: 'https://api.groq.com/openai/v1',
    envKeys: ['GROQ_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: {},
    defaultModel: 'llama-3.3-70b-versatile',
  }),
  P({
    name: 'openrouter',
    label: 'OpenRouter',
    kind: 'openai-compatible',
    baseUrl: 'https://openrouter.ai/api/v1',
    envKeys: ['OPENROUTER_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: {},
    defaultModel: 'openai/gpt-4o',
  }),
  P({
    name: 'siliconflow',
    label: 'SiliconFlow',
    kind: 'openai-compatible',
    baseUrl: 'https://api.siliconflow.cn/v1',
    envKeys: ['SILICONFLOW_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: {},
    defaultModel: 'deepseek-ai/DeepSeek-V3',
  }),
  P({
    name: 'together',
    label: 'Together AI',
    kind: 'openai-compatible',
    baseUrl: 'https://api.together.xyz/v1',
    envKeys: ['TOGETHER_API_KEY'],
    keyRequired: true,
    dialect: 'openai',
    quirks: {},
    defaultModel: 'meta-llama/Llama-3.3-70B-Instruct-Turbo',
  }),
  P({
    name: 'vllm',
    label: 'vLLM (self-hosted)',
    kind: 'openai-compatible',
    baseUrl: 'http://127.0.0.1:8000/v1',
    envKeys: ['VLLM_API_KEY'],
    keyRequired: false,
    dialect: 'openai',
    quirks: {},
    defaultModel: 'Qwen/Qwen2.5-7B-Instruct',
  }),
  P({
    name: 'ollama',
    label: 'Ollama (/v1)',
    kind: 'openai-compatible',
    baseUrl: 'http://127.0.0.1:11434/v1',
    envKeys: ['OLLAMA_API_KEY'],
    keyRequired: false,
    dialect: 'ollama',
    quirks: { noToolChoice: true },
    defaultModel: 'qwen2.5',
  }),
  P({
    name: 'lmstudio',
    label: 'LM Studio',
    kind: 'openai-compatible',
    baseUrl: 'http://127.0.0.1:1234/v1',
    envKeys: ['LMSTUDIO_API_KEY'],
    keyRequired: false,
    dialect: 'openai',
    quirks: {},
    aliases: ['lm-studio'],
    defaultModel: 'qwen2.5-7b-instruct',
  }),
  P({
    name: 'simulated',
    label: 'Built-in simulator (not a real model)',
    kind: 'simulated',
    baseUrl: 'inproc://simulator',
    envKeys: [],
    keyRequired: false,
    dialect: 'openai',
    quirks: { promptCacheKey: true },
    aliases: ['sim', 'simulator'],
    defaultModel: 'sim-react',
  }),
];

const BY_NAME = new Map<string, Preset>();
for (const p of PRESETS) {
  BY_NAME.set(p.name, p);
  for (const a of p.aliases ?? []) BY_NAME.set(a, p);
}

/** The preset for a provider name or alias (case-insensitive), or undefined. */
export function findPreset(name: string): Preset | undefined {
  return BY_NAME.get(name.toLowerCase());
}

export function presetNames(): string[] {
  return PRESETS.map((p) => p.name);
}
