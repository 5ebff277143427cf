// The REST + SSE client. The token lives in localStorage; a 401 logs out so the login screen shows again.
import { reactive } from 'vue';

const KEY = 'aos.token';

export const auth = reactive({ token: localStorage.getItem(KEY) ?? '' });

export function login(token: string): void {
  auth.token = token.trim();
  localStorage.setItem(KEY, auth.token);
}

export function logout(): void {
  auth.token = '';
  localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T = any>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${auth.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new ApiError(
      0,
      'ENET',
      `the kernel server does not answer (${(err as Error).message}); is \`aos start\` running?`,
    );
  }
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = json?.error ?? {};
    if (res.status === 401) logout();
    throw new ApiError(
      res.status,
      e.code ?? `HTTP${res.status}`,
      e.message ?? `${method} ${path}: HTTP ${res.status}`,
    );
  }
  return json as T;
}

export const EVENT_TYPES = [
  'proc.state',
  'proc.step',
  'proc.exit',
  'tool.after',
  'mem.page_fault',
  'approval.pending',
  'metrics',
] as const;

/** Opens the event stream (EventSource cannot send headers, so the token goes in the query). */
export function subscribe(
  onEvent: (type: string, data: any) => void,
  onOpen: (open: boolean) => void,
): () => void {
  const es = new EventSource(`/api/v1/events?token=${encodeURIComponent(auth.token)}`);
  es.onopen = () => onOpen(true);
  es.onerror = () => onOpen(false); // EventSource reconnects by itself
  for (const t of EVENT_TYPES) {
    es.addEventListener(t, (m) => {
      try {
        onEvent(t, JSON.parse((m as MessageEvent).data));
      } catch {
        /* a malformed event is dropped, the next one refreshes */
      }
    });
  }
  return () => es.close();
}

/**
 * One process's streamed tokens as they arrive (the opt-in `llm.delta` / `llm.restart` events) and its
 * step commits, on their own EventSource so the main stream stays light.
 */
export function subscribeTokens(pid: number, onEvent: (type: string, data: any) => void): () => void {
  const q = `token=${encodeURIComponent(auth.token)}&pid=${pid}&types=llm.delta,llm.restart,proc.step`;
  const es = new EventSource(`/api/v1/events?${q}`);
  for (const t of ['llm.delta', 'llm.restart', 'proc.step']) {
    es.addEventListener(t, (m) => {
      try {
        onEvent(t, JSON.parse((m as MessageEvent).data));
      } catch {
        /* dropped */
      }
    });
  }
  return () => es.close();
}

export interface Usage {
  tokensIn: number;
  tokensCached: number;
  tokensOut: number;
  apiCalls: number;
  toolCalls: number;
  cost: number;
  llmMs: number;
}

export interface Proc {
  pid: number;
  parentPid: number | null;
  name: string;
  task: string;
  state: string;
  waitOn: string;
  priority: number;
  model: string;
  program: string;
  stepNo: number;
  usage: Usage;
  result: unknown;
  exitReason: string | null;
  /** The directory its tools work in (its own proc/<pid>, or a shared one). */
  workspace?: string;
}

export const LIVE_STATES = new Set(['new', 'ready', 'running', 'waiting', 'suspended']);
