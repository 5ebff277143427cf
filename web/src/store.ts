// Live state shared by every view: the process table, the metrics summary and its history for the charts,
// the pending approvals count. Fed by the event stream: process events refresh the table (debounced), the
// `metrics` tick adds a point to the history.
import { reactive } from 'vue';
import { api, type Proc, subscribe } from './api';

export interface Point {
  t: number;
  tokensIn: number;
  tokensOut: number;
  cached: number;
  cost: number;
  hitRatio: number;
  latencyMs: number | null;
  running: number;
}

const HISTORY = 300; // points kept for the charts (~10 minutes at the server's 2 s tick)

export const live = reactive({
  connected: false,
  procs: [] as Proc[],
  total: 0,
  summary: null as any,
  history: [] as Point[],
  approvals: 0,
  error: '',
  /** bumps on every event for a pid, so an open process page knows to refresh */
  touched: {} as Record<number, number>,
});

let stop: (() => void) | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;
let lastCalls = 0;
let lastMs = 0;

export async function refreshProcs(): Promise<void> {
  try {
    const page = await api<{ items: Proc[]; total: number }>('GET', '/processes?limit=500');
    live.procs = page.items;
    live.total = page.total;
    live.error = '';
  } catch (err) {
    live.error = (err as Error).message;
  }
}

export async function refreshApprovals(): Promise<void> {
  try {
    live.approvals = (await api<{ items: unknown[] }>('GET', '/approvals')).items.length;
  } catch {
    /* viewers may not list approvals; the badge just stays */
  }
}

function soon(withSummary = true): void {
  if (timer) return;
  timer = setTimeout(() => {
    timer = null;
    void refreshProcs();
    // the header totals follow process events too, not only the metrics tick
    if (withSummary)
      api('GET', '/metrics/summary').then(
        (s) => {
          live.summary = s;
        },
        () => undefined,
      );
  }, 250);
}

function addPoint(s: any): void {
  live.summary = s;
  if (typeof s.pendingApprovals === 'number') live.approvals = s.pendingApprovals;
  // latency: LLM time over calls made since the previous tick, from the process table's accounting
  let calls = 0;
  let ms = 0;
  for (const p of live.procs) {
    calls += p.usage.apiCalls;
    ms += p.usage.llmMs;
  }
  const dc = calls - lastCalls;
  const latencyMs = dc > 0 ? (ms - lastMs) / dc : null;
  lastCalls = calls;
  lastMs = ms;
  live.history.push({
    t: Date.now(),
    tokensIn: s.tokens?.input ?? 0,
    tokensOut: s.tokens?.output ?? 0,
    cached: s.tokens?.cached ?? 0,
    cost: s.costUsd ?? 0,
    hitRatio: s.cacheHitRatio ?? 0,
    latencyMs,
    running: s.processes?.byState?.running ?? 0,
  });
  if (live.history.length > HISTORY) live.history.splice(0, live.history.length - HISTORY);
}

export async function start(): Promise<void> {
  stopLive();
  await Promise.all([refreshProcs(), refreshApprovals()]);
  for (const p of live.procs) {
    lastCalls += p.usage.apiCalls;
    lastMs += p.usage.llmMs;
  }
  api('GET', '/metrics/summary').then(addPoint, () => undefined);
  stop = subscribe(
    (type, data) => {
      if (type === 'metrics') {
        // the stream's redaction masks any key containing "token" (tokens, tokensIn…); REST is exact
        if (typeof data?.tokens === 'object') addPoint(data);
        else api('GET', '/metrics/summary').then(addPoint, () => undefined);
        soon(false); // usage counters move between state changes too
        return;
      }
      if (type === 'approval.pending') void refreshApprovals();
      if (typeof data?.pid === 'number') live.touched[data.pid] = (live.touched[data.pid] ?? 0) + 1;
      if (type.startsWith('proc.')) soon();
    },
    (open) => {
      live.connected = open;
      if (open) soon(); // catch up on whatever happened while disconnected
    },
  );
}

export function stopLive(): void {
  stop?.();
  stop = null;
  live.connected = false;
  lastCalls = 0;
  lastMs = 0;
}
