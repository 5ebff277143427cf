/**
 * Pages: the unit of the context manager's virtual memory. Every message the model sees is a page (system,
 * task, pinned notes, user/assistant turns, tool results, notes, summaries). Tokens are counted once, when a
 * page is made, with the shared BPE tokenizer; large contents become a head+tail view whose full text lives
 * in the page store. The page table and layout are in ./manager.ts and ./render.ts.
 */
import { KernelError } from '../errors.js';
import type { ReasoningBlock, ToolCall } from '../llm/model.js';
import { countTokens } from '../llm/tokenizer.js';
import * as P from '../param.js';
import { canonicalJson } from '../util/canonical.js';

export type PageKind =
  | 'system'
  | 'task'
  | 'pinned'
  | 'user'
  | 'assistant'
  | 'tool_result'
  | 'note'
  | 'summary';
export type AppendKind = 'user' | 'assistant' | 'tool_result' | 'note' | 'summary';
export const APPEND_KINDS: readonly AppendKind[] = ['user', 'assistant', 'tool_result', 'note', 'summary'];

export interface Page {
  /** `<pid>.<seq>`: unique per manager, short enough for stubs and the recall tool. */
  id: string;
  kind: PageKind;
  /** The text rendered into the prompt (a head+tail view when `fullTokens` is set). */
  content: string;
  toolCalls?: ToolCall[];
  toolCallId?: string;
  name?: string;
  /**
   * Assistant pages: the model's reasoning, part of the process's state (checkpointed with the page) and
   * sent back where the vendor requires it (src/llm/wire-rules.ts). Counted in `tokens`.
   */
  reasoning?: string;
  /** Assistant pages: Anthropic thinking blocks with their signatures, verbatim. */
  reasoningBlocks?: ReasoningBlock[];
  /** Tool results: the tool failed. */
  isError?: boolean;
  /** Tool results: the call they answer with its key arguments (`read_file(path=a.txt)`), for stubs. */
  call?: string;
  /** Tokens this page occupies when rendered (content + reasoning + tool calls + message framing). */
  tokens: number;
  /** Tokens of the full content when the page is a head+tail view of a larger text. */
  fullTokens?: number;
  importance: number;
  pinned: boolean;
  accessCount: number;
  /** Step (render count) of the last access; recency for the replacer. */
  lastAccess: number;
  createdStep: number;
  createdAt: number;
}

export const DEFAULT_IMPORTANCE: Record<PageKind, number> = {
  system: 1,
  task: 1,
  pinned: 1,
  user: 0.7,
  assistant: 0.5,
  tool_result: 0.4,
  note: 0.6,
  summary: 0.8,
};

// BPE cost explodes on one long pre-token: a run of letters (the tokenizer's regex splits digits,
// punctuation and spaces into short pieces, so JSON, URLs and base64 are fine). Such runs are counted in
// short chunks; js-tiktoken takes ~1 ms for 100 identical letters and ~20 s for 20,000.
const LONG_RUN = /[\p{L}\p{M}]{64,}/gu;

/**
 * Token count that stays fast on hostile text. Long letter runs are counted in 16-character chunks (a
 * chunk edge adds at most one token, so the count errs high, never low). Texts above CTX_COUNT_MAX_CHARS
 * are estimated at 4 chars per token (only head+tail views of such texts are rendered, counted exactly).
 */
export function safeCountTokens(text: string): number {
  if (text.length === 0) return 0;
  if (text.length > P.CTX_COUNT_MAX_CHARS) return Math.ceil(text.length / 4);
  if (!LONG_RUN.test(text)) return countTokens(text);
  LONG_RUN.lastIndex = 0;
  let n = 0;
  const rest = text.replace(LONG_RUN, (run) => {
    for (let i = 0; i < run.length; i += P.CTX_COUNT_RUN_CHARS)
      n += countTokens(run.slice(i, i + P.CTX_COUNT_RUN_CHARS));
    return ' ';
  });
  return n + countTokens(rest);
}

export function toolCallTokens(calls: readonly ToolCall[] | undefined): number {
  if (!calls) return 0;
  let n = 0;
  for (const c of calls)
    n += safeCountTokens(c.name) + safeCountTokens(c.arguments) + P.CTX_MESSAGE_OVERHEAD_TOKENS;
  return n;
}

/** Rendered size of one message: framing + content + tool calls. */
export function messageTokens(content: string, calls?: readonly ToolCall[]): number {
  return P.CTX_MESSAGE_OVERHEAD_TOKENS + safeCountTokens(content) + toolCallTokens(calls);
}

/** Structured content is rendered as canonical JSON so the same value always gives the same bytes. */
export function contentText(content: unknown, what: string): string {
  if (typeof content === 'string') return content;
  if (content === undefined || content === null) {
    throw new KernelError(
      'EINVAL',
      `${what}: content is missing; pass a string (or a JSON-serialisable value)`,
    );
  }
  return canonicalJson(content);
}

