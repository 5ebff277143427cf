/**
 * A process as a trace, a fork from one of its steps, and the process tree — the views an operator coming
 * from LangGraph Studio or Letta's ADE expects. The trace joins the step log (what the program recorded)
 * with the process's audit stream (what the gate and the executor saw: model, latency, the entry ids an
 * OpenTelemetry span or an auditor refers to) and its snapshots (where a fork can start).
 */
import { z } from 'zod';
import { infoFromRow } from '../../kernel/info.js';
import type { Kernel } from '../../kernel/kernel.js';
import { PREVIEW_MAX_CHARS, TRACE_AUDIT_LIMIT } from '../../param.js';
import { type AnyRoute, route } from '../route.js';
import * as S from '../schemas.js';
import { requireRow } from './processes.js';

const traceCallSchema = z.object({
  id: z.string(),
  name: z.string(),
  arguments: z.unknown(),
  ok: z.boolean().nullable(),
  output: z.string().nullable(),
  durationMs: z.number().nullable(),
  auditId: z.number().int().nullable(),
});

const traceStepSchema = z.object({
  stepNo: z.number().int(),
  kind: z.string(),
  createdAt: z.string(),
  model: z.string().nullable(),
  reasoning: z.string().nullable(),
  text: z.string().nullable(),
  promptTokens: z.number().nullable(),
  promptDelta: z.object({
    tokens: z.number().nullable(),
    added: z.array(z.object({ role: z.string(), name: z.string().optional(), text: z.string() })),
  }),
  toolCalls: z.array(traceCallSchema),
  usage: z.object({
    tokensIn: z.number(),
    tokensCached: z.number(),
    tokensOut: z.number(),
    cost: z.number(),
    apiCalls: z.number(),
  }),
  cacheHit: z.number().nullable(),
  latencyMs: z.number().nullable(),
  audit: z.array(z.object({ id: z.number().int(), seq: z.number().int(), kind: z.string() })),
  fork: z.object({ checkpointId: z.number().int(), reason: z.string() }).nullable(),
});

const traceSchema = z.object({
  pid: z.number().int(),
  task: z.string(),
  snapshotEverySteps: z.number().int(),
  steps: z.array(traceStepSchema),
});

const forkBody = z.strictObject({
  stepNo: z.number().int().min(0).describe('the step whose committed state the fork starts from'),
  message: z
    .string()
    .min(1)
    .max(100_000)
    .optional()
    .describe('a user turn the fork takes first, in place of what the source was told after that step'),
  name: z.string().min(1).max(128).optional(),
});

const forkSchema = z.object({
  pid: z.number().int(),
  checkpointId: z.number().int(),
  stepNo: z.number().int(),
});

const treeSchema = z.object({
  nodes: z.array(
    z.object({
      pid: z.number().int(),
      parentPid: z.number().int().nullable(),
      name: z.string(),
      state: z.string(),
      waitOn: z.string(),
      program: z.string(),
      stepNo: z.number().int(),
      exitReason: z.string().nullable(),
    }),
  ),
  mail: z.array(
    z.object({ from: z.string(), to: z.string(), count: z.number().int(), pending: z.number().int() }),
  ),
});

type Rec = {
  kind?: string;
  thought?: string;
  reasoning?: string;
  text?: string;
  user?: string[];
  promptTokens?: number;
  toolCalls?: Array<{ id: string; name: string; arguments: string; ok?: boolean; output?: string }>;
};

function parseArgs(a: string): unknown {
  try {
    return JSON.parse(a);
  } catch {
    return a;
  }
}

const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const preview = (t: string) => (t.length > PREVIEW_MAX_CHARS ? `${t.slice(0, PREVIEW_MAX_CHARS)}…` : t);

