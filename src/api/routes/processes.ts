/**
 * /api/v1/processes and /api/v1/checkpoints: the process table over HTTP. Handlers decode and check
 * arguments, then call the kernel's public API (src/kernel/kernel.ts); nothing here changes a process
 * except through it.
 */

import { KernelError } from '../../errors.js';
import { infoFromRow } from '../../kernel/info.js';
import type { Kernel, ProcessInfo } from '../../kernel/kernel.js';
import { isLive } from '../../kernel/pcb.js';
import type { ProcessRow, ProcessState } from '../../storage/state/types.js';
import { describeContextState, EMPTY_CONTEXT } from '../context-view.js';
import { defaultPolicy, narrowPolicy } from '../role-policy.js';
import { type AnyRoute, route } from '../route.js';
import * as S from '../schemas.js';

/** States a live process may be in; the stored row lags the in-memory one among these. */
const LIVE_STATES: ProcessState[] = ['new', 'ready', 'running', 'waiting', 'suspended'];

/** A stored process row as the API shows it (the kernel's own view). */
export const rowInfo = (k: Pick<Kernel, 'tools'>, row: ProcessRow): ProcessInfo =>
  infoFromRow(row, k.tools.workspaceOf);

/** The in-memory view of a process this node runs, else the stored row. */
export async function infoOf(k: Kernel, row: ProcessRow): Promise<ProcessInfo> {
  return k.procs.get(row.pid) ? k.get(row.pid) : rowInfo(k, row);
}

export async function requireRow(k: Kernel, pid: number): Promise<ProcessRow> {
  const row = await k.storage.state.getProcess(pid);
  if (!row)
    throw new KernelError('ENOPROC', `no process ${pid}; GET /api/v1/processes lists them`, {
      details: { pid },
    });
  return row;
}

/** A process that exists but is not live on this node gets 409, not 404: it is there, just not runnable. */
async function requireLive(k: Kernel, pid: number, verb: string): Promise<void> {
  const row = await requireRow(k, pid);
  const pc = k.procs.get(pid);
  const state = pc ? (await k.get(pid)).state : row.state;
  if (!isLive(state))
    throw new KernelError('ESTATE', `process ${pid} is ${state}; it cannot be ${verb}`, {
      details: { pid, state },
    });
  // On a cluster the verb reaches the process on whichever node runs it (src/kernel/control.ts).
  if (!pc && !k.node)
    throw new KernelError(
      'ESTATE',
      `process ${pid} is not running on this node (owner ${row.ownerNode ?? 'none'})`,
      { details: { pid } },
    );
}

