/**
 * The event stream's short memory (GET /api/v1/events, ./events.ts): each process's recent events, so a
 * subscriber that connects late or reconnects is given what it missed instead of a stream that starts in
 * the middle of a sentence.
 *
 * - Reconnecting (`Last-Event-ID`, which EventSource sends by itself, or `?after=`): every kept event after
 *   that id that the client's filter selects, then the live ones — no duplicate, no gap.
 * - Connecting late without an id, with deltas on: the deltas of each streamed model call still in flight
 *   (since its start, or since its last restart), so the text shown is the whole answer so far.
 * - Too old (events after the id were dropped to stay within the limits, or the id is from another kernel
 *   run or node): the client gets an `events.gap` event saying so, then what is kept.
 *
 * Memory is bounded: per process REPLAY_PROC_BYTES / REPLAY_PROC_EVENTS (oldest dropped first), in all
 * REPLAY_TOTAL_BYTES and REPLAY_PROCS logs (the least recently written process's log dropped first).
 * Deltas are kept as they came (rendered only when sent: a token nobody reads costs no JSON); other events
 * are rendered once, as the live stream renders them.
 */
import { randomBytes } from 'node:crypto';
import {
  API_SSE_REPLAY_PROC_BYTES,
  API_SSE_REPLAY_PROC_EVENTS,
  API_SSE_REPLAY_PROCS,
  API_SSE_REPLAY_TOTAL_BYTES,
} from '../param.js';

export interface ReplayLimits {
  procBytes: number;
  procEvents: number;
  totalBytes: number;
  procs: number;
}

const DEFAULT_LIMITS: ReplayLimits = {
  procBytes: API_SSE_REPLAY_PROC_BYTES,
  procEvents: API_SSE_REPLAY_PROC_EVENTS,
  totalBytes: API_SSE_REPLAY_TOTAL_BYTES,
  procs: API_SSE_REPLAY_PROCS,
};

/** The types kept as they came and rendered when sent (one per token: most of the volume). */
const LAZY = new Set(['llm.delta', 'llm.restart']);
const DELTA_TYPES = LAZY;

export interface Recorded {
  readonly seq: number;
  readonly type: string;
  readonly pid: number | undefined;
  ev: unknown;
  frame: string | null;
  bytes: number;
}

class ProcLog {
  entries: Recorded[] = [];
  head = 0;
  bytes = 0;
  /** Highest seq dropped from this log (0: none). */
  droppedUpTo = 0;
  /** Seq of the first delta of the streamed call in flight (what a late subscriber is given), or null. */
  openFrom: number | null = null;

  get size(): number {
    return this.entries.length - this.head;
  }

  lastSeq(): number {
    return this.entries.at(-1)?.seq ?? 0;
  }

  shift(): Recorded {
    const e = this.entries[this.head]!;
    this.entries[this.head++] = undefined as never;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    this.bytes -= e.bytes;
    this.droppedUpTo = e.seq;
    return e;
  }

  *since(seq: number): Iterable<Recorded> {
    // ids ascend: binary search for the first one after `seq`
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.entries.length; i++) yield this.entries[i]!;
  }
}

export interface ReplayRequest {
  /** The last id the client saw (Last-Event-ID / `after`), or null for a first connection. */
  after: string | null;
  pid: number | undefined;
  wants(type: string): boolean;
}

export interface ReplayPlan {
  /** Frames to write before the live stream, in id order. */
  frames: string[];
  /** Set when something the client asked for is no longer kept: what to tell it (an `events.gap` event). */
  gap: { lastEventId: string | null; reason: string } | null;
}

export class EventReplay {
  /** Ids are `<epoch>-<n>`: an id from another kernel run or node is recognised as not ours. */
  readonly epoch = randomBytes(4).toString('hex');
  private seq = 0;
  /** Logs in least-recently-written order (a write moves its log to the end). */
  private readonly logs = new Map<number, ProcLog>();
  private total = 0;
  /** Highest seq dropped anywhere, and the highest of the logs dropped whole. */
  private droppedUpTo = 0;
  private forgottenUpTo = 0;

  constructor(
    private readonly render: (type: string, ev: unknown) => string,
    private readonly limits: ReplayLimits = DEFAULT_LIMITS,
  ) {}

  /** Kept bytes (estimates for deltas), for tests and metrics. */
  get bytes(): number {
    return this.total;
  }

  frameOf(e: Recorded): string {
    if (e.frame === null) {
      e.frame = `id: ${this.epoch}-${e.seq}\nevent: ${e.type}\ndata: ${this.render(e.type, e.ev)}\n\n`;
      e.ev = null;
    }
    return e.frame;
  }

