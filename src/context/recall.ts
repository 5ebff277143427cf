/**
 * Reading a paged-out page back: a window of at most N tokens from a character offset, cut at a line end
 * where one is near, with a footer naming the offset to read on. Used by ContextManager.recall and the
 * recall tool (./recall-tool.ts).
 */
import { KernelError } from '../errors.js';
import { safeCountTokens } from './page.js';

/**
 * `knownTokens` is the page table's count for the whole text (an upper bound: it was counted once, with
 * framing, when the page was appended). A page that fits whole is returned without a tokenizer pass, and a
 * larger one is cut at its own density so one pass over about `maxTokens` tokens usually suffices: BPE
 * costs more than the store read, and its allocations were most of the swap-in tail.
 */
export function readWindow(
  id: string,
  text: string,
  offset: number,
  maxTokens: number,
  knownTokens?: number,
): string {
  if (!Number.isInteger(offset) || offset < 0 || offset > text.length) {
    throw new KernelError(
      'EINVAL',
      `recall: offset ${String(offset)} is outside page ${id} (0…${text.length} characters)`,
    );
  }
  // Only from the start: a suffix can take a token or two more than the whole text's count.
  if (offset === 0 && knownTokens !== undefined && knownTokens <= maxTokens) return text;
  // First cut from the page's own density (chars per known token, 8 % under so one pass usually fits),
  // else 6 chars per token (over most texts' density, so the loop below shrinks it).
  const density = knownTokens ? (text.length / Math.max(1, knownTokens)) * 0.92 : 6;
  let take = Math.min(text.length - offset, Math.max(1, Math.floor(maxTokens * density)));
  let count = safeCountTokens(text.slice(offset, offset + take));
  // Scale by the measured chars-per-token, then shrink until it fits: one or two tokenizer passes, not a search.
  for (let i = 0; count > maxTokens && i < 20; i++) {
    take = Math.max(1, Math.floor((take * maxTokens) / count) - (i === 0 ? 0 : Math.ceil(take * 0.05)));
    count = safeCountTokens(text.slice(offset, offset + take));
  }
  if (take < text.length - offset) {
    const nl = text.lastIndexOf('\n', offset + take - 1);
    if (nl > offset + take * 0.7) take = nl + 1 - offset;
  }
  const chunk = text.slice(offset, offset + take);
  const rest = text.length - offset - take;
  return rest > 0
    ? `${chunk}\n[page ${id} continues: ${rest} more characters; call recall with {"page_id": "${id}", "offset": ${offset + take}}]`
    : chunk;
}
