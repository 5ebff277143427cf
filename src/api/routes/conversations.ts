/**
 * Conversations over HTTP: a user's message to a process (it becomes a user turn at the process's next
 * step, or continues a finished one), the conversation as turns, and the agent profiles of config
 * `agents:`. Mechanisms live in src/kernel/conversation.ts; these handlers only check and call them.
 */
import { z } from 'zod';
import { KernelError } from '../../errors.js';
import type { Kernel } from '../../kernel/kernel.js';
import { USER_TOPIC } from '../../kernel/syscalls.js';
import { MAX_USER_MESSAGE_CHARS } from '../../param.js';
import { type AnyRoute, route } from '../route.js';
import * as S from '../schemas.js';

const messageBody = z.strictObject({
  text: z.string().min(1).max(MAX_USER_MESSAGE_CHARS).describe('what the user says to the agent'),
});

const sendResult = z.object({
  pid: z.number().int(),
  messageId: z.number().int(),
  continued: z.boolean().describe('the process had exited and this message continues it'),
  state: z.string(),
});

const turnSchema = z.object({
  role: z.enum(['user', 'assistant']),
  text: z.string(),
  /** The step that took the message or gave the answer; null for a message not taken yet. */
  stepNo: z.number().int().nullable(),
  at: z.string().nullable(),
  pending: z.boolean(),
});

const profileSchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  model: z.string().nullable(),
  system: z.string().nullable(),
  tools: z.array(z.string()).nullable(),
  priority: z.number().int().nullable(),
  budgets: z.record(z.string(), z.number()),
});

function iso(v: unknown): string | null {
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'string' ? v : null;
}

export function conversationRoutes(k: Kernel): AnyRoute[] {
  return [
    route({
      method: 'POST',
      path: '/api/v1/processes/:pid/messages',
      access: 'operator',
      tag: 'processes',
      summary: 'Send a user message to a process (a conversation turn)',
      description:
        'The message enters the process context as a user turn at its next step (append-only). A finished ' +
        'process of the built-in agent is continued by it, in the same pid; wait for its next exit to read ' +
        'the answer (GET /processes/:pid, or proc.exit on /events).',
      params: S.pidParams,
      body: messageBody,
      status: 202,
      response: sendResult,
      async handler({ params, body, principal }) {
        return k.send(params.pid, body.text, principal.name);
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/processes/:pid/conversation',
      access: 'viewer',
      tag: 'processes',
      summary: 'The conversation with a process: its task, the user messages and its answers, in order',
      params: S.pidParams,
      response: S.listOf(turnSchema),
      async handler({ params }) {
        const row = await k.storage.state.getProcess(params.pid);
        if (!row)
          throw new KernelError('ENOPROC', `no process ${params.pid}`, { details: { pid: params.pid } });
        const items: Array<z.infer<typeof turnSchema>> = [
          { role: 'user', text: row.task, stepNo: 0, at: iso(row.createdAt), pending: false },
        ];
        for (const s of await k.steps(params.pid, { limit: 100_000 })) {
          const r = (s.record ?? {}) as { user?: unknown; text?: unknown };
          const at = iso(s.createdAt);
          if (Array.isArray(r.user))
            for (const t of r.user)
              if (typeof t === 'string')
                items.push({ role: 'user', text: t, stepNo: s.stepNo, at, pending: false });
          if (s.kind === 'answer' && typeof r.text === 'string')
            items.push({ role: 'assistant', text: r.text, stepNo: s.stepNo, at, pending: false });
        }
        for (const m of await k.mail.waiting(params.pid, { topic: USER_TOPIC })) {
          const b = m.body as { text?: unknown } | string | null;
          const text = typeof b === 'string' ? b : typeof b?.text === 'string' ? b.text : '';
          if (text) items.push({ role: 'user', text, stepNo: null, at: iso(m.createdAt), pending: true });
        }
        return { items };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/agents',
      access: 'viewer',
      tag: 'processes',
      summary: 'Agent profiles from config `agents:` (spawn one with `agent: NAME`)',
      response: S.listOf(profileSchema),
      async handler() {
        return {
          items: k.config.agents.map((a) => ({
            name: a.name,
            description: a.description ?? null,
            model: a.model ?? null,
            system: a.system ?? null,
            tools: a.tools ?? null,
            priority: a.priority ?? null,
            budgets: Object.fromEntries(
              Object.entries(a.budgets ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number'),
            ),
          })),
        };
      },
    }),
  ];
}
