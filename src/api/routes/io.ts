/**
 * Devices and records over HTTP: tools (list, call under policy), MCP servers, memory, audit and the
 * approvals inbox. Tool calls from the API go through the kernel's own executor (hooks, policy, approval,
 * sandbox, output cap, audit), attributed to the caller's token.
 */
import { forgetMcpServer, mcpEntry, saveMcpServer } from '../../config/edit.js';
import { KernelError } from '../../errors.js';
import { fullToolName } from '../../io/tool.js';
import { embedderInfo } from '../../kernel/embeddings.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Pcb } from '../../kernel/pcb.js';
import { isLive } from '../../kernel/pcb.js';
import { API_TOOL_CALL_TIMEOUT_MS } from '../../param.js';
import type { Principal } from '../auth.js';
import { defaultPolicy, widenings } from '../role-policy.js';
import { type AnyRoute, route } from '../route.js';
import * as S from '../schemas.js';

/** What the API needs of an MCP manager (src/io/mcp/manager.ts) once the kernel exposes one as `tools.mcp`. */
interface McpPort {
  status(): Array<Record<string, unknown> & { name: string }>;
  start(specs: unknown[]): Promise<Array<Record<string, unknown> & { name: string }>>;
  remove?(name: string): Promise<unknown>;
  reconnect?(name: string): Promise<(Record<string, unknown> & { name: string }) | null>;
}

/** Applies an edit to the kernel's config file, if it has one; the outcome in the answer's terms. */
function persist(
  k: Kernel,
  edit: (file: string) => unknown,
): { saved_to: string | null; save_error?: string } {
  if (!k.configFile) return { saved_to: null };
  try {
    edit(k.configFile);
    return { saved_to: k.configFile };
  } catch (err) {
    return { saved_to: null, save_error: `${k.configFile}: ${(err as Error).message}` };
  }
}

function mcpOf(k: Kernel): McpPort {
  const m = (k.devices as unknown as { mcp?: McpPort }).mcp;
  if (!m) {
    throw new KernelError(
      'EUNSUPPORTED',
      'this kernel has no MCP manager wired in; configure servers under mcp.servers in config.yaml and restart',
      {
        details: { configKey: 'mcp.servers' },
      },
    );
  }
  return m;
}

async function callTool(
  k: Kernel,
  name: string,
  body: { pid?: number | undefined; arguments: Record<string, unknown> },
  who: Principal,
) {
  const tool = k.devices.registry.get(name);
  let pcb: Pcb;
  let sys: { call(n: string, a: unknown): Promise<unknown> };
  if (body.pid !== undefined) {
    const pid = body.pid;
    const pc = k.procs.get(pid);
    if (!pc || !isLive(pc.pcb.state)) {
      const row = await k.storage.state.getProcess(pid);
      if (!row) throw new KernelError('ENOPROC', `no process ${pid}`, { details: { pid } });
      throw new KernelError(
        'ESTATE',
        `process ${pid} is not live on this node; call the tool without "pid" or pick a live process`,
        { details: { pid } },
      );
    }
    pcb = pc.pcb;
    // The caller's role bounds the call as well as the process's policy: below admin, only a process
    // whose policy is the configured default or tighter lends its policy to an API call.
    if (who.role !== 'admin') {
      const wider = widenings(defaultPolicy(k), k.devices.policyFor(pcb));
      if (wider.length) {
        throw new KernelError(
          'EPERM',
          `process ${pid} runs with a wider policy than the configured default (${wider.join('; ')}); only an admin may call tools under it`,
          { details: { pid, widenings: wider, rule: 'role' } },
        );
      }
    }
    sys = { call: (n, a) => k.syscall(pid, n as never, a) };
  } else {
    // No process: the configured default policy, and no syscalls (memory/IPC tools need a process).
    pcb = { pid: 0, policy: {} } as Pcb;
    sys = {
      call: async (n) => {
        throw new KernelError(
          'EINVAL',
          `tool ${fullToolName(tool)} uses syscall ${n}, which needs a process: pass "pid" of a live process`,
        );
      },
    };
  }
  return k.devices.callFromOutside(
    { name, arguments: body.arguments },
    {
      pcb,
      actor: `api:${who.name}`,
      sys,
      signal: AbortSignal.timeout(API_TOOL_CALL_TIMEOUT_MS),
    },
  );
}