async function traceOf(k: Kernel, pid: number) {
  const row = await requireRow(k, pid);
  const [steps, entries, points] = await Promise.all([
    k.steps(pid, { limit: 100_000 }),
    k.audit.list({ stream: `proc:${pid}`, limit: TRACE_AUDIT_LIMIT }),
    k.forkPoints(pid),
  ]);
  // the gate's and the executor's entries name their step
  const byStep = new Map<number, typeof entries>();
  for (const e of entries) {
    const p = e.payload as { stepNo?: unknown } | null;
    if (typeof p?.stepNo !== 'number') continue;
    const list = byStep.get(p.stepNo) ?? [];
    list.push(e);
    byStep.set(p.stepNo, list);
  }
  let prevTokens: number | null = null;
  let prevCalls: Rec['toolCalls'] = [];
  const out = steps.map((s) => {
    const r = (s.record ?? {}) as Rec;
    const audit = byStep.get(s.stepNo) ?? [];
    const llm = audit.filter((e) => e.kind === 'llm.chat');
    const model =
      llm
        .map((e) => (e.payload as { result?: { model?: string } }).result?.model)
        .find((m): m is string => typeof m === 'string') ?? null;
    const tools = audit.filter((e) => e.kind === 'io.tool_call' || e.kind === 'io.tool_error');
    const added: Array<{ role: string; name?: string; text: string }> = [];
    if (s.stepNo === 1) added.push({ role: 'user', text: preview(row.task) });
    for (const c of prevCalls ?? [])
      if (c.output !== undefined) added.push({ role: 'tool', name: c.name, text: preview(c.output) });
    for (const u of r.user ?? []) added.push({ role: 'user', text: preview(u) });
    const usage = s.usage as Record<string, number>;
    let executed = 0;
    const tokensIn = n(usage.tokensIn);
    const step = {
      stepNo: s.stepNo,
      kind: r.kind ?? s.kind,
      createdAt: s.createdAt.toISOString(),
      model,
      reasoning: r.reasoning ?? r.thought ?? null,
      text: r.text ?? null,
      promptTokens: typeof r.promptTokens === 'number' ? r.promptTokens : null,
      promptDelta: {
        tokens:
          typeof r.promptTokens === 'number' && prevTokens !== null ? r.promptTokens - prevTokens : null,
        added,
      },
      toolCalls: (r.toolCalls ?? []).map((c) => {
        // final_answer is the program's, not a device: it has no executor entry
        const e = c.name === 'final_answer' ? undefined : tools[executed++];
        const p = (e?.payload ?? {}) as { durationMs?: number };
        return {
          id: c.id,
          name: c.name,
          arguments: parseArgs(c.arguments),
          ok: c.ok ?? null,
          output: c.output ?? null,
          durationMs: typeof p.durationMs === 'number' ? p.durationMs : null,
          auditId: e?.id ?? null,
        };
      }),
      usage: {
        tokensIn,
        tokensCached: n(usage.tokensCached),
        tokensOut: n(usage.tokensOut),
        cost: n(usage.cost),
        apiCalls: n(usage.apiCalls),
      },
      cacheHit: tokensIn ? n(usage.tokensCached) / tokensIn : null,
      latencyMs: llm.length
        ? llm.reduce((a, e) => a + n((e.payload as { ms?: number }).ms), 0)
        : usage.llmMs !== undefined
          ? n(usage.llmMs)
          : null,
      audit: audit.map((e) => ({ id: e.id, seq: e.seq, kind: e.kind })),
      fork: points.get(s.stepNo) ?? null,
    };
    if (typeof r.promptTokens === 'number') prevTokens = r.promptTokens;
    prevCalls = r.toolCalls ?? [];
    return step;
  });
  return { pid, task: row.task, snapshotEverySteps: k.storage.state.snapshotEverySteps, steps: out };
}

export function traceRoutes(k: Kernel): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/processes/:pid/trace',
      tenantScoped: true,
      access: 'viewer',
      tag: 'processes',
      summary:
        'The full trace: per step the prompt delta, reasoning, tool calls with arguments, results and audit ids, tokens, cost, cache hit, latency, and whether a fork can start there',
      params: S.pidParams,
      response: traceSchema,
      handler: ({ params }) => traceOf(k, params.pid),
    }),
    route({
      method: 'POST',
      path: '/api/v1/processes/:pid/fork',
      access: 'operator',
      tag: 'processes',
      summary:
        "Fork from a step: a new process from that step's snapshot, optionally with a user message replacing the next turn",
      description:
        'A step can be forked when it has a snapshot (every storage.snapshot_every_steps steps, each checkpoint, each exit); otherwise 404 lists the forkable steps.',
      params: S.pidParams,
      body: forkBody,
      status: 201,
      response: forkSchema,
      async handler({ params, body, principal }) {
        await requireRow(k, params.pid);
        return k.fork(params.pid, {
          stepNo: body.stepNo,
          ...(body.message !== undefined ? { message: body.message } : {}),
          ...(body.name ? { name: body.name } : {}),
          from: principal.name,
        });
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/processes/tree',
      access: 'viewer',
      tag: 'processes',
      summary: 'Every process with its parent, state and what it waits on, and who sent mail to whom',
      response: treeSchema,
      async handler() {
        const [rows, mail] = await Promise.all([
          k.storage.state.listProcesses({ limit: 10_000 }),
          k.mail.edges({ limit: 10_000 }),
        ]);
        const nodes = await Promise.all(
          rows.map(async (r) => {
            const i = k.procs.get(r.pid) ? await k.get(r.pid) : infoFromRow(r, k.tools.workspaceOf);
            return {
              pid: i.pid,
              parentPid: i.parentPid,
              name: i.name,
              state: i.state,
              waitOn: i.waitOn,
              program: i.program,
              stepNo: i.stepNo,
              exitReason: i.exitReason,
            };
          }),
        );
        return { nodes, mail };
      },
    }),
  ];
}
