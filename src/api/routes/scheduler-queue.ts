/**
 * GET /api/v1/scheduler/queue: the run queue as it really is — every process on this node waiting for an
 * LLM slot (state waiting, on `slot`), per model, longest-waiting first, with how long each has waited.
 * The counts in GET /scheduler come from the same scheduler; this names the processes behind them.
 */
import { z } from 'zod';
import type { Kernel } from '../../kernel/kernel.js';
import { type AnyRoute, route } from '../route.js';

const queued = z.object({
  pid: z.number().int(),
  name: z.string(),
  model: z.string(),
  priority: z.number().int(),
  stepNo: z.number().int(),
  since: z.string().describe('when it joined the queue'),
  waitingMs: z.number().int(),
});

const queueView = z.object({
  models: z.record(
    z.string(),
    z.object({ busy: z.number().int(), total: z.number().int(), queued: z.number().int() }),
  ),
  items: z.array(queued),
});

export function schedulerQueueRoutes(k: Kernel): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/scheduler/queue',
      access: 'viewer',
      tag: 'system',
      summary: 'Processes waiting for an LLM slot, per model, with their waiting time',
      response: queueView,
      async handler() {
        const now = Date.now();
        const items: Array<z.infer<typeof queued>> = [];
        for (const pc of k.procs.all()) {
          const w = pc.pcb.waitOn;
          if (pc.pcb.state !== 'waiting' || w?.on !== 'slot') continue;
          items.push({
            pid: pc.pcb.pid,
            name: pc.pcb.name,
            model: w.model,
            priority: pc.pcb.priority,
            stepNo: pc.pcb.stepNo,
            since: new Date(w.since).toISOString(),
            waitingMs: Math.max(0, now - w.since),
          });
        }
        items.sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : b.waitingMs - a.waitingMs));
        const st = k.cpu.snapshot();
        const models: z.infer<typeof queueView>['models'] = {};
        for (const [m, v] of Object.entries(st.slots))
          models[m] = { busy: v.busy, total: v.total, queued: st.runQueueByModel[m] ?? 0 };
        return { models, items };
      },
    }),
  ];
}
