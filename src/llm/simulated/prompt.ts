/**
 * How the simulator counts prompt tokens: the request is cut into segments in prefix order (tools, then
 * each message or content block), each segment is serialised as canonical JSON and encoded with the shared
 * BPE tokenizer (../tokenizer.ts). Encoding per segment keeps the token sequence prefix-stable (appending a
 * message never changes the tokens of earlier ones) and lets repeated segments hit a memo instead of BPE.
 */
import { SIM_PROMPT_MEMO_MAX } from '../../param.js';
import { canonicalJson } from '../../util/canonical.js';
import { encode } from '../tokenizer.js';
import type { PromptBlock } from './prefix-cache.js';

const memo = new Map<string, number[]>();

export function encodeSegment(value: unknown): number[] {
  const text = typeof value === 'string' ? value : canonicalJson(value);
  const hit = memo.get(text);
  if (hit) return hit;
  const toks = encode(text);
  if (memo.size >= SIM_PROMPT_MEMO_MAX) memo.delete(memo.keys().next().value as string);
  memo.set(text, toks);
  return toks;
}

/** Token ids of an OpenAI chat-completions prompt: tools first, then every message, in order. */
export function openAiPromptTokens(body: Record<string, unknown>): number[] {
  const out: number[] = [];
  const tools = body.tools as unknown[] | undefined;
  if (tools?.length) for (const t of encodeSegment(tools)) out.push(t);
  for (const m of (body.messages as unknown[] | undefined) ?? [])
    for (const t of encodeSegment(m)) out.push(t);
  return out;
}

/** Blocks of an Anthropic Messages prompt in cache order: tools, system blocks, then message blocks. */
export function anthropicPromptBlocks(body: Record<string, unknown>): PromptBlock[] {
  const blocks: PromptBlock[] = [];
  const cc = (b: unknown) =>
    typeof b === 'object' &&
    b !== null &&
    'cache_control' in b &&
    Boolean((b as Record<string, unknown>).cache_control);
  // The marker is not content: the same block with or without it must hash the same.
  const strip = (b: unknown) => {
    if (!cc(b)) return b;
    const { cache_control: _c, ...rest } = b as Record<string, unknown>;
    return rest;
  };
  for (const t of (body.tools as unknown[] | undefined) ?? [])
    blocks.push({ tokens: encodeSegment(strip(t)), breakpoint: cc(t) });
  const sys = body.system;
  if (typeof sys === 'string') blocks.push({ tokens: encodeSegment({ system: sys }), breakpoint: false });
  else
    for (const b of (sys as unknown[] | undefined) ?? [])
      blocks.push({ tokens: encodeSegment(strip(b)), breakpoint: cc(b) });
  for (const m of (body.messages as Array<Record<string, unknown>> | undefined) ?? []) {
    const content = m.content;
    if (typeof content === 'string')
      blocks.push({ tokens: encodeSegment({ role: m.role, text: content }), breakpoint: false });
    else
      for (const b of (content as unknown[] | undefined) ?? [])
        blocks.push({ tokens: encodeSegment({ role: m.role, block: strip(b) }), breakpoint: cc(b) });
  }
  return blocks;
}
