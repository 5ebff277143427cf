/**
 * Zod schemas of the REST contract: request inputs (validated) and response shapes (documented in the
 * OpenAPI document, checked by the API tests). Query values arrive as strings, hence the coercions.
 */

import { z } from 'zod';
import { mcpServerSchema } from '../config/schema.js';
import { API_PAGE_DEFAULT, API_PAGE_MAX } from '../param.js';
import { PROCESS_STATES } from '../storage/state/types.js';
import { ROLES } from './auth.js';

const intish = z.coerce.number().int();

export const pidParams = z.object({ pid: intish.positive().describe('process id') });
export const idParams = z.object({ id: z.string().min(1).max(200) });
export const numericIdParams = z.object({ id: intish.positive().describe('checkpoint id') });
export const nameParams = z.object({ name: z.string().min(1).max(200) });

export const limitField = intish.min(1).max(API_PAGE_MAX).default(API_PAGE_DEFAULT);

export const pageQuery = z.object({
  limit: limitField,
  offset: intish.min(0).default(0),
});

export const afterQuery = z.object({
  after: intish
    .min(0)
    .default(0)
    .describe('return items after this cursor (the `next` of the previous page)'),
  limit: limitField,
});

export const processListQuery = pageQuery.extend({
  state: z
    .string()
    .optional()
    .describe(`comma-separated states: ${PROCESS_STATES.join(', ')}`)
    .refine(
      (s) => !s || s.split(',').every((x) => (PROCESS_STATES as readonly string[]).includes(x.trim())),
      {
        message: `each state must be one of ${PROCESS_STATES.join(', ')}`,
      },
    ),
});

export const usageSchema = z.object({
  tokensIn: z.number(),
  tokensCached: z.number(),
  tokensOut: z.number(),
  apiCalls: z.number(),
  toolCalls: z.number(),
  cost: z.number(),
  llmMs: z.number(),
});

export const processInfoSchema = z.object({
  pid: z.number().int(),
  parentPid: z.number().int().nullable(),
  name: z.string(),
  task: z.string(),
  state: z.enum(PROCESS_STATES as [string, ...string[]]),
  waitOn: z.string(),
  priority: z.number().int(),
  model: z.string(),
  program: z.string(),
  stepNo: z.number().int(),
  usage: usageSchema,
  result: z.unknown(),
  exitReason: z.string().nullable(),
  /** The directory its tools work in: its own, or a shared one it names (docs/security.md#workspaces). */
  workspace: z.string(),
});

export const pidSchema = z.object({ pid: z.number().int() });
export const workspaceRemoved = z.object({ pid: z.number().int(), path: z.string(), removed: z.boolean() });
export const checkpointSchema = z.object({ checkpointId: z.number().int() });

export const budgetsSchema = z.strictObject({
  maxTokens: z.number().int().positive().optional(),
  maxCostUsd: z.number().positive().optional(),
  maxSteps: z.number().int().positive().optional(),
  maxWallMs: z.number().int().positive().optional(),
});

export const spawnBody = z.strictObject({
  /** Defaults to the profile's name with `agent`, else "agent". */
  name: z.string().min(1).max(128).optional(),
  task: z.string().min(1).max(100_000),
  /** A named profile from config `agents:` (GET /api/v1/agents); explicit fields win over it. */
  agent: z.string().min(1).max(64).optional(),
  /** A persona/system prompt ahead of the built-in agent's instructions. */
  system: z.string().min(1).max(100_000).optional(),
  priority: z.number().int().min(0).max(99).optional(),
  model: z.string().min(1).optional(),
  program: z.string().min(1).optional(),
  budgets: budgetsSchema.optional(),
  policy: z.record(z.string(), z.unknown()).optional(),
  /** Work in the shared workspace of this name (the same as policy.workspace); absent: its own. */
  workspace: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/)
    .optional(),
  args: z.unknown().optional(),
});

export const killBody = z.strictObject({ reason: z.string().max(1000).optional() });
export const reasonBody = z.strictObject({ reason: z.string().max(1000).optional() });
export const restoreBody = z.strictObject({
  name: z.string().min(1).max(128).optional(),
  priority: z.number().int().min(0).max(99).optional(),
  /** 'new' (default): a new pid, also while the original runs (a fork); 'same': rewind an exited process. */
  into: z.enum(['new', 'same']).optional(),
});

export const stepSchema = z.object({
  stepNo: z.number().int(),
  kind: z.string(),
  record: z.unknown(),
  usage: z.record(z.string(), z.number()),
  createdAt: z.string(),
});

export const pageViewSchema = z.object({
  id: z.string(),
  kind: z.string(),
  tokens: z.number().int(),
  resident: z.boolean(),
  pinned: z.boolean(),
  summary: z.string().optional(),
  cachedPrefix: z.boolean(),
});

