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

export function extractiveSummary(pages: readonly SpanPage[], maxTokens: number): string {
  const ranked = [...pages].sort((a, b) => (KIND_RANK[a.kind] ?? 5) - (KIND_RANK[b.kind] ?? 5));
  let text = '';
  for (const p of ranked) {
    const line = `${p.kind === 'tool_result' ? `${p.name ?? 'tool'} returned` : p.kind}: ${oneLine(p.content, 160)}`;
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

/** The stub message for a span of evicted pages (rendered as a user message in the page's place). */
export function buildStub(entries: readonly StubEntry[], summary: string | undefined): string {
  const total = entries.reduce((n, e) => n + e.tokens, 0);
  const head = `[context: ${entries.length} earlier message${entries.length === 1 ? '' : 's'} (${total} tokens) paged out to storage. To read one again call the recall tool with its page id.]`;
  const lines = [head];
  if (summary) lines.push(`Summary: ${summary}`);
  const listed =
    entries.length <= MAX_LISTED ? entries : [...entries.slice(0, MAX_LISTED - 2), ...entries.slice(-2)];
  for (const [i, e] of listed.entries()) {
    if (entries.length > MAX_LISTED && i === MAX_LISTED - 2) {
      const first = entries[MAX_LISTED - 2];
      const last = entries[entries.length - 3];
      lines.push(`- … ${entries.length - MAX_LISTED} more pages (${first?.id} … ${last?.id})`);
    }
    lines.push(`- ${e.label}: ${e.line}`);
  }
  return clipTokens(lines.join('\n'), P.CTX_STUB_MAX_TOKENS - P.CTX_MESSAGE_OVERHEAD_TOKENS);
}
