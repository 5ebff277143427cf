/**
 * The syscall table. Agents touch the world only through these. Each entry decodes and checks its
 * arguments (zod), then calls a mechanism in KernelServices. The dispatcher around them (invoke) makes
 * every syscall validated, accounted, audited, hookable and a preemption point.
 */
import { z } from 'zod';
import type { MailMessage, ProcStatus, StepContext } from '../abi.js';
import { KernelError } from '../errors.js';
import type { ChatMessage, ChatResponse, ToolSpec } from '../llm/model.js';
import { EMBED_MAX_INPUTS } from '../param.js';
import type { ContextHandle } from './context-handle.js';
import type { Pcb } from './pcb.js';

const message = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })).optional(),
  toolCallId: z.string().optional(),
  name: z.string().optional(),
  reasoning: z.string().optional(),
  reasoningBlocks: z
    .array(
      z.union([
        z.object({ type: z.literal('thinking'), thinking: z.string(), signature: z.string() }),
        z.object({ type: z.literal('redacted_thinking'), data: z.string() }),
      ]),
    )
    .optional(),
  isError: z.boolean().optional(),
  cacheBreakpoint: z.boolean().optional(),
});
const toolSpec = z.object({
  name: z.string(),
  description: z.string(),
  parameters: z.record(z.string(), z.unknown()),
});

export type { MailMessage, ProcStatus, StepContext } from '../abi.js';

/** The kv namespaces a process may use: undotted names; dotted ones (`learning.profiles`) are the kernel's. */
const processNamespace = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only: dotted namespaces belong to the kernel');

export const SYSCALL_ARGS = {
  'llm.chat': z.object({
    messages: z.array(message).min(1),
    tools: z.array(toolSpec).optional(),
    toolChoice: z.union([z.enum(['auto', 'none', 'required']), z.object({ name: z.string() })]).optional(),
    temperature: z.number().min(0).max(2).optional(),
    maxOutputTokens: z.number().int().positive().optional(),
    // Sampling and output controls (ChatRequest in src/llm/model.ts: each provider maps or refuses them).
    stop: z.array(z.string().min(1)).max(4).optional(),
    topP: z.number().min(0).max(1).optional(),
    topK: z.number().int().positive().optional(),
    seed: z.number().int().optional(),
    frequencyPenalty: z.number().min(-2).max(2).optional(),
    presencePenalty: z.number().min(-2).max(2).optional(),
    reasoningEffort: z.enum(['minimal', 'low', 'medium', 'high']).optional(),
    parallelToolCalls: z.boolean().optional(),
    endUser: z.string().min(1).optional(),
    /** Structured output: JSON mode, or JSON valid against a schema (ChatRequest.responseFormat). */
    responseFormat: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('json_object') }),
        z.object({
          type: z.literal('json_schema'),
          name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a name of 1-64 letters, digits, _ or -'),
          schema: z.record(z.string(), z.unknown()),
          strict: z.boolean().optional(),
          description: z.string().optional(),
        }),
      ])
      .optional(),
    /**
     * Stream from the provider; deltas go out as `llm.delta` hook events while the call runs. Absent: on
     * for a process's own calls unless config turns it off for the model (llms.stream), off for internal ones.
     */
    stream: z.boolean().optional(),
    /**
     * What a stream cut after its first delta does: `restart` (default) makes the whole call again
     * (`llm.restart` tells watchers to drop what they saw); `fail` raises at once (the gateway: its client
     * already holds the deltas).
     */
    onCut: z.enum(['restart', 'fail']).optional(),
  }),
  /** Embeddings of `input` by a configured (or catalogued) embedding model: accounted as input tokens. */
  'llm.embed': z.object({
    model: z.string().min(1),
    input: z.array(z.string()).min(1).max(EMBED_MAX_INPUTS),
    dimensions: z.number().int().positive().optional(),
  }),
  'io.tool_call': z.object({ id: z.string(), name: z.string().min(1), arguments: z.string() }),
  'io.tools': z.object({ filter: z.array(z.string()).optional() }),
  'mem.store': z.object({
    content: z.string().min(1),
    metadata: z.record(z.string(), z.unknown()).optional(),
  }),
  'mem.search': z.object({ query: z.string().min(1), k: z.number().int().positive().max(100).optional() }),
  'mem.recall': z.object({
    pageId: z.string().optional(),
    query: z.string().optional(),
    offset: z.number().int().min(0).optional(),
  }),
  'proc.spawn': z.object({
    name: z.string().min(1).max(128),
    task: z.string().min(1),
    priority: z.number().int().min(0).max(99).optional(),
    model: z.string().optional(),
    program: z.string().optional(),
  }),
  'proc.wait': z.object({
    pid: z.number().int().positive(),
    timeoutMs: z.number().int().positive().optional(),
  }),
  'proc.status': z.object({ pid: z.number().int().positive().optional() }),
  'ipc.send': z.object({
    to: z.number().int().positive(),
    topic: z.string().max(128).optional(),
    body: z.unknown(),
  }),
  'ipc.recv': z.object({
    topic: z.string().optional(),
    timeoutMs: z.number().int().min(0).optional(),
    limit: z.number().int().positive().max(100).optional(),
  }),
  'ipc.kv_get': z.object({ key: z.string().min(1).max(256), ns: processNamespace.optional() }),
  'ipc.kv_cas': z.object({
    key: z.string().min(1).max(256),
    ns: processNamespace.optional(),
    expectedVersion: z.number().int().nonnegative().nullable(),
    value: z.unknown(),
  }),
} as const;