export const contextViewSchema = z.object({
  loaded: z.boolean().describe('true when the page table is in memory; false when read from the checkpoint'),
  pages: z.array(pageViewSchema),
  budget: z.number().int(),
  used: z.number().int(),
  window: z.number().int(),
  cachedPrefixTokens: z.number().int(),
  metrics: z.record(z.string(), z.unknown()).nullable(),
});

export const mailSchema = z.object({
  id: z.number().int(),
  from: z.string(),
  to: z.string(),
  topic: z.string().nullable(),
  body: z.unknown(),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
});

export const auditEntrySchema = z.object({
  id: z.number().int(),
  stream: z.string(),
  seq: z.number().int(),
  ts: z.string(),
  kind: z.string(),
  actor: z.string(),
  payload: z.unknown(),
  prevHash: z.string(),
  hash: z.string(),
});

export const auditQuery = afterQuery.extend({ stream: z.string().min(1).max(200).optional() });
export const auditVerifyBody = z.strictObject({
  stream: z.string().min(1).max(200).optional(),
  anchors: z
    .boolean()
    .optional()
    .describe('also check the signed anchors under the data dir (what `aos audit verify` does); all streams'),
});
export const verifyResultSchema = z.object({
  ok: z.boolean(),
  checked: z.number().int(),
  anchors: z.number().int().optional().describe('signed anchors read (with `anchors: true`)'),
  anchoredHeads: z.number().int().optional(),
  firstBad: z
    .object({
      id: z.number().optional(),
      stream: z.string(),
      seq: z.number(),
      reason: z.string(),
      source: z.enum(['chain', 'anchor']).optional(),
    })
    .optional(),
});
export const anchorResultSchema = z.object({
  ts: z.string(),
  keyId: z.string(),
  heads: z.number().int().describe('stream heads signed'),
  file: z.string().describe('the anchor file the line was appended to'),
});
export const timelineSchema = z.object({
  seq: z.number().int(),
  ts: z.string(),
  kind: z.string(),
  actor: z.string(),
  summary: z.string(),
  payload: z.unknown(),
});

export const toolSchema = z.object({
  name: z.string(),
  description: z.string(),
  parameters: z.record(z.string(), z.unknown()),
  permissions: z.array(z.string()),
});

export const toolCallBody = z.strictObject({
  pid: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('run under this live process (its policy, audit stream, syscalls)'),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

export const toolResultSchema = z.object({
  ok: z.boolean(),
  output: z.string(),
  data: z.unknown().optional(),
  error: z
    .object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() })
    .optional(),
  truncated: z.boolean(),
  durationMs: z.number(),
  idempotencyKey: z.string(),
  replayed: z.boolean().optional(),
});

/** Same shape as an `mcp.servers[]` entry in config.yaml. */
export const mcpServerBody = mcpServerSchema;

export const mcpStatusSchema = z.object({
  name: z.string(),
  transport: z.string(),
  state: z.string(),
  tools: z.array(z.string()),
  sandboxed: z.boolean(),
  error: z.string().nullable(),
  reconnects: z.number().int(),
});

/** What the config file says after an MCP add or remove (see `POST /mcp/servers`). */
const savedTo = {
  saved_to: z.string().nullable(),
  save_error: z.string().optional(),
};
export const mcpAddedSchema = mcpStatusSchema.extend(savedTo);
export const mcpRemovedSchema = z.object({ items: z.array(mcpStatusSchema), ...savedTo });