  /** Gives the event its id and keeps it when it belongs to a process (metrics ticks are not kept). */
  record(type: string, ev: unknown, pid: number | undefined): Recorded {
    const e: Recorded = { seq: ++this.seq, type, pid, ev, frame: null, bytes: 0 };
    if (pid === undefined) return e;
    if (LAZY.has(type)) e.bytes = estimate(ev);
    else e.bytes = this.frameOf(e).length;
    let log = this.logs.get(pid);
    if (log) this.logs.delete(pid);
    else log = new ProcLog();
    this.logs.set(pid, log);
    log.entries.push(e);
    log.bytes += e.bytes;
    this.total += e.bytes;
    this.track(log, e);
    while (log.size > 1 && (log.bytes > this.limits.procBytes || log.size > this.limits.procEvents))
      this.dropOne(log);
    this.trim();
    return e;
  }

  /** What a new subscriber is given before the live events (see the header). */
  plan(req: ReplayRequest): ReplayPlan {
    const logs =
      req.pid !== undefined
        ? (() => {
            const l = this.logs.get(req.pid);
            return l ? [l] : [];
          })()
        : [...this.logs.values()];
    const out: Recorded[] = [];
    let gap: ReplayPlan['gap'] = null;
    const after = req.after === null ? null : this.parse(req.after);
    if (req.after !== null && after === null)
      gap = {
        lastEventId: req.after,
        reason: `the id "${req.after.slice(0, 40)}" is not from this kernel's current run (restarted, or another node): events since then cannot be replayed`,
      };
    if (after !== null) {
      const dropped =
        req.pid !== undefined ? Math.max(logs[0]?.droppedUpTo ?? 0, this.forgottenUpTo) : this.droppedUpTo;
      if (dropped > after)
        gap = {
          lastEventId: req.after,
          reason: `events after ${req.after} were dropped to keep the replay buffer within its limits (${this.limits.procBytes} bytes / ${this.limits.procEvents} events per process)`,
        };
      for (const l of logs) for (const e of l.since(after)) if (req.wants(e.type)) out.push(e);
    } else {
      // A first connection (or an id that is not ours): the streamed calls in flight, from their start.
      for (const l of logs) {
        if (l.openFrom === null) continue;
        if (l.droppedUpTo >= l.openFrom && gap === null)
          gap = {
            lastEventId: req.after,
            reason: `the start of a streamed call in flight was dropped to keep the replay buffer within its limits (${this.limits.procBytes} bytes per process)`,
          };
        for (const e of l.since(l.openFrom - 1))
          if (DELTA_TYPES.has(e.type) && req.wants(e.type)) out.push(e);
      }
    }
    if (logs.length > 1) out.sort((a, b) => a.seq - b.seq);
    return { frames: out.map((e) => this.frameOf(e)), gap };
  }

  private parse(id: string): number | null {
    const m = /^([0-9a-f]+)-(\d+)$/.exec(id.trim());
    if (!m || m[1] !== this.epoch) return null;
    const n = Number(m[2]);
    return Number.isSafeInteger(n) && n <= this.seq ? n : null;
  }

  /** The streamed call in flight per process: opened by its first delta, closed by a restart or its step. */
  private track(log: ProcLog, e: Recorded): void {
    if (e.type === 'llm.delta') log.openFrom ??= e.seq;
    // a restart voids what streamed so far (the next attempt's first delta reopens); a step or exit ends it
    else if (e.type === 'llm.restart' || e.type === 'proc.step' || e.type === 'proc.exit')
      log.openFrom = null;
  }

  private dropOne(log: ProcLog): void {
    const e = log.shift();
    this.total -= e.bytes;
    if (e.seq > this.droppedUpTo) this.droppedUpTo = e.seq;
  }

  private trim(): void {
    while (this.logs.size > this.limits.procs || this.total > this.limits.totalBytes) {
      const [pid, oldest] = this.logs.entries().next().value as [number, ProcLog];
      if (this.logs.size === 1) {
        // one process alone over the total: drop its oldest events instead of the whole log
        if (oldest.size <= 1) break;
        this.dropOne(oldest);
        continue;
      }
      this.logs.delete(pid);
      this.total -= oldest.bytes;
      const last = oldest.lastSeq();
      if (last > this.forgottenUpTo) this.forgottenUpTo = last;
      if (last > this.droppedUpTo) this.droppedUpTo = last;
    }
  }
}

/** Bytes a kept delta will take once rendered (its text, plus the envelope). */
function estimate(ev: unknown): number {
  const d = (ev as { delta?: Record<string, unknown> } | null)?.delta;
  let n = 160;
  if (d)
    for (const k of ['delta', 'argumentsDelta', 'name', 'id']) {
      const v = d[k];
      if (typeof v === 'string') n += v.length;
    }
  return n;
}
