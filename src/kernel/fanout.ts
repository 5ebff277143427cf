/**
 * Event fan-out between nodes: the process events a user watches (the API's SSE stream, the dashboard)
 * are published by the node that runs the process and delivered to every other node's listeners, so a
 * stream opened on any node sees every node's processes. Events are batched (one NOTIFY per
 * FANOUT_FLUSH_MS, payloads under FANOUT_PAYLOAD_BYTES) and never re-emitted on the local hook bus —
 * plugins and hooks still see only the processes their own node runs. NOTIFY is best effort; the tables
 * stay the truth (a missed event is a stale view, never a lost step).
 */
import type { HookEvents } from '../hooks/bus.js';
import { FANOUT_CLIP_CHARS, FANOUT_FLUSH_MS, FANOUT_PAYLOAD_BYTES } from '../param.js';
import { logger } from '../util/log.js';
import type { KernelCore } from './core.js';

const log = logger('kernel.fanout');

export const EVENTS_CHANNEL = 'aos_events';

export const FANNED = [
  'proc.state',
  'proc.step',
  'proc.exit',
  'tool.after',
  'mem.page_fault',
  'approval.pending',
] as const;
export type FannedEvent = (typeof FANNED)[number];

/** An event of another node's process, as delivered here. */
export type RemoteListener = <T extends FannedEvent>(type: T, ev: HookEvents[T], node: string) => void;

export class EventFanout {
  private buffer: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private unsubs: Array<() => void> = [];
  private unlisten: (() => Promise<void>) | null = null;
  private readonly listeners = new Set<RemoteListener>();
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly core: KernelCore) {}

  async start(): Promise<void> {
    for (const t of FANNED)
      this.unsubs.push(this.core.hooks.on(t, (ev) => this.publish(t, ev as never), 'cluster.fanout'));
    const schema = this.core.storage.driver.schema;
    this.unlisten = await this.core.storage.driver
      .listen(EVENTS_CHANNEL, (payload) => {
        try {
          const m = JSON.parse(payload) as { s: string; n: string; e: Array<[FannedEvent, unknown]> };
          if (m.s !== schema || m.n === this.core.nodeId) return;
          for (const [t, ev] of m.e) for (const l of this.listeners) l(t, ev as never, m.n);
        } catch (err) {
          log.debug(`unreadable event batch: ${String(err)}`);
        }
      })
      .catch(() => null);
  }

  /** Receives every other node's events while subscribed. */
  subscribe(l: RemoteListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  async stop(): Promise<void> {
    for (const u of this.unsubs.splice(0)) u();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    await this.unlisten?.().catch(() => undefined);
  }

  private publish(type: FannedEvent, ev: Record<string, unknown>): void {
    let item = JSON.stringify([type, ev]);
    const budget = FANOUT_PAYLOAD_BYTES - 200;
    if (Buffer.byteLength(item) > budget) {
      const slim: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(ev))
        slim[k] =
          typeof v === 'string' && v.length > FANOUT_CLIP_CHARS
            ? `${v.slice(0, FANOUT_CLIP_CHARS)}…`
            : v !== null && typeof v === 'object'
              ? null
              : v;
      item = JSON.stringify([type, { ...slim, truncated: true }]);
      if (Buffer.byteLength(item) > budget)
        item = JSON.stringify([type, { pid: ev.pid ?? null, truncated: true }]);
    }
    this.buffer.push(item);
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, FANOUT_FLUSH_MS);
      this.timer.unref();
    }
  }

  private flush(): Promise<void> {
    const items = this.buffer.splice(0);
    if (items.length === 0) return this.flushing;
    const head = `{"s":${JSON.stringify(this.core.storage.driver.schema)},"n":${JSON.stringify(this.core.nodeId)},"e":[`;
    const batches: string[] = [];
    let cur: string[] = [];
    let size = head.length + 2;
    for (const it of items) {
      const n = Buffer.byteLength(it);
      if (cur.length && size + n + 1 > FANOUT_PAYLOAD_BYTES) {
        batches.push(`${head}${cur.join(',')}]}`);
        cur = [];
        size = head.length + 2;
      }
      cur.push(it);
      size += n + 1;
    }
    if (cur.length) batches.push(`${head}${cur.join(',')}]}`);
    this.flushing = this.flushing.then(async () => {
      for (const b of batches)
        await this.core.storage.driver.notify(EVENTS_CHANNEL, b).catch((e) => log.debug(String(e)));
    });
    return this.flushing;
  }
}