export const memoryBody = z.strictObject({
  content: z.string().min(1).max(200_000),
  owner: z.string().min(1).max(200).default('api'),
  namespace: z.string().min(1).max(200).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

export const memorySearchQuery = z.object({
  q: z.string().min(1).max(10_000),
  owner: z.string().min(1).max(200).default('api'),
  namespace: z.string().min(1).max(200).optional(),
  k: intish.min(1).max(100).default(10),
  mode: z.enum(['hybrid', 'vector', 'text']).default('hybrid'),
});

export const memoryListQuery = z.object({
  owner: z.string().min(1).max(200).default('api'),
  namespace: z.string().min(1).max(200).optional(),
  limit: limitField,
});

export const memoryRecordSchema = z.object({
  id: z.string(),
  owner: z.string(),
  namespace: z.string(),
  content: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
});

export const memoryHitSchema = memoryRecordSchema.extend({
  score: z.number(),
  vectorRank: z.number().nullable(),
  textRank: z.number().nullable(),
});

export const memoryEmbeddingsSchema = z.object({
  /** `lexical`: the hashing embedder (words, not meanings); `provider`: config's `embeddings:` model. */
  embedder: z.object({ model: z.string(), kind: z.enum(['provider', 'lexical', 'custom']) }),
  /** Memories per model that made their vector (`null`: stored without one). */
  models: z.array(z.object({ model: z.string().nullable(), count: z.number().int() })),
  /** Memories whose vector another model made: invisible to the vector arm until re-embedded. */
  stale: z.number().int(),
});

export const memoryReembedBody = z.strictObject({ owner: z.string().min(1).max(200).optional() });

export const memoryReembedSchema = z.object({ reembedded: z.number().int(), model: z.string() });

/** Kernel-wide and tenant budgets (scheduler.budget, gateway.tenants): all nodes together. */
const budgetsViewSchema = z.array(
  z.object({
    name: z.string().describe('kernel:tokens, kernel:cost, tenant:<name>:tokens|cost|calls'),
    limit: z.number(),
    used: z.number().describe('spent plus what calls in flight on live nodes have reserved'),
    spent: z.number(),
  }),
);

export const budgetParams = z.object({
  pool: z.string().min(1).max(300).describe('kernel:tokens, kernel:cost, tenant:<name>:tokens|cost|calls'),
});
export const budgetLimitBody = z.strictObject({
  limit: z.number().positive().describe('the new limit (tokens, USD or calls), for every node'),
});
export const budgetLimitSchema = z.object({
  name: z.string(),
  limit: z.number(),
  used: z.number().describe('spent plus what calls in flight on live nodes have reserved'),
});

export const nodesSchema = z.object({
  /** The node serving this request. */
  self: z.string(),
  /** false on embedded storage (PGlite): one kernel, no cluster. */
  clustered: z.boolean(),
  items: z.array(
    z.object({
      id: z.string(),
      host: z.string(),
      pid: z.number().int().nullable(),
      startedAt: z.string(),
      heartbeatAt: z.string(),
      leaseMs: z.number().int(),
      state: z.enum(['up', 'left']),
      /** Live processes whose lease it holds. */
      processes: z.number().int(),
      /** Heartbeat within one lease period. */
      alive: z.boolean(),
    }),
  ),
  /** Cluster-wide limits (provider RPM/TPM, fixed slot counts): the limit and what all nodes use of it now. */
  limits: z.array(z.object({ name: z.string(), limit: z.number(), windowMs: z.number(), used: z.number() })),
  budgets: budgetsViewSchema,
});

export const approvalSchema = z.object({
  id: z.string(),
  pid: z.number().int(),
  tool: z.string(),
  args: z.unknown(),
  reason: z.string(),
  idempotencyKey: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
});

export const decisionSchema = z.object({
  id: z.string(),
  decision: z.enum(['approved', 'denied']),
  by: z.string(),
});

export const modelSchema = z.object({
  name: z.string(),
  provider: z.string(),
  baseUrl: z.string(),
  contextWindow: z.number().nullable(),
  maxOutput: z.number().nullable(),
  price: z.unknown(),
  pricesAsOf: z.string().nullable(),
  keyPresent: z.boolean(),
  keyEnv: z.string().nullable(),
  isDefault: z.boolean(),
  fallbacks: z.array(z.string()),
  simulated: z.boolean(),
});

export const summarySchema = z.object({
  nodeId: z.string(),
  uptimeMs: z.number(),
  processes: z.object({ total: z.number(), byState: z.record(z.string(), z.number()) }),
  tokens: z.object({ input: z.number(), cached: z.number(), output: z.number() }),
  costUsd: z.number(),
  cacheHitRatio: z.number().describe('cached / input tokens as the providers reported them'),
  context: z.object({ modelledHitRatio: z.number(), residentTokens: z.number(), faults: z.number() }),
  slots: z.object({ busy: z.number(), total: z.number(), byModel: z.record(z.string(), z.unknown()) }),
  runQueue: z.number(),
  pendingApprovals: z.number(),
  steps: z.number(),
  budgets: budgetsViewSchema,
});

export const tokenBody = z.strictObject({
  name: z.string().min(1).max(128),
  role: z.enum(ROLES),
  /** A gateway key: confined to this tenant's sessions (src/gateway). */
  tenant: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,64}$/)
    .optional(),
});

export const tokenInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  tenant: z.string().nullable().optional(),
});

export const principalSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  tenant: z.string().nullable().optional(),
});

export function listOf<T extends z.ZodType>(item: T, extra: { total?: boolean; next?: boolean } = {}) {
  return z.object({
    items: z.array(item),
    ...(extra.total ? { total: z.number().int() } : {}),
    ...(extra.next ? { next: z.number().int().nullable().optional() } : {}),
  });
}
