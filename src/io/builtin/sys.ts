/**
 * Tools that are thin doors onto kernel syscalls (ctx.sys): memory (mem.store / mem.search / mem.recall),
 * processes and IPC (proc.spawn / ipc.send / ipc.recv / proc.wait), and final_answer, which the ReAct
 * program recognises by name to finish the process.
 * They are `kernelEffects` tools: their effects are syscalls, exactly-once on their own (mail and acks commit
 * with the step; memory, spawn and kv commit together with a record keyed by the step), so re-running one in a
 * re-run step repeats nothing.
 */
import { z } from 'zod';
import { defineTool } from '../tool.js';

export const memoryStoreTool = defineTool({
  name: 'memory_store',
  description: 'Save a fact or note to long-term memory so it can be found later with memory_search.',
  input: z.object({
    content: z.string().min(1),
    metadata: z.record(z.string(), z.unknown()).optional().describe('tags, source, etc.'),
  }),
  permissions: ['mem'],
  idempotent: true,
  kernelEffects: true,
  async run(args, ctx) {
    const r = (await ctx.sys.call('mem.store', {
      content: args.content,
      ...(args.metadata ? { metadata: args.metadata } : {}),
    })) as { id: string };
    return `stored memory ${r.id}`;
  },
});

export const memorySearchTool = defineTool({
  name: 'memory_search',
  description: 'Search long-term memory (hybrid keyword + vector). Returns the best matches with scores.',
  input: z.object({ query: z.string().min(1), k: z.number().int().positive().max(50).optional() }),
  permissions: ['mem'],
  idempotent: true,
  kernelEffects: true,
  async run(args, ctx) {
    const hits = (await ctx.sys.call('mem.search', {
      query: args.query,
      ...(args.k ? { k: args.k } : {}),
    })) as Array<{
      id: string;
      content: string;
      score: number;
    }>;
    if (hits.length === 0) return 'no memories match';
    return hits.map((h, i) => `${i + 1}. [${h.id}] (score ${h.score.toFixed(3)}) ${h.content}`).join('\n');
  },
});

export const recallTool = defineTool({
  name: 'recall',
  description:
    'Bring an evicted context page back (by page_id from its stub), or the best page matching a query.',
  input: z
    .object({
      page_id: z.string().min(1).optional(),
      query: z.string().min(1).optional(),
      offset: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe('character offset to read a large page from (see its "read on" marker)'),
    })
    .refine((a) => a.page_id !== undefined || a.query !== undefined, { message: 'give page_id or query' }),
  permissions: ['mem'],
  idempotent: true,
  kernelEffects: true,
  async run(args, ctx) {
    const r = (await ctx.sys.call('mem.recall', {
      ...(args.page_id ? { pageId: args.page_id } : {}),
      ...(args.query ? { query: args.query } : {}),
      ...(args.offset !== undefined ? { offset: args.offset } : {}),
    })) as { content: string };
    return r.content;
  },
});

export const spawnAgentTool = defineTool({
  name: 'spawn_agent',
  description: 'Start a child agent with its own task. Returns its pid; use wait to get its result.',
  input: z.object({
    name: z.string().min(1).max(128),
    task: z.string().min(1),
    priority: z.number().int().min(0).max(99).optional().describe('0 = most urgent, 99 = least'),
    model: z.string().optional(),
  }),
  permissions: ['ipc'],
  idempotent: true,
  kernelEffects: true,
  async run(args, ctx) {
    const r = (await ctx.sys.call('proc.spawn', args)) as { pid: number };
    return `spawned ${args.name} as pid ${r.pid}`;
  },
});

export const sendMessageTool = defineTool({
  name: 'send_message',
  description: 'Send a message to another process by pid (delivered when this step commits).',
  input: z.object({
    to: z.number().int().positive(),
    body: z.unknown(),
    topic: z.string().max(128).optional(),
  }),
  permissions: ['ipc'],
  idempotent: true,
  kernelEffects: true,
  async run(args, ctx) {
    await ctx.sys.call('ipc.send', {
      to: args.to,
      body: args.body ?? null,
      ...(args.topic ? { topic: args.topic } : {}),
    });
    return `message queued for pid ${args.to}`;
  },
});

