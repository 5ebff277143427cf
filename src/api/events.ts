/**
 * GET /api/v1/events: server-sent events. One EventHub per server subscribes to the hook bus while at
 * least one client listens (and unsubscribes when the last one leaves), fans events out to clients,
 * sends a `metrics` tick every API_SSE_METRICS_MS and a heartbeat comment when a stream is idle. A client
 * that stops reading is disconnected once its buffer passes API_SSE_MAX_BUFFER_BYTES.
 * Filters: `?types=proc.step,proc.exit` and `?pid=N`. Token deltas (`llm.delta`, one event per streamed
 * fragment, and `llm.restart`) are opt-in — `?types=…,llm.delta` or `?deltas=1` — so the default stream
 * is not flooded. Every process event is kept a while (./event-replay.ts): a client reconnecting with
 * `Last-Event-ID` (or `?after=`) gets what it missed, a late one the streamed calls in flight from their start.
 */
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import type { HookEvents } from '../hooks/bus.js';
import type { Kernel } from '../kernel/kernel.js';
import * as P from '../param.js';
import { logger } from '../util/log.js';
import { redactString } from '../util/redact.js';
import { EventReplay, type ReplayLimits } from './event-replay.js';
import { type AnyRoute, route } from './route.js';
import { summarize } from './summary.js';

const log = logger('api.events');

export const EVENT_TYPES = [
  'proc.state',
  'proc.step',
  'proc.exit',
  'tool.after',
  'mem.page_fault',
  'approval.pending',
  'llm.delta',
  'llm.restart',
  'metrics',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];
/** Sent only to clients that name them (or pass `deltas=1`). */
export const OPT_IN_TYPES: ReadonlySet<EventType> = new Set(['llm.delta', 'llm.restart']);
const DEFAULT_TYPES = EVENT_TYPES.filter((t) => !OPT_IN_TYPES.has(t));
const HOOKED = EVENT_TYPES.filter((t): t is Exclude<EventType, 'metrics'> => t !== 'metrics');

export const eventsQuery = z.object({
  types: z
    .string()
    .optional()
    .describe(`comma-separated subset of ${EVENT_TYPES.join(', ')}`)
    .refine((s) => !s || s.split(',').every((t) => (EVENT_TYPES as readonly string[]).includes(t.trim())), {
      message: `each type must be one of ${EVENT_TYPES.join(', ')}`,
    }),
  pid: z.coerce
    .number()
    .int()
    .positive()
    .optional()
    .describe('only events of this process (metrics ticks still arrive)'),
  deltas: z
    .enum(['0', '1', 'true', 'false'])
    .optional()
    .describe('1: add llm.delta (streamed tokens as they arrive) and llm.restart to the chosen types'),
  after: z
    .string()
    .max(64)
    .optional()
    .describe(
      'replay from after this event id (what the Last-Event-ID header does; EventSource sends it when it reconnects)',
    ),
});

interface Client {
  res: ServerResponse;
  types: Set<EventType>;
  pid: number | undefined;
  lastWrite: number;
}

function clip(s: string, n = P.PREVIEW_MAX_CHARS): string {
  return s.length > n ? `${s.slice(0, n)}… [${s.length - n} more chars]` : s;
}

/**
 * Masks secret-looking string values (keys, bearer tokens). Key-name redaction (util/redact's `redact`) is
 * not used here: it would mask fields such as `tokens` and `tokensIn` that carry counts, not secrets.
 */
function scrub(_key: string, v: unknown): unknown {
  return typeof v === 'string' ? redactString(v) : v;
}

/** Shapes a hook event for the wire: secrets redacted, big outputs clipped, oversize records stubbed. */
function wire(type: EventType, ev: unknown): string {
  let data = ev as Record<string, unknown>;
  if (type === 'tool.after') data = { ...data, output: clip(String(data.output ?? '')) };
  let json = JSON.stringify(data, scrub);
  if (json.length > P.API_SSE_EVENT_MAX_BYTES && type === 'proc.step') {
    json = JSON.stringify({ ...data, record: null, truncated: true }, scrub);
  }
  if (json.length > P.API_SSE_EVENT_MAX_BYTES)
    json = JSON.stringify({ truncated: true, pid: data.pid ?? null });
  return json;
}

export class EventHub {
  private readonly clients = new Set<Client>();
  /** Local hook listeners: always on, so the replay buffer holds what a late subscriber needs. */
  private readonly hooked: Array<() => void> = [];
  /** Listeners held while at least one client listens (other nodes' events, timers). */
  private unsubs: Array<() => void> = [];
  private metricsTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  readonly replay: EventReplay;

