/**
 * The CLI's way to the kernel. When a server answers at the configured URL (`server.host:port`, or
 * `$AOS_URL`), every command goes through its REST API with the admin token (`$AOS_TOKEN`, else
 * `<data_dir>/admin.token`). When none answers, read-only commands open the kernel in-process on the same
 * storage (no recovery, so nothing runs) and live commands fail with an error that names `aos start`.
 * The REST contract lives in src/api/; this file only speaks it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { peekServerLocation, type ServerLocation } from '../config/peek.js';
import { KernelError } from '../errors.js';
import type { Kernel, ProcessInfo } from '../kernel/kernel.js';
import { CLI_PROBE_TIMEOUT_MS, CLI_REQUEST_TIMEOUT_MS } from '../param.js';
import { setLogLevel } from '../util/log.js';
import { type HttpAnswer, httpText } from './http.js';

export type { ProcessInfo } from '../kernel/kernel.js';

type WorkspaceRemoved = { pid: number; path: string; removed: boolean };

export interface StepItem {
  stepNo: number;
  kind: string;
  record: {
    kind?: string;
    thought?: string;
    text?: string;
    toolCalls?: Array<{ id?: string; name: string; arguments: string; ok?: boolean; output?: string }>;
  };
  usage: Record<string, number>;
  createdAt: string;
}

export interface SchedulerView {
  policy: string;
  runQueue: unknown[];
  runQueueByModel?: Record<string, number>;
  slots: Record<string, { busy: number; total: number; auto?: { basis: string; latencyMs: number | null } }>;
  dispatches?: number;
  preemptions?: number;
  quotaDenials?: number;
  rateLimits?: unknown;
}

export interface ServerEvent {
  event: string;
  data: Record<string, unknown>;
}

export type ProcAction = 'suspend' | 'resume' | 'kill' | 'checkpoint';

/** A tool call waiting for a human decision (GET /api/v1/approvals). */
export interface PendingApprovalView {
  id: string;
  pid: number;
  tool: string;
  args: unknown;
  reason: string;
  createdAt: string;
  expiresAt: string;
}

export type Decision = 'approve' | 'deny';

/** What every client command needs; implemented by the HTTP client and the in-process one. */
export interface KernelClient {
  readonly mode: 'server' | 'local';
  /** Where the commands go, for messages: the server URL or the storage URL. */
  readonly target: string;
  listProcesses(q?: { state?: string; limit?: number; offset?: number }): Promise<{
    items: ProcessInfo[];
    total: number;
  }>;
  getProcess(pid: number): Promise<ProcessInfo>;
  steps(pid: number): Promise<StepItem[]>;
  scheduler(): Promise<SchedulerView | null>;
  spawn(o: { name: string; task: string; priority?: number; model?: string }): Promise<number>;
  control(pid: number, action: ProcAction): Promise<Record<string, unknown>>;
  restore(checkpointId: number, o?: { into?: 'new' | 'same'; name?: string }): Promise<number>;
  removeWorkspace(pid: number): Promise<WorkspaceRemoved>;
  /** A user message to a process (a conversation turn); `continued` when it restarted an exited one. */
  message(pid: number, text: string): Promise<{ continued: boolean; state: string }>;
  /** Tool calls waiting for a human, oldest first. Approvals live in the running kernel only. */
  approvals(): Promise<PendingApprovalView[]>;
  decide(id: string, d: Decision, reason?: string): Promise<{ id: string; decision: string; by: string }>;
  /** Server-sent events until `signal` aborts; `deltas` adds llm.delta/llm.restart, `pid` filters. */
  events(onEvent: (e: ServerEvent) => void, signal: AbortSignal, o?: EventsOptions): Promise<void>;
  close(): Promise<void>;
}

export type EventsOptions = { deltas?: boolean; pid?: number };