export function checkImportance(v: number | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v < 0 || v > 1) {
    throw new KernelError('EINVAL', `${what}: importance must be a number in [0, 1], got ${String(v)}`);
  }
  return v;
}

export interface HeadTail {
  /** Inline text: head, a marker saying how to read the rest, tail. */
  view: string;
  headChars: number;
  tailChars: number;
}

/**
 * Cuts a large text into a head+tail view of at most `maxTokens` tokens. Cuts fall on line ends where a
 * line end is near, so the model sees whole lines. `marker(omittedChars)` writes the middle line.
 */
export function headTail(
  text: string,
  maxTokens: number,
  marker: (omittedChars: number, headChars: number) => string,
): HeadTail {
  const room = Math.max(16, maxTokens - P.CTX_HEAD_TAIL_MARKER_TOKENS);
  let headTok = Math.floor(room * 0.6);
  let tailTok = room - headTok;
  // Start from ~3 chars per token and shrink until the exact count fits.
  let headChars = Math.min(text.length, headTok * 3);
  let tailChars = Math.min(text.length - headChars, tailTok * 3);
  for (let attempt = 0; attempt < 12; attempt++) {
    const head = cutAtLine(text.slice(0, headChars), 'end');
    const tail = cutAtLine(text.slice(text.length - tailChars), 'start');
    // Reading on starts after the newline the head was cut at.
    const resume = head.length + (text[head.length] === '\n' ? 1 : 0);
    const view = `${head}\n${marker(text.length - resume - tail.length, resume)}\n${tail}`;
    if (safeCountTokens(view) <= maxTokens) return { view, headChars: resume, tailChars: tail.length };
    headTok = Math.floor(headTok * 0.8);
    tailTok = Math.floor(tailTok * 0.8);
    headChars = Math.floor(headChars * 0.8);
    tailChars = Math.floor(tailChars * 0.8);
  }
  const view = marker(text.length, 0);
  return { view, headChars: 0, tailChars: 0 };
}

function cutAtLine(s: string, keep: 'end' | 'start'): string {
  if (keep === 'end') {
    const nl = s.lastIndexOf('\n');
    return nl > s.length * 0.5 ? s.slice(0, nl) : s;
  }
  const nl = s.indexOf('\n');
  return nl >= 0 && nl < s.length * 0.5 ? s.slice(nl + 1) : s;
}

/** One line describing a page for a stub: first sentence or first non-empty line, clipped. */
export function oneLine(text: string, maxChars = 120): string {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  if (!line) return '(empty)';
  const sentence = /^(.{20,}?[.!?])(\s|$)/.exec(line)?.[1] ?? line;
  const clipped = sentence.length > maxChars ? `${sentence.slice(0, maxChars - 1)}…` : sentence;
  return clipped.replace(/\s+/g, ' ');
}

/** Arguments that say what a call was about, in this order of preference. */
const KEY_ARGS = [
  'path',
  'file',
  'filename',
  'file_path',
  'url',
  'uri',
  'dir',
  'directory',
  'command',
  'cmd',
  'query',
  'q',
  'expression',
  'pattern',
  'id',
  'page_id',
  'name',
];

/**
 * A call with its key arguments — `read_file(path=src/a.ts)`, `http_get(url=https://…)` — so a stub or a
 * summary still says which file or URL a paged-out result stands for.
 */
export function callLabel(c: Pick<ToolCall, 'name' | 'arguments'>, maxChars = 100): string {
  let args: Record<string, unknown> = {};
  try {
    const v = JSON.parse(c.arguments) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) args = v as Record<string, unknown>;
  } catch {
    return c.name;
  }
  const keys = KEY_ARGS.filter((k) => typeof args[k] === 'string' || typeof args[k] === 'number');
  const pick = keys.length
    ? keys.slice(0, 2)
    : Object.keys(args)
        .filter((k) => typeof args[k] === 'string')
        .slice(0, 1);
  const clip = (v: string) => (v.length > 60 ? `${v.slice(0, 59)}…` : v);
  const inner = pick.map((k) => `${k}=${clip(String(args[k]).replace(/\s+/g, ' '))}`).join(', ');
  const out = `${c.name}(${inner})`;
  return out.length > maxChars ? `${out.slice(0, maxChars - 2)}…)` : out;
}

export function describePage(
  p: Pick<Page, 'id' | 'kind' | 'name' | 'toolCalls' | 'fullTokens' | 'tokens' | 'call'>,
): string {
  const what =
    p.kind === 'tool_result'
      ? `tool_result ${p.call ?? p.name ?? ''}`.trim()
      : p.toolCalls?.length
        ? `assistant → ${p.toolCalls.map((c) => callLabel(c)).join(', ')}`
        : p.kind;
  return `${p.id} ${what}, ${p.fullTokens ?? p.tokens} tokens`;
}