export function processRoutes(k: Kernel): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/processes',
      tenantScoped: true,
      access: 'viewer',
      tag: 'processes',
      summary: 'List processes, optionally filtered by state',
      query: S.processListQuery,
      response: S.listOf(S.processInfoSchema, { total: true, next: true }),
      async handler({ query, principal }) {
        const wanted = query.state ? (query.state.split(',').map((s) => s.trim()) as ProcessState[]) : null;
        if (principal.tenant) {
          // A gateway key sees its tenant's sessions only (the tenant is in the process's policy).
          const rows = (await k.storage.state.listProcesses({ limit: 1_000_000 })).filter(
            (r) => r.policy?.tenant === principal.tenant,
          );
          const all = (await Promise.all(rows.map((r) => infoOf(k, r)))).filter(
            (p) => !wanted || wanted.includes(p.state),
          );
          const items = all.slice(query.offset, query.offset + query.limit);
          const end = query.offset + items.length;
          return { items, total: all.length, next: end < all.length ? end : null };
        }
        if (!wanted) {
          const total = await k.storage.state.countProcesses();
          const page = await k.storage.state.listProcesses({ limit: query.limit, offset: query.offset });
          const items = await Promise.all(page.map((r) => infoOf(k, r)));
          const end = query.offset + items.length;
          return { items, total, next: end < total ? end : null };
        }
        // Live states are filtered on the in-memory state (running/waiting are never stored mid-step).
        const widened = new Set<ProcessState>(wanted);
        if (wanted.some((s) => LIVE_STATES.includes(s))) for (const s of LIVE_STATES) widened.add(s);
        const rows = await k.storage.state.listProcesses({ states: [...widened], limit: 1_000_000 });
        const all = (await Promise.all(rows.map((r) => infoOf(k, r)))).filter((p) =>
          wanted.includes(p.state),
        );
        const items = all.slice(query.offset, query.offset + query.limit);
        const end = query.offset + items.length;
        return { items, total: all.length, next: end < all.length ? end : null };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/processes',
      access: 'operator',
      tag: 'processes',
      summary: 'Spawn a process',
      body: S.spawnBody,
      status: 201,
      response: S.pidSchema,
      async handler({ body, principal }) {
        // Below admin, a spawn's policy can only tighten the configured one (src/security/policy-narrow.ts).
        const requested = body.workspace
          ? { ...(body.policy ?? {}), workspace: body.workspace }
          : body.policy;
        const policy =
          requested && principal.role !== 'admin' ? narrowPolicy(defaultPolicy(k), requested) : requested;
        const pid = await k.spawn({
          ...(body.name ? { name: body.name } : {}),
          task: body.task,
          ...(body.agent ? { agent: body.agent } : {}),
          ...(body.system ? { system: body.system } : {}),
          ...(body.priority !== undefined ? { priority: body.priority } : {}),
          ...(body.model ? { model: body.model } : {}),
          ...(body.program ? { program: body.program } : {}),
          ...(body.budgets ? { budgets: body.budgets } : {}),
          ...(policy ? { policy } : {}),
          ...(body.args !== undefined ? { args: body.args } : {}),
        });
        return { pid };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/processes/:pid',
      tenantScoped: true,
      access: 'viewer',
      tag: 'processes',
      summary: 'One process',
      params: S.pidParams,
      response: S.processInfoSchema,
      async handler({ params }) {
        return infoOf(k, await requireRow(k, params.pid));
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/processes/:pid/workspace',
      tenantScoped: true,
      access: 'operator',
      tag: 'processes',
      summary:
        "Delete an exited process's own workspace (kept after exit for inspection); 409 while it is live, 400 for a shared one",
      params: S.pidParams,
      response: S.workspaceRemoved,
      async handler({ params, principal }) {
        return k.removeWorkspace(params.pid, `api:${principal.name}`);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/processes/:pid/suspend',
      tenantScoped: true,
      access: 'operator',
      tag: 'processes',
      summary: 'Suspend a process at its next preemption point (between steps)',
      params: S.pidParams,
      response: S.processInfoSchema,
      async handler({ params }) {
        await requireLive(k, params.pid, 'suspended');
        await k.suspend(params.pid);
        return k.get(params.pid);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/processes/:pid/resume',
      tenantScoped: true,
      access: 'operator',
      tag: 'processes',
      summary: 'Resume a suspended process',
      params: S.pidParams,
      response: S.processInfoSchema,
      async handler({ params }) {
        const row = await requireRow(k, params.pid);
        const state = k.procs.get(params.pid) ? (await k.get(params.pid)).state : row.state;
        // Resuming a live process that is not suspended is a no-op; an exited one cannot be resumed.
        if (!isLive(state) || (!k.procs.get(params.pid) && !k.node && state !== 'suspended')) {
          throw new KernelError('ESTATE', `process ${params.pid} is ${state}, not suspended`, {
            details: { pid: params.pid, state },
          });
        }
        await k.resume(params.pid);
        return k.get(params.pid);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/processes/:pid/kill',
      tenantScoped: true,
      access: 'operator',
      tag: 'processes',
      summary:
        'Kill a process (graceful: the current step ends or is abandoned; forced after the grace period)',
      params: S.pidParams,
      body: S.killBody,
      response: S.processInfoSchema,
      async handler({ params, body, principal }) {
        await requireLive(k, params.pid, 'killed');
        await k.kill(params.pid, body.reason ?? `killed by ${principal.name} through the API`);
        return k.get(params.pid);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/processes/:pid/checkpoint',
      access: 'operator',
      tag: 'processes',
      summary: "Snapshot the process's committed state",
      params: S.pidParams,
      response: S.checkpointSchema,
      async handler({ params }) {
        return { checkpointId: await k.checkpoint(params.pid) };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/checkpoints/:id/restore',
      access: 'operator',
      tag: 'processes',
      summary: 'Start a process from a checkpoint (a new pid, or into: same to rewind an exited one)',
      params: S.numericIdParams,
      body: S.restoreBody,
      status: 201,
      response: S.pidSchema,
      async handler({ params, body }) {
        const pid = await k.restore(params.id, {
          ...(body.name ? { name: body.name } : {}),
          ...(body.priority !== undefined ? { priority: body.priority } : {}),
          ...(body.into ? { into: body.into } : {}),
        });
        return { pid };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/processes/:pid/steps',
      tenantScoped: true,
      access: 'viewer',
      tag: 'processes',
      summary: 'The step log (thoughts, tool calls, results), oldest first; page with `after`',
      params: S.pidParams,
      query: S.afterQuery,
      response: S.listOf(S.stepSchema, { next: true }),
      async handler({ params, query }) {
        await requireRow(k, params.pid);
        const steps = await k.steps(params.pid, { after: query.after, limit: query.limit });
        const items = steps.map((s) => ({
          stepNo: s.stepNo,
          kind: s.kind,
          record: s.record,
          usage: s.usage,
          createdAt: s.createdAt,
        }));
        return { items, next: items.length === query.limit ? (items.at(-1)?.stepNo ?? null) : null };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/processes/:pid/context',
      tenantScoped: true,
      access: 'viewer',
      tag: 'processes',
      summary: "The process's context as a memory map: pages, residency, cached prefix, budget and metrics",
      params: S.pidParams,
      response: S.contextViewSchema,
      async handler({ params }) {
        const row = await requireRow(k, params.pid);
        if (k.context.has(params.pid))
          return describeContextState(params.pid, k.context.exportState(params.pid), true);
        const pc = k.procs.get(params.pid);
        const state = (pc ? pc.pcb.programState : row.programState) as { ctx?: unknown } | null;
        if (state && typeof state === 'object' && state.ctx)
          return describeContextState(params.pid, state.ctx, false);
        return EMPTY_CONTEXT;
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/processes/:pid/mailbox',
      access: 'viewer',
      tag: 'processes',
      summary: 'Messages sent to the process, newest first (delivered ones carry deliveredAt)',
      params: S.pidParams,
      query: S.pageQuery,
      response: S.listOf(S.mailSchema),
      async handler({ params, query }) {
        await requireRow(k, params.pid);
        const mail = await k.mail.list(params.pid, {
          limit: query.limit,
          offset: query.offset,
        });
        return { items: mail };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/processes/:pid/audit',
      tenantScoped: true,
      access: 'viewer',
      tag: 'processes',
      summary: "The process's audit stream (proc:<pid>), oldest first; page with `after`",
      params: S.pidParams,
      query: S.afterQuery,
      response: S.listOf(S.auditEntrySchema, { next: true }),
      async handler({ params, query }) {
        await requireRow(k, params.pid);
        const items = await k.audit.list({
          stream: `proc:${params.pid}`,
          after: query.after,
          limit: query.limit,
        });
        return { items, next: items.length === query.limit ? (items.at(-1)?.id ?? null) : null };
      },
    }),
  ];
}