export interface ConnectOptions {
  configPath?: string;
  /** Server base URL, e.g. http://127.0.0.1:7878 (overrides `$AOS_URL` and config). */
  url?: string;
  token?: string;
  /** Never fall back to the in-process kernel (commands that only make sense live). */
  requireServer?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** The URL a local server for this config would answer at. */
export function serverUrl(config: ServerLocation, env: NodeJS.ProcessEnv = process.env): string {
  if (env.AOS_URL) return env.AOS_URL.replace(/\/+$/, '');
  const host =
    config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  const h = host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${config.server.port}`;
}

/** The admin token: `$AOS_TOKEN`, else `<data_dir>/admin.token` (written by `aos start`), else null. */
export function readToken(config: ServerLocation, env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.AOS_TOKEN) return env.AOS_TOKEN.trim();
  const file = resolve(config.data_dir, 'admin.token');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

/**
 * The running server's client when one answers at the configured URL, else null (the caller then opens
 * storage itself). A server that answers without a token we can present is an error: falling back to the
 * storage would only meet its lock.
 */
export async function serverClient(o: ConnectOptions = {}): Promise<HttpClient | null> {
  const env = o.env ?? process.env;
  const config = await locate(o, env);
  const url = (o.url ?? serverUrl(config, env)).replace(/\/+$/, '');
  if (!(await probe(url))) return null;
  const token = o.token ?? readToken(config, env);
  if (!token) {
    throw new KernelError(
      'EPERM',
      `a server answers at ${url} but no token was found; set AOS_TOKEN or check ${resolve(config.data_dir, 'admin.token')} (written by \`aos start\`)`,
    );
  }
  return new HttpClient(url, token);
}

/** Connects to a running server when one answers, else opens the kernel in-process (read-only use). */
export async function connect(o: ConnectOptions = {}): Promise<KernelClient> {
  const env = o.env ?? process.env;
  const where = await locate(o, env);
  const url = (o.url ?? serverUrl(where, env)).replace(/\/+$/, '');
  const token = o.token ?? readToken(where, env);
  if (await probe(url)) {
    if (!token) {
      throw new KernelError(
        'EPERM',
        `a server answers at ${url} but no token was found; set AOS_TOKEN or check ${resolve(where.data_dir, 'admin.token')} (written by \`aos start\`)`,
      );
    }
    return new HttpClient(url, token);
  }
  if (o.requireServer) throw noServer(url);
  const { loadConfig } = await import('../config/load.js');
  const { config, file } = loadConfig({ ...(o.configPath ? { path: o.configPath } : {}), env });
  setLogLevel('warn'); // boot chatter (migrations) would bury a listing
  const { createKernel } = await import('../kernel/kernel.js');
  const kernel = await createKernel({
    ...(file ? { configPath: file } : {}),
    recover: false,
    plugins: false,
  }).catch((err: unknown) => {
    if (err instanceof KernelError && err.code === 'ELOCKED') {
      throw new KernelError(
        'ELOCKED',
        `no server answers at ${url}, and the storage is locked by another process: ${err.message} If that process is \`aos start\` still booting or busy, retry in a moment; if it serves another address, set AOS_URL to it`,
        { cause: err },
      );
    }
    throw err;
  });
  return new LocalClient(kernel, url, config.storage.url);
}

/**
 * Where the server for this config listens and where its token is: read without validating the whole
 * config (peek.ts) — the path every command against a running server takes; on anything unexpected the
 * full loader runs and names the error.
 */
async function locate(o: ConnectOptions, env: NodeJS.ProcessEnv): Promise<ServerLocation> {
  const path = o.configPath ? { path: o.configPath } : {};
  const peeked = await peekServerLocation({ ...path, env });
  if (peeked) return peeked;
  const { loadConfig } = await import('../config/load.js');
  return loadConfig({ ...path, env }).config;
}

function noServer(url: string): KernelError {
  return new KernelError(
    'ESTATE',
    `no kernel server answers at ${url}; this command needs a running kernel. Start one with \`aos start\` (or set AOS_URL to where it runs)`,
  );
}

async function probe(url: string): Promise<boolean> {
  try {
    const res = await httpText('GET', `${url}/api/v1/health`, { timeoutMs: CLI_PROBE_TIMEOUT_MS });
    // any HTTP answer means a server is there (401 is still our server, just without a token)
    return res.status < 500 || res.status === 503;
  } catch {
    return false;
  }
}

// ── HTTP ─────────────────────────────────────────────────────────────────────────────────────────

