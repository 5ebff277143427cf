/**
 * Reading a paged-out page back: a window of at most N tokens from a character offset, cut at a line end
 * where one is near, with a footer naming the offset to read on. Used by ContextManager.recall and the
 * recall tool (./recall-tool.ts).
 */
import { KernelError } from '../errors.js';
import { safeCountTokens } from './page.js';

export function readWindow(id: string, text: string, offset: number, maxTokens: number): string {
  if (!Number.isInteger(offset) || offset < 0 || offset > text.length) {
    throw new KernelError(
      'EINVAL',
      `recall: offset ${String(offset)} is outside page ${id} (0…${text.length} characters)`,
    );
  }
  let take = Math.min(text.length - offset, maxTokens * 6);
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