export function ioRoutes(k: Kernel): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/tools',
      access: 'viewer',
      tag: 'tools',
      summary: 'Registered tools with their JSON Schema and the permissions they need',
      response: S.listOf(S.toolSchema),
      async handler() {
        const reg = k.devices.registry;
        return {
          items: reg.list().map((t) => ({
            name: fullToolName(t),
            description: t.description,
            parameters: reg.jsonSchema(t),
            permissions: t.permissions,
          })),
        };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/tools/:name/call',
      access: 'operator',
      tag: 'tools',
      summary: "Call a tool under the default policy (or a live process's policy with `pid`); audited",
      description:
        'A tool refused by policy or failing still answers 200 with `ok: false` and the error; an unknown tool is 404.',
      params: S.nameParams,
      body: S.toolCallBody,
      response: S.toolResultSchema,
      async handler({ params, body, principal }) {
        return callTool(k, params.name, body, principal);
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/mcp/servers',
      access: 'viewer',
      tag: 'tools',
      summary: 'MCP servers and their state (501 when the kernel has no MCP manager)',
      response: S.listOf(S.mcpStatusSchema),
      async handler() {
        return { items: mcpOf(k).status() };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/mcp/servers',
      access: 'admin',
      tag: 'tools',
      summary: 'Connect an MCP server and register its tools',
      description:
        'When the kernel was started from a config file, the server is also saved to its `mcp.servers` (comments and layout kept), so it is there after a restart: `saved_to` names the file (null for a kernel configured inline; `save_error` says why saving failed — the server still runs).',
      body: S.mcpServerBody,
      status: 201,
      response: S.mcpAddedSchema,
      async handler({ body }) {
        const m = mcpOf(k);
        if (m.status().some((s) => s.name === body.name)) {
          throw new KernelError(
            'EEXIST',
            `MCP server "${body.name}" already exists; DELETE it first to replace it`,
          );
        }
        if (!body.command && !body.url)
          throw new KernelError('EINVAL', 'an MCP server needs "command" (stdio) or "url" (http)');
        const all = await m.start([body]);
        const st = all.find((s) => s.name === body.name);
        if (!st) throw new KernelError('EBACKEND', `MCP server "${body.name}" was not registered`);
        return { ...st, ...persist(k, (file) => saveMcpServer(file, mcpEntry(body), { replace: true })) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/mcp/servers/:name',
      access: 'admin',
      tag: 'tools',
      summary: 'Disconnect an MCP server and unregister its tools',
      description:
        "It is also taken out of the config file's `mcp.servers` when the kernel was started from one (`saved_to`), so it does not come back at the next start.",
      params: S.nameParams,
      response: S.mcpRemovedSchema,
      async handler({ params }) {
        const m = mcpOf(k);
        if (!m.status().some((s) => s.name === params.name))
          throw new KernelError('ENOTFOUND', `no MCP server "${params.name}"`);
        if (!m.remove)
          throw new KernelError(
            'EUNSUPPORTED',
            "this kernel's MCP manager cannot remove servers at run time; edit mcp.servers and restart",
          );
        await m.remove(params.name);
        return { items: m.status(), ...persist(k, (file) => forgetMcpServer(file, params.name)) };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/mcp/servers/:name/reconnect',
      access: 'admin',
      tag: 'tools',
      summary:
        'Drop an MCP server connection and connect again (a fresh process for stdio); its tools are re-registered',
      description:
        'Answers the status after the attempt: `state` is `connected`, or `disconnected` with `error`.',
      params: S.nameParams,
      response: S.mcpStatusSchema,
      async handler({ params }) {
        const m = mcpOf(k);
        if (!m.status().some((s) => s.name === params.name))
          throw new KernelError('ENOTFOUND', `no MCP server "${params.name}"`);
        if (!m.reconnect)
          throw new KernelError(
            'EUNSUPPORTED',
            "this kernel's MCP manager cannot reconnect servers at run time",
          );
        const st = await m.reconnect(params.name);
        if (!st) throw new KernelError('ENOTFOUND', `no MCP server "${params.name}"`);
        return st;
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/memory',
      access: 'viewer',
      tag: 'memory',
      summary: "An owner's memories, newest first (agents store as owner agent:<name>)",
      query: S.memoryListQuery,
      response: S.listOf(S.memoryRecordSchema),
      async handler({ query }) {
        const items = await k.memory.list({
          owner: query.owner,
          limit: query.limit,
          ...(query.namespace ? { namespace: query.namespace } : {}),
        });
        return { items };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/memory/:id',
      access: 'viewer',
      tag: 'memory',
      summary: 'One memory: content, owner, namespace, metadata (provenance of lessons), created',
      params: S.idParams,
      response: S.memoryRecordSchema,
      async handler({ params }) {
        const m = await k.memory.get(params.id);
        if (!m) throw new KernelError('ENOTFOUND', `no memory "${params.id}"`);
        return m;
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/memory/:id',
      access: 'operator',
      tag: 'memory',
      summary: 'Delete one memory (it is no longer found or recalled)',
      params: S.idParams,
      response: S.memoryRecordSchema,
      async handler({ params, principal }) {
        return k.memory.delete(params.id, { actor: `api:${principal.name}` });
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/memory',
      access: 'operator',
      tag: 'memory',
      summary: 'Store a long-term memory (embedded and full-text indexed)',
      body: S.memoryBody,
      status: 201,
      response: S.memoryRecordSchema,
      async handler({ body, principal }) {
        return k.memory.store(
          {
            owner: body.owner,
            content: body.content,
            ...(body.namespace ? { namespace: body.namespace } : {}),
            ...(body.metadata ? { metadata: body.metadata } : {}),
          },
          { actor: `api:${principal.name}` },
        );
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/memory/search',
      access: 'viewer',
      tag: 'memory',
      summary:
        "Hybrid (vector + full-text, rank-fused) search of an owner's memories; agents store as owner agent:<name>",
      query: S.memorySearchQuery,
      response: S.listOf(S.memoryHitSchema),
      async handler({ query }) {
        const items = await k.memory.search({
          owner: query.owner,
          query: query.q,
          k: query.k,
          mode: query.mode,
          ...(query.namespace ? { namespace: query.namespace } : {}),
        });
        return { items };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/memory/embeddings',
      access: 'viewer',
      tag: 'memory',
      summary:
        "The memory embedder (config `embeddings:`, else the lexical one) and how many memories each model's vectors hold",
      response: S.memoryEmbeddingsSchema,
      async handler() {
        const m = k.memory;
        const e = embedderInfo(m.embedder);
        const models = await m.modelCounts();
        const stale = models.filter((c) => c.model !== e.model).reduce((n, c) => n + c.count, 0);
        return { embedder: { model: e.model, kind: e.kind }, models, stale };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/memory/reembed',
      access: 'admin',
      tag: 'memory',
      summary:
        "Re-embed every memory another model's vectors hold with the configured embedder (`aos memory reembed`)",
      body: S.memoryReembedBody,
      response: S.memoryReembedSchema,
      async handler({ body, principal }) {
        return k.memory.reembed(body.owner ? { owner: body.owner } : {}, { actor: `api:${principal.name}` });
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/audit',
      access: 'viewer',
      tag: 'audit',
      summary: 'Audit log entries, oldest first (all streams, or one); page with `after`',
      query: S.auditQuery,
      response: S.listOf(S.auditEntrySchema, { next: true }),
      async handler({ query }) {
        const items = await k.audit.list({
          after: query.after,
          limit: query.limit,
          ...(query.stream ? { stream: query.stream } : {}),
        });
        return { items, next: items.length === query.limit ? (items.at(-1)?.id ?? null) : null };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/audit/verify',
      access: 'viewer',
      tag: 'audit',
      summary: 'Recompute the hash chains (all streams, or one) and report the first bad entry',
      description: 'Read-only, so a viewer may run it.',
      body: S.auditVerifyBody,
      response: S.verifyResultSchema,
      async handler({ body }) {
        return k.audit.verify({
          ...(body.stream ? { stream: body.stream } : {}),
          ...(body.anchors ? { anchors: true } : {}),
        });
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/audit/anchor',
      access: 'operator',
      tag: 'audit',
      summary: 'Sign the current chain heads now and append them to the anchor file outside the database',
      response: S.anchorResultSchema,
      async handler() {
        return k.audit.anchor();
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/processes/:pid/timeline',
      access: 'viewer',
      tag: 'audit',
      summary: "A process's actions in order, from its audit stream (what `aos audit replay` prints)",
      params: S.pidParams,
      response: S.listOf(S.timelineSchema),
      async handler({ params }) {
        if (!k.procs.get(params.pid) && !(await k.storage.state.getProcess(params.pid)))
          throw new KernelError('ENOPROC', `no process ${params.pid}; GET /api/v1/processes lists them`, {
            details: { pid: params.pid },
          });
        return { items: await k.audit.timeline(params.pid) };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/approvals',
      access: 'viewer',
      tag: 'approvals',
      summary: 'Tool calls waiting for a human decision',
      response: S.listOf(S.approvalSchema),
      async handler() {
        return { items: await k.approvals.all() };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/approvals/:id/approve',
      access: 'operator',
      tag: 'approvals',
      summary: 'Approve a pending tool call',
      params: S.idParams,
      body: S.reasonBody,
      response: S.decisionSchema,
      async handler({ params, body, principal }) {
        await k.approvals.approve(params.id, `api:${principal.name}`, body.reason);
        return { id: params.id, decision: 'approved', by: `api:${principal.name}` };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/approvals/:id/deny',
      access: 'operator',
      tag: 'approvals',
      summary: 'Deny a pending tool call (the agent sees EDENIED with the reason)',
      params: S.idParams,
      body: S.reasonBody,
      response: S.decisionSchema,
      async handler({ params, body, principal }) {
        await k.approvals.deny(params.id, `api:${principal.name}`, body.reason);
        return { id: params.id, decision: 'denied', by: `api:${principal.name}` };
      },
    }),
  ];
}