export type SyscallName = keyof typeof SYSCALL_ARGS;
export type SyscallArgs = { [K in SyscallName]: z.input<(typeof SYSCALL_ARGS)[K]> };

export interface ToolOutcome {
  ok: boolean;
  output: string;
  error?: { code: string; message: string };
  truncated?: boolean;
  durationMs?: number;
}

export interface SyscallResults {
  'llm.chat': ChatResponse;
  'llm.embed': { model: string; vectors: number[][]; tokens: number; costUsd: number };
  'io.tool_call': ToolOutcome;
  'io.tools': Array<{ name: string; description: string; parameters: Record<string, unknown> }>;
  'mem.store': { id: string };
  'mem.search': Array<{ id: string; content: string; score: number }>;
  'mem.recall': { content: string };
  'proc.spawn': { pid: number };
  'proc.wait': ProcStatus;
  'proc.status': ProcStatus;
  'ipc.send': { queued: true };
  'ipc.recv': MailMessage[];
  'ipc.kv_get': { value: unknown; version: number } | null;
  'ipc.kv_cas': { version: number };
}

/** The mechanisms syscalls call into; implemented by the Kernel. */
export type KernelServices = {
  [K in SyscallName]: (
    pcb: Pcb,
    step: StepContext,
    args: z.output<(typeof SYSCALL_ARGS)[K]>,
    caller: { purpose?: string; auditTags?: Record<string, unknown>; signal?: AbortSignal },
  ) => Promise<SyscallResults[K]>;
};

/** What a step function sees. */
export interface Sys {
  readonly pid: number;
  /** The process's own context (its address space): pages, rendering, paging. */
  readonly context: ContextHandle;
  readonly stepNo: number;
  readonly signal: AbortSignal;
  /**
   * A user's message may be waiting for this process (POST /processes/:pid/messages, `aos send`): take it
   * with `ipc.recv({ topic: USER_TOPIC })`. A hint, so a program pays no mailbox query on other steps.
   */
  readonly userMessages: boolean;
  /**
   * `opts.signal` cancels this one call (a model call's request to the provider is aborted; the call fails
   * with EABORTED), not the step: what a program does when whoever the call was for has gone away.
   */
  call<K extends SyscallName>(name: K, args: SyscallArgs[K], opts?: CallOptions): Promise<SyscallResults[K]>;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export function parseSyscallArgs<K extends SyscallName>(
  name: K,
  args: unknown,
): z.output<(typeof SYSCALL_ARGS)[K]> {
  const schema = SYSCALL_ARGS[name];
  if (!schema) throw new KernelError('EINVAL', `unknown syscall '${String(name)}'`);
  if (name === 'llm.chat') return parseChat(args) as z.output<(typeof SYSCALL_ARGS)[K]>;
  const res = schema.safeParse(args);
  if (!res.success) throw invalid(name, res.error.issues);
  return res.data as z.output<(typeof SYSCALL_ARGS)[K]>;
}

function invalid(name: string, issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): KernelError {
  const all = issues.map((i) => ({ path: [...prefix, ...i.path].map(String), message: i.message }));
  const first = all[0]!;
  const path = first.path.length ? first.path.join('.') : '(arguments)';
  return new KernelError('EINVAL', `${name}: invalid argument '${path}': ${first.message}`, {
    details: { syscall: name, issues: all },
  });
}

/** llm.chat's arguments but its messages and tools, which parseChat checks (once each, when it can). */
const chatOptions = SYSCALL_ARGS['llm.chat'].extend({
  messages: z.array(z.unknown()).min(1),
  tools: z.unknown().optional(),
});
const toolList = z.array(toolSpec);
/** Deep-frozen messages already checked → their parsed (frozen) form. */
const checked = new WeakMap<object, ChatMessage>();

/**
 * llm.chat's arguments, each message checked once: a step sends the whole conversation again, and all but
 * its newest messages are the context's own deep-frozen objects (src/context/render.ts), which cannot have
 * changed since they were checked — those come from `checked` (the same parsed object every call, which
 * the request hash compares in O(1)). Any other message (a program's own array, a hook's rewrite, anything
 * not frozen) is checked every time, as before.
 */
function parseChat(args: unknown): z.output<(typeof SYSCALL_ARGS)['llm.chat']> {
  const res = onlyConversation(args) ? { success: true as const, data: args } : chatOptions.safeParse(args);
  if (!res.success) throw invalid('llm.chat', res.error.issues);
  const raw = res.data.messages;
  const messages = new Array<ChatMessage>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i];
    const known = m !== null && typeof m === 'object' ? checked.get(m) : undefined;
    if (known) {
      messages[i] = known;
      continue;
    }
    const r = message.safeParse(m);
    if (!r.success) throw invalid('llm.chat', r.error.issues, ['messages', i]);
    messages[i] = r.data;
    if (deepFrozen(m)) checked.set(m as object, freezeMessage(r.data));
  }
  const { tools: rawTools, ...options } = res.data;
  if (rawTools === undefined) return { ...options, messages };
  return { ...options, messages, tools: checkTools(rawTools) };
}

