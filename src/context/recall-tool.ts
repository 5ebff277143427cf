/**
 * The `recall` tool: how an agent pages a stubbed-out page back in. The kernel registers RECALL_TOOL with
 * the agent's tools and answers a call with `runRecallTool`; the returned text becomes the tool result,
 * which is appended at the tail of the history like any result (the page fault lands at the tail).
 */
import type { z } from 'zod';
import { KernelError } from '../errors.js';
import type { ToolSpec } from '../llm/model.js';
import type { ContextManager } from './manager.js';

type RecallArgs = z.ZodObject<{
  page_id: z.ZodOptional<z.ZodString>;
  query: z.ZodOptional<z.ZodString>;
  offset: z.ZodOptional<z.ZodNumber>;
}>;
let args: RecallArgs | null = null;

// Built on the first recall: zod is ~100 ms to import, and this module is on the package's root entry
async function recallArgs(): Promise<RecallArgs> {
  const { z } = await import('zod');
  args ??= z.strictObject({
    page_id: z.string().min(1).optional(),
    query: z.string().min(1).optional(),
    offset: z.number().int().min(0).optional(),
  });
  return args;
}

export const RECALL_TOOL: ToolSpec = {
  name: 'recall',
  description:
    'Read a page of your earlier context that was paged out to storage (its id appears in a "[context: … paged out" note or a truncated output). Give page_id, or a query to find the best matching page; offset reads on inside a long page.',
  parameters: {
    type: 'object',
    properties: {
      page_id: { type: 'string', description: 'id of the page, e.g. "7.12"' },
      query: { type: 'string', description: 'words to look for when you do not know the id' },
      offset: { type: 'integer', minimum: 0, description: 'character offset to continue reading from' },
    },
    additionalProperties: false,
  },
};

/** Validates the model's raw JSON arguments and performs the recall. */
export async function runRecallTool(
  cm: ContextManager,
  pid: number | string,
  rawArguments: string,
): Promise<string> {
  let parsed: unknown;
  try {
    parsed = rawArguments.trim() === '' ? {} : JSON.parse(rawArguments);
  } catch {
    throw new KernelError(
      'EINVAL',
      'recall: arguments are not valid JSON; send {"page_id": "<id>"} or {"query": "<words>"}',
    );
  }
  const r = (await recallArgs()).safeParse(parsed);
  if (!r.success) {
    throw new KernelError(
      'EINVAL',
      `recall: ${r.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ')}`,
    );
  }
  if (!r.data.page_id && !r.data.query) throw new KernelError('EINVAL', 'recall: give page_id or query');
  return cm.recall(pid, {
    ...(r.data.page_id ? { pageId: r.data.page_id } : {}),
    ...(r.data.query ? { query: r.data.query } : {}),
    ...(r.data.offset !== undefined ? { offset: r.data.offset } : {}),
  });
}