export const receiveMessagesTool = defineTool({
  name: 'receive_messages',
  description:
    'Read messages sent to this process (optionally one topic), waiting up to timeout_s for the first.',
  input: z.object({
    topic: z.string().optional(),
    timeout_s: z.number().min(0).max(3600).optional(),
    limit: z.number().int().positive().max(100).optional(),
  }),
  permissions: ['ipc'],
  idempotent: true,
  kernelEffects: true,
  timeoutMs: 3_700_000,
  async run(args, ctx) {
    const msgs = (await ctx.sys.call('ipc.recv', {
      ...(args.topic ? { topic: args.topic } : {}),
      ...(args.timeout_s !== undefined ? { timeoutMs: Math.round(args.timeout_s * 1000) } : {}),
      ...(args.limit ? { limit: args.limit } : {}),
    })) as Array<{ id: unknown; from: number | null; topic: string | null; body: unknown }>;
    if (msgs.length === 0) return 'no messages';
    return msgs
      .map(
        (m) => `from pid ${m.from ?? 'kernel'}${m.topic ? ` [${m.topic}]` : ''}: ${JSON.stringify(m.body)}`,
      )
      .join('\n');
  },
});

export const waitTool = defineTool({
  name: 'wait',
  description: 'Wait for a child process to finish and return its state and result.',
  input: z.object({
    pid: z.number().int().positive(),
    timeout_s: z.number().positive().max(3600).optional(),
  }),
  permissions: ['ipc'],
  idempotent: true,
  kernelEffects: true,
  timeoutMs: 3_700_000,
  async run(args, ctx) {
    const st = (await ctx.sys.call('proc.wait', {
      pid: args.pid,
      ...(args.timeout_s ? { timeoutMs: Math.round(args.timeout_s * 1000) } : {}),
    })) as { pid: number; name: string; state: string; result: unknown; exitReason: string | null };
    return `pid ${st.pid} (${st.name}) is ${st.state}${st.exitReason ? ` (${st.exitReason})` : ''}; result: ${JSON.stringify(st.result ?? null)}`;
  },
});

export const finalAnswerTool = defineTool({
  name: 'final_answer',
  description: 'Finish the task and return the answer to whoever started this agent.',
  input: z.object({ answer: z.string().describe('the complete final answer') }),
  permissions: [],
  idempotent: true,
  kernelEffects: true,
  async run(args) {
    return args.answer;
  },
});

export const kvGetTool = defineTool({
  name: 'kv_get',
  description:
    'Read a key from the kernel-wide shared key-value store (shared by every agent). Returns its value and version, or that it is unset.',
  input: z.object({
    key: z.string().min(1).max(256),
    namespace: z.string().min(1).max(128).optional().describe('default: shared'),
  }),
  permissions: ['ipc'],
  idempotent: true,
  async run(args, ctx) {
    const r = (await ctx.sys.call('ipc.kv_get', {
      key: args.key,
      ...(args.namespace ? { ns: args.namespace } : {}),
    })) as { value: unknown; version: number } | null;
    return r
      ? JSON.stringify({ key: args.key, value: r.value, version: r.version })
      : `${args.key} is not set`;
  },
});

export const kvSetTool = defineTool({
  name: 'kv_set',
  description:
    'Write a key in the shared key-value store (compare-and-set). Give expected_version from kv_get to update only if nobody changed it since; omit it to write whatever is there.',
  input: z.object({
    key: z.string().min(1).max(256),
    value: z.unknown().describe('any JSON value'),
    expected_version: z.number().int().nonnegative().nullable().optional(),
    namespace: z.string().min(1).max(128).optional().describe('default: shared'),
  }),
  permissions: ['ipc'],
  idempotent: false,
  async run(args, ctx) {
    const ns = args.namespace ? { ns: args.namespace } : {};
    let expected = args.expected_version;
    if (expected === undefined) {
      const cur = (await ctx.sys.call('ipc.kv_get', { key: args.key, ...ns })) as { version: number } | null;
      expected = cur ? cur.version : null;
    }
    const r = (await ctx.sys.call('ipc.kv_cas', {
      key: args.key,
      ...ns,
      expectedVersion: expected,
      value: args.value ?? null,
    })) as { version: number };
    return `${args.key} = ${JSON.stringify(args.value ?? null)} (version ${r.version})`;
  },
});
