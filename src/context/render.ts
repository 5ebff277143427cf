/**
 * Prompt layout (DESIGN §4): [tools, canonical JSON, sorted by name] [system + pinned] [task]
 * [append-only history: units and stubs] — the volatile tail is simply the newest history (faulted pages
 * and the current input are appended there). Same page table → byte-identical messages. Every message
 * also yields a cache segment (hash + tokens) for ./cache-model.ts. Anthropic-style breakpoints close the
 * static prefix, roll at every CTX_BREAKPOINT_EVERY-th history message, and close the prompt.
 */
import type { ChatMessage } from '../llm/model.js';
import * as P from '../param.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import type { Segment } from './cache-model.js';
import type { Page } from './page.js';
import { type Entry, MISSING_RESULT_TEXT, missingResultTokens, type ProcContext } from './table.js';

export interface Rendered {
  messages: ChatMessage[];
  segments: Segment[];
  /** Estimated tokens before calibration. */
  rawTokens: number;
  /** Tokens of tools + system + task (the part that never changes). */
  staticTokens: number;
}

const hashes = new WeakMap<object, string>();

function messageHash(key: object, m: ChatMessage): string {
  let h = hashes.get(key);
  if (h === undefined) {
    h = sha256Hex(
      canonicalJson({
        r: m.role,
        c: m.content,
        t: m.toolCalls,
        i: m.toolCallId,
        n: m.name,
        rs: m.reasoning,
        rb: m.reasoningBlocks,
        e: m.isError,
      }),
    ).slice(0, 32);
    hashes.set(key, h);
  }
  return h;
}

export function systemText(system: Page | null, pinned: readonly Page[]): string {
  const base = system?.content ?? '';
  if (pinned.length === 0) return base;
  const notes = pinned.map((p) => `[${p.id}] ${p.content}`).join('\n\n');
  return base ? `${base}\n\n## Pinned notes\n${notes}` : `## Pinned notes\n${notes}`;
}

const rendered = new WeakMap<object, ChatMessage>();

/**
 * The message of a page (or stub), made once and deep-frozen: a page's rendered fields never change (the
 * hash above relies on it too), and the same object every render lets the syscall gate check it once
 * (src/kernel/syscalls.ts parseChat) and the request hash compare it in O(1). Its tool calls and
 * reasoning blocks are copies: the page's own arrays stay the page's.
 */
function cachedMessage(key: object, make: () => ChatMessage): ChatMessage {
  let m = rendered.get(key);
  if (m === undefined) {
    m = make();
    if (m.toolCalls)
      m.toolCalls = Object.freeze(
        m.toolCalls.map((c) => Object.freeze({ ...c })),
      ) as ChatMessage['toolCalls'];
    if (m.reasoningBlocks)
      m.reasoningBlocks = Object.freeze(
        m.reasoningBlocks.map((b) => Object.freeze({ ...b })),
      ) as ChatMessage['reasoningBlocks'];
    Object.freeze(m);
    rendered.set(key, m);
  }
  return m;
}

/** Tool results live inside their assistant's unit (manager.append turns orphans into notes). */
function pageMessage(p: Page): ChatMessage {
  switch (p.kind) {
    case 'assistant':
      return {
        role: 'assistant',
        content: p.content,
        ...(p.toolCalls?.length ? { toolCalls: p.toolCalls } : {}),
        ...(p.reasoning ? { reasoning: p.reasoning } : {}),
        ...(p.reasoningBlocks?.length ? { reasoningBlocks: p.reasoningBlocks } : {}),
      };
    case 'tool_result':
      return {
        role: 'tool',
        content: p.content,
        toolCallId: p.toolCallId ?? '',
        ...(p.name ? { name: p.name } : {}),
        ...(p.isError ? { isError: true } : {}),
      };
    default:
      return { role: 'user', content: p.content };
  }
}

/** The entries in render order: history order, or a baseline replacer's order of resident units. */
function orderedEntries(ctx: ProcContext): Entry[] {
  if (!ctx.order) return ctx.history;
  const byKey = new Map<number, Entry>();
  for (const e of ctx.history) if (e.t === 'unit') byKey.set(e.unit.key, e);
  const out: Entry[] = [];
  for (const k of ctx.order) {
    const e = byKey.get(k);
    if (e) {
      out.push(e);
      byKey.delete(k);
    }
  }
  // Units appended after the plan keep their place at the end.
  for (const e of ctx.history) if (e.t === 'stub' || byKey.has(e.unit.key)) out.push(e);
  return out;
}

export function renderContext(ctx: ProcContext): Rendered {
  const messages: ChatMessage[] = [];
  const segments: Segment[] = [];
  let raw = 0;
  if (ctx.toolsHash) {
    segments.push({ hash: ctx.toolsHash, tokens: ctx.toolsTokens });
    raw += ctx.toolsTokens;
  }
  const push = (key: object, m: ChatMessage, tokens: number) => {
    messages.push(m);
    segments.push({ hash: messageHash(key, m), tokens });
    raw += tokens;
  };
  if (ctx.systemText) {
    messages.push({ role: 'system', content: ctx.systemText });
    segments.push({ hash: ctx.systemHash, tokens: ctx.systemTokens });
    raw += ctx.systemTokens;
  }
  const page = (p: Page) =>
    push(
      p,
      cachedMessage(p, () => pageMessage(p)),
      p.tokens,
    );
  if (ctx.task) page(ctx.task);
  const staticTokens = raw;
  const staticMessages = messages.length;

  for (const e of orderedEntries(ctx)) {
    if (e.t === 'stub') {
      const stub = e.stub;
      push(
        stub,
        cachedMessage(stub, () => ({ role: 'user', content: stub.text })),
        stub.tokens,
      );
      continue;
    }
    const pages = e.unit.pages;
    const head = pages[0];
    if (!head) continue;
    page(head);
    // Results in call order; a call without a result gets a fixed note so the pairing stays valid.
    const results = new Map(pages.slice(1).map((p) => [p.toolCallId ?? '', p]));
    for (const c of head.toolCalls ?? []) {
      const p = results.get(c.id);
      if (p) {
        page(p);
        results.delete(c.id);
      } else {
        push(
          {},
          { role: 'tool', content: MISSING_RESULT_TEXT, toolCallId: c.id, name: c.name },
          missingResultTokens(),
        );
      }
    }
    for (const p of results.values()) page(p);
  }
  placeBreakpoints(messages, segments, staticMessages, ctx.toolsHash ? 1 : 0);
  return { messages, segments, rawTokens: raw, staticTokens };
}

/**
 * Breakpoints: after the static prefix; at the newest history message whose index is a multiple of
 * CTX_BREAKPOINT_EVERY (a stable position, so a later request finds it within Anthropic's 20-block
 * lookback however many messages a step added); and on the last message. At most 3 of Anthropic's 4.
 */
function placeBreakpoints(
  messages: ChatMessage[],
  segments: Segment[],
  staticMessages: number,
  segOffset: number,
): void {
  const mark = (i: number) => {
    const m = messages[i];
    const s = segments[i + segOffset];
    if (m && s) {
      messages[i] = { ...m, cacheBreakpoint: true }; // a copy: m may be a page's frozen message

      s.breakpoint = true;
    }
  };
  if (staticMessages > 0) mark(staticMessages - 1);
  const historyLen = messages.length - staticMessages;
  const anchor = Math.floor(historyLen / P.CTX_BREAKPOINT_EVERY) * P.CTX_BREAKPOINT_EVERY;
  if (anchor > 0) mark(staticMessages + anchor - 1);
  if (messages.length > 0) mark(messages.length - 1);
}