  constructor(
    private readonly k: Kernel,
    limits?: ReplayLimits,
  ) {
    this.replay = new EventReplay((type, ev) => wire(type as EventType, ev), limits);
    for (const t of HOOKED)
      this.hooked.push(
        this.k.hooks.on(
          t,
          (ev: HookEvents[typeof t]) => this.broadcast(t, ev, (ev as { pid?: number }).pid),
          'api.events',
        ),
      );
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * A new subscriber: first what it missed (after `lastEventId`, or the streamed calls in flight), then the
   * live events — in one synchronous turn, so no event falls between the two.
   */
  add(
    res: ServerResponse,
    types: Set<EventType>,
    pid: number | undefined,
    lastEventId: string | null = null,
  ): () => void {
    const { frames, gap } = this.replay.plan({
      after: lastEventId,
      pid,
      wants: (t) => types.has(t as EventType),
    });
    if (gap)
      res.write(
        `event: events.gap\ndata: ${JSON.stringify({ ...gap, pid: pid ?? null, hint: 'read the steps (GET /api/v1/processes/{pid}/steps) for what was missed' })}\n\n`,
      );
    if (frames.length) res.write(frames.join(''));
    const c: Client = { res, types, pid, lastWrite: Date.now() };
    this.clients.add(c);
    if (this.clients.size === 1) this.start();
    return () => this.remove(c);
  }

  /** Ends every stream and stops listening (server shutdown). */
  closeAll(): void {
    for (const c of [...this.clients]) {
      c.res.end();
      this.remove(c);
    }
    for (const u of this.hooked.splice(0)) u();
  }

  private remove(c: Client): void {
    if (!this.clients.delete(c)) return;
    if (this.clients.size === 0) this.stop();
  }

  private start(): void {
    // Other nodes' processes too: one kernel to the user, whichever node serves the stream.
    const remote = this.k.node?.events.subscribe((t, ev) => {
      if ((HOOKED as readonly string[]).includes(t))
        this.broadcast(t as (typeof HOOKED)[number], ev, (ev as { pid?: number }).pid);
    });
    if (remote) this.unsubs.push(remote);
    this.metricsTimer = setInterval(() => void this.tick(), P.API_SSE_METRICS_MS);
    this.metricsTimer.unref();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.min(P.API_SSE_HEARTBEAT_MS, 5_000));
    this.heartbeatTimer.unref();
  }

  private stop(): void {
    for (const u of this.unsubs.splice(0)) u();
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.metricsTimer = this.heartbeatTimer = null;
  }

  private async tick(): Promise<void> {
    if (!this.clients.size || this.k.isStopping()) return;
    try {
      const s = await summarize(this.k);
      this.broadcast('metrics', s, undefined);
    } catch (err) {
      log.debug(`metrics tick skipped: ${String(err)}`);
    }
  }

  private heartbeat(): void {
    const now = Date.now();
    for (const c of this.clients)
      if (now - c.lastWrite >= P.API_SSE_HEARTBEAT_MS) this.write(c, ': heartbeat\n\n');
  }

  private broadcast(type: EventType, ev: unknown, pid: number | undefined): void {
    const e = this.replay.record(type, ev, pid);
    for (const c of this.clients) {
      if (!c.types.has(type)) continue;
      if (c.pid !== undefined && type !== 'metrics' && pid !== c.pid) continue;
      this.write(c, this.replay.frameOf(e));
    }
  }

  private write(c: Client, frame: string): void {
    if (c.res.destroyed || c.res.writableEnded) {
      this.remove(c);
      return;
    }
    c.res.write(frame);
    c.lastWrite = Date.now();
    if (c.res.writableLength > P.API_SSE_MAX_BUFFER_BYTES) {
      log.warn('an event-stream client fell too far behind and was disconnected');
      c.res.destroy();
      this.remove(c);
    }
  }
}

export function eventRoutes(
  hub: EventHub,
  corsHeaders: (origin: string | undefined) => Record<string, string>,
): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/events',
      access: 'viewer',
      tag: 'events',
      summary:
        'Server-sent events: proc.state, proc.step, proc.exit, tool.after, mem.page_fault, approval.pending, metrics; opt-in llm.delta, llm.restart',
      description:
        'text/event-stream. Authenticate with the Authorization header, or `?token=` (EventSource cannot set headers). ' +
        'Each event: `id`, `event` (the type) and `data` (JSON). `metrics` carries the /metrics/summary body every 2 s; a comment line is sent as a heartbeat on idle streams. ' +
        'Streamed tokens are opt-in (`?deltas=1`, or name `llm.delta` in `types`): `llm.delta` `{pid, stepNo, attempt, delta: {type: text|reasoning|tool_call, …}}` as each fragment arrives, before the step commits; `llm.restart` `{pid, stepNo, attempt, reason, final}` when a cut stream is made again (drop what you showed). ' +
        'Replay: a client that reconnects with `Last-Event-ID` (EventSource does) or `?after=<id>` first gets the kept events after that id that its filter selects; one that connects without an id, deltas on, first gets the deltas of each streamed call in flight since it began. The kernel keeps the recent events of each process (bounded); when what a client asked for is no longer kept, or the id is from another kernel run or node, it gets an `events.gap` event `{lastEventId, reason, pid, hint}` first.',
      query: eventsQuery,
      produces: 'text/event-stream',
      tokenInQuery: true,
      async handler({ query, req, reply }) {
        const types = new Set<EventType>(
          query.types ? (query.types.split(',').map((t) => t.trim()) as EventType[]) : DEFAULT_TYPES,
        );
        if (query.deltas === '1' || query.deltas === 'true') for (const t of OPT_IN_TYPES) types.add(t);
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          ...corsHeaders(req.headers.origin),
        });
        res.write(`retry: 3000\n: connected to agent-os-kernel events\n\n`);
        const header = req.headers['last-event-id'];
        const lastEventId =
          query.after ?? (typeof header === 'string' && header ? header.slice(0, 64) : null);
        const remove = hub.add(res, types, query.pid, lastEventId);
        req.raw.on('close', remove);
        res.on('close', remove);
      },
    }),
  ];
}
