/**
 * Compaction: what an evicted span leaves behind. A `Summarizer` condenses the span (the kernel passes one
 * that calls the agent's own model and charges its budget); `ExtractiveSummarizer` is the deterministic
 * fallback (first sentence / key line of each page). `buildStub` writes the stub message: page ids with
 * one-line descriptions, the summary, and how to page them back in, bounded to CTX_STUB_MAX_TOKENS.
 */
import * as P from '../param.js';
import { oneLine, safeCountTokens } from './page.js';

export interface SpanPage {
  id: string;
  kind: string;
  name?: string;
  /** Tool results: the call they answer with its key arguments (`read_file(path=a.txt)`). */
  call?: string;
  /** Full text of the page (for an earlier stub: its summary). */
  content: string;
  tokens: number;
}

export interface Summarizer {
  readonly name: string;
  /** A short summary of the span, at most `maxTokens` tokens (longer output is clipped). */
  summarize(pages: readonly SpanPage[], opts: { maxTokens: number; pid: number | string }): Promise<string>;
}

/** Deterministic: the first sentence or first non-empty line of each page, most important kinds first. */
export class ExtractiveSummarizer implements Summarizer {
  readonly name = 'extractive';

  async summarize(pages: readonly SpanPage[], opts: { maxTokens: number }): Promise<string> {
    return extractiveSummary(pages, opts.maxTokens);
  }
}

const KIND_RANK: Record<string, number> = { summary: 0, user: 1, note: 2, assistant: 3, tool_result: 4 };

/** One page as a summariser reads it: `[tool_result read_file(path=a.txt)] …`, `[assistant] called …`. */
export function spanLine(p: SpanPage): string {
  const who = p.kind === 'tool_result' ? (p.call ?? p.name) : p.name;
  return `[${p.kind}${who ? ` ${who}` : ''}] ${p.content}`;
}

export function extractiveSummary(pages: readonly SpanPage[], maxTokens: number): string {
  const ranked = [...pages].sort((a, b) => (KIND_RANK[a.kind] ?? 5) - (KIND_RANK[b.kind] ?? 5));
  let text = '';
  for (const p of ranked) {
    const line = `${p.kind === 'tool_result' ? `${p.call ?? p.name ?? 'tool'} returned` : p.kind}: ${oneLine(p.content, 160)}`;
    const next = text ? `${text}; ${line}` : line;
    if (safeCountTokens(next) > maxTokens) break;
    text = next;
  }
  return text;
}

/** Clips a text to at most maxTokens tokens (whole words where possible). */
export function clipTokens(text: string, maxTokens: number): string {
  if (safeCountTokens(text) <= maxTokens) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (safeCountTokens(`${text.slice(0, mid)}…`) <= maxTokens) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

export interface StubEntry {
  id: string;
  /** `7.12 tool_result read_file, 5320 tokens` */
  label: string;
  /** One line of the page's content. */
  line: string;
  tokens: number;
}

const MAX_LISTED = P.CTX_STUB_MAX_LISTED;

/**
 * The stub message for a span of evicted pages (rendered as a user message in the page's place), within
 * CTX_STUB_MAX_TOKENS. What it must never lose is the newest pages' ids and labels (a model recalls what
 * it can name): the summary gets at most half the room, and when the list does not fit, pages are elided
 * from the middle outwards (oldest first kept, newest always kept) instead of clipping the text's end.
 */
export function buildStub(entries: readonly StubEntry[], summary: string | undefined): string {
  const budget = P.CTX_STUB_MAX_TOKENS - P.CTX_MESSAGE_OVERHEAD_TOKENS;
  const total = entries.reduce((n, e) => n + e.tokens, 0);
  const head = `[context: ${entries.length} earlier message${entries.length === 1 ? '' : 's'} (${total} tokens) paged out to storage. To read one again call the recall tool with its page id.]`;
  const top = summary ? [head, `Summary: ${clipTokens(summary, Math.floor(budget / 2))}`] : [head];
  const n = entries.length;
  // first `a` and last `b` entries are listed; the ones between are named by one elision line
  let b = Math.min(n, 2);
  let a = n <= MAX_LISTED ? n - b : MAX_LISTED - 2;
  const render = () => {
    const lines = [...top];
    for (const e of entries.slice(0, a)) lines.push(`- ${e.label}: ${e.line}`);
    if (a + b < n) lines.push(`- … ${n - a - b} more pages (${entries[a]?.id} … ${entries[n - b - 1]?.id})`);
    for (const e of entries.slice(n - b)) lines.push(`- ${e.label}: ${e.line}`);
    return lines.join('\n');
  };
  let text = render();
  while (safeCountTokens(text) > budget && a + b > 1) {
    if (a > 0) a--;
    else b--;
    text = render();
  }
  return clipTokens(text, budget);
}