/** `{ messages: [≥ 1], tools? }` and nothing else (a ReAct step's call): no option for zod to check. */
function onlyConversation(args: unknown): args is { messages: unknown[]; tools?: unknown } {
  if (args === null || typeof args !== 'object' || Object.getPrototypeOf(args) !== Object.prototype)
    return false;
  const a = args as Record<string, unknown>;
  if (!Array.isArray(a.messages) || a.messages.length === 0) return false;
  for (const k in a) if (k !== 'messages' && k !== 'tools') return false;
  return true;
}

/** Frozen tool lists already checked → their parsed form (the context's list, src/context/tool-list.ts). */
const checkedToolLists = new WeakMap<object, ToolSpec[]>();

/** The parsed tool list: checked once for a frozen list whose specs and schemas are frozen (then reused). */
function checkTools(raw: unknown): ToolSpec[] {
  const known = raw !== null && typeof raw === 'object' ? checkedToolLists.get(raw) : undefined;
  if (known) return known;
  const r = toolList.safeParse(raw);
  if (!r.success) throw invalid('llm.chat', r.error.issues, ['tools']);
  const list = raw as ToolSpec[];
  if (Object.isFrozen(list) && list.every((t) => Object.isFrozen(t) && Object.isFrozen(t.parameters))) {
    for (const t of r.data) Object.freeze(t);
    checkedToolLists.set(list, Object.freeze(r.data) as ToolSpec[]);
  }
  return r.data;
}

function freezeMessage(m: ChatMessage): ChatMessage {
  for (const list of [m.toolCalls, m.reasoningBlocks]) {
    if (!list) continue;
    for (const x of list) Object.freeze(x);
    Object.freeze(list);
  }
  return Object.freeze(m);
}

/** A message whose fields cannot change: it, its tool calls and reasoning blocks frozen. */
function deepFrozen(m: unknown): boolean {
  if (!Object.isFrozen(m)) return false;
  const { toolCalls, reasoningBlocks } = m as { toolCalls?: unknown; reasoningBlocks?: unknown };
  for (const list of [toolCalls, reasoningBlocks]) {
    if (list === undefined) continue;
    if (!Array.isArray(list) || !Object.isFrozen(list)) return false;
    for (const x of list) if (x !== null && typeof x === 'object' && !Object.isFrozen(x)) return false;
  }
  return true;
}

/** The mailbox topic of messages from a user (conversations); defined in the ABI leaf. */
export { USER_TOPIC } from '../abi.js';

/** Syscalls during which the process is blocked (state `waiting`) and holds no LLM slot. */
export const BLOCKING: ReadonlySet<SyscallName> = new Set(['proc.wait', 'ipc.recv']);