export class HttpClient implements KernelClient {
  readonly mode = 'server';
  constructor(
    readonly target: string,
    private readonly token: string,
  ) {}

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const { json } = await this.send(method, path, body);
    return json as T;
  }

  /** A route that answers text (JSONL exports, Prometheus). */
  async requestText(method: 'GET', path: string): Promise<string> {
    return (await this.send(method, path)).text;
  }

  private async send(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<{ json: unknown; text: string }> {
    let res: HttpAnswer;
    try {
      res = await httpText(method, `${this.target}/api/v1${path}`, {
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        timeoutMs: CLI_REQUEST_TIMEOUT_MS,
      });
    } catch (err) {
      throw new KernelError(
        'EBACKEND',
        `${method} ${this.target}/api/v1${path} failed: ${(err as Error).message}; is \`aos start\` still running?`,
        { cause: err },
      );
    }
    const text = res.text;
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.status < 200 || res.status > 299) {
      const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
      if (res.status === 401 || res.status === 403) {
        throw new KernelError(
          'EPERM',
          `${e?.message ?? `HTTP ${res.status}`} (${method} ${path}); check AOS_TOKEN or <data_dir>/admin.token`,
        );
      }
      throw new KernelError(
        (e?.code as never) ?? 'EBACKEND',
        e?.message ?? `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`,
      );
    }
    return { json, text };
  }

  listProcesses(q: { state?: string; limit?: number; offset?: number } = {}) {
    const qs = new URLSearchParams();
    if (q.state) qs.set('state', q.state);
    if (q.limit !== undefined) qs.set('limit', String(q.limit));
    if (q.offset !== undefined) qs.set('offset', String(q.offset));
    const s = qs.toString();
    return this.request<{ items: ProcessInfo[]; total: number }>('GET', `/processes${s ? `?${s}` : ''}`);
  }

  getProcess(pid: number) {
    return this.request<ProcessInfo>('GET', `/processes/${pid}`);
  }

  async steps(pid: number) {
    return (await this.request<{ items: StepItem[] }>('GET', `/processes/${pid}/steps`)).items;
  }

  scheduler() {
    return this.request<SchedulerView>('GET', '/scheduler');
  }

  async spawn(o: { name: string; task: string; priority?: number; model?: string }) {
    return (await this.request<{ pid: number }>('POST', '/processes', o)).pid;
  }

  control(pid: number, action: ProcAction) {
    return this.request<Record<string, unknown>>('POST', `/processes/${pid}/${action}`, {});
  }

  removeWorkspace(pid: number) {
    return this.request<WorkspaceRemoved>('DELETE', `/processes/${pid}/workspace`);
  }

  async restore(checkpointId: number, o: { into?: 'new' | 'same'; name?: string } = {}) {
    return (await this.request<{ pid: number }>('POST', `/checkpoints/${checkpointId}/restore`, o)).pid;
  }

  message(pid: number, text: string) {
    return this.request<{ continued: boolean; state: string }>('POST', `/processes/${pid}/messages`, {
      text,
    });
  }

  async approvals() {
    return (await this.request<{ items: PendingApprovalView[] }>('GET', '/approvals')).items;
  }

  decide(id: string, d: Decision, reason?: string) {
    return this.request<{ id: string; decision: string; by: string }>(
      'POST',
      `/approvals/${encodeURIComponent(id)}/${d}`,
      reason ? { reason } : {},
    );
  }

  async events(onEvent: (e: ServerEvent) => void, signal: AbortSignal, o: EventsOptions = {}): Promise<void> {
    let res: Response;
    const qs = `?${new URLSearchParams({ ...(o.deltas ? { deltas: '1' } : {}), ...(o.pid ? { pid: `${o.pid}` } : {}) })}`;
    try {
      res = await fetch(`${this.target}/api/v1/events${qs}`, {
        headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' },
        signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      throw new KernelError('EBACKEND', `event stream at ${this.target} failed: ${(err as Error).message}`);
    }
    if (!res.ok || !res.body) throw new KernelError('EBACKEND', `event stream: HTTP ${res.status}`);
    const parser = new SseParser(onEvent);
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.push(decoder.decode(chunk, { stream: true }));
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  async close(): Promise<void> {}
}

/** Incremental text/event-stream parser: `event:` + `data:` lines, a blank line ends an event. */
export class SseParser {
  private buf = '';
  private event = 'message';
  private data: string[] = [];
  constructor(private readonly onEvent: (e: ServerEvent) => void) {}

  push(text: string): void {
    this.buf += text;
    let nl = this.buf.search(/\r?\n/);
    while (nl >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(this.buf[nl] === '\r' ? nl + 2 : nl + 1);
      this.line(line);
      nl = this.buf.search(/\r?\n/);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length) {
        const raw = this.data.join('\n');
        let data: Record<string, unknown>;
        try {
          data = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          data = { text: raw };
        }
        this.onEvent({ event: this.event, data });
      }
      this.event = 'message';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

// ── in-process ───────────────────────────────────────────────────────────────────────────────────

export class LocalClient implements KernelClient {
  readonly mode = 'local';
  readonly target: string;
  constructor(
    readonly kernel: Kernel,
    private readonly url: string,
    storageUrl: string,
  ) {
    this.target = storageUrl;
  }

  async listProcesses(q: { state?: string; limit?: number; offset?: number } = {}) {
    const all = (await this.kernel.status()).processes.filter((p) => !q.state || p.state === q.state);
    const offset = q.offset ?? 0;
    const items = all.slice(offset, q.limit !== undefined ? offset + q.limit : undefined);
    return { items, total: all.length };
  }

  getProcess(pid: number) {
    return this.kernel.get(pid);
  }

  async steps(pid: number): Promise<StepItem[]> {
    await this.kernel.get(pid); // ENOPROC for an unknown pid rather than an empty timeline
    const rows = await this.kernel.steps(pid, { limit: 10_000 });
    return rows.map((r) => ({
      stepNo: r.stepNo,
      kind: r.kind,
      record: (r.record ?? {}) as StepItem['record'],
      usage: r.usage as Record<string, number>,
      createdAt: new Date(r.createdAt).toISOString(),
    }));
  }

  async scheduler(): Promise<null> {
    return null; // nothing is scheduled in a kernel that runs no processes
  }

  spawn(): Promise<number> {
    throw noServer(this.url);
  }
  control(): Promise<Record<string, unknown>> {
    throw noServer(this.url);
  }
  restore(): Promise<number> {
    throw noServer(this.url);
  }
  removeWorkspace = (): Promise<WorkspaceRemoved> => Promise.reject(noServer(this.url));
  message(): Promise<{ continued: boolean; state: string }> {
    throw noServer(this.url);
  }
  /** A kernel opened only to read storage runs nothing, so nothing can be waiting for a decision. */
  async approvals(): Promise<PendingApprovalView[]> {
    return [];
  }
  decide(): Promise<{ id: string; decision: string; by: string }> {
    throw noServer(this.url);
  }
  events(): Promise<void> {
    throw noServer(this.url);
  }

  close(): Promise<void> {
    return this.kernel.shutdown();
  }
}

/** Opens a client, runs `fn`, always closes (the in-process kernel holds the storage lock). */
export async function withClient<T>(o: ConnectOptions, fn: (c: KernelClient) => Promise<T>): Promise<T> {
  const c = await connect(o);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/**
 * The approval an id (or a unique prefix of one, as `aos ps` shows) names; a clear error when none or
 * several match, listing what is pending.
 */
export function matchApproval(pending: PendingApprovalView[], id: string): PendingApprovalView {
  const exact = pending.find((p) => p.id === id);
  if (exact) return exact;
  const hits = pending.filter((p) => p.id.startsWith(id));
  if (hits.length === 1) return hits[0]!;
  const list = pending.map((p) => `${p.id} (pid ${p.pid} ${p.tool})`).join(', ') || 'none';
  throw new KernelError(
    hits.length ? 'EINVAL' : 'ENOTFOUND',
    hits.length
      ? `approval id "${id}" matches ${hits.length} pending approvals; give more characters (pending: ${list})`
      : `no pending approval "${id}"; it was decided, timed out, or never existed (pending: ${list}; \`aos approvals\` lists them)`,
  );
}

/** A pid or checkpoint id from the command line, or a clear EINVAL. */
export function parseId(s: string, what = 'pid'): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0)
    throw new KernelError('EINVAL', `${what} must be a positive integer, got "${s}"`);
  return n;
}
