/**
 * Views that tell the truth, through the HTTP API: with one LLM slot held by a process whose model call
 * never returns, the processes behind it report `waiting` on `slot` (not `running`), the run queue route
 * names them with their waiting time, and the scheduler's counts agree. `aos ps` renders that state as
 * `waiting(slot)` (stateText). A model that hangs keeps the picture still, so nothing depends on timing.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { stateText } from '../../src/cli/commands/ps.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';

let kernel: Kernel;
let server: ApiServer;
let dir: string;
let token: string;

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
async function api(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return res.json();
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aos-views-'));
  kernel = await createKernel({
    config: {
      data_dir: join(dir, 'data'),
      storage: { url: 'memory://' },
      scheduler: { slots_per_model: 1 },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
    },
    // every model call hangs until it is aborted: the first process holds the only slot for good
    models: resolverFromProvider(new SimulatedProvider({ scenario: () => ({ hang: true }) })),
    recover: false,
    plugins: false,
  });
  server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
  token = readFileSync(server.adminTokenFile, 'utf8').trim();
}, 60_000);

afterAll(async () => {
  await server?.close();
  await kernel?.shutdown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('truthful process states', () => {
  it('processes queued for an LLM slot are waiting(slot), not running, and the run queue names them', async () => {
    const a = (await api('POST', '/processes', { name: 'holder', task: 'first' })).pid;
    await until(
      () => api('GET', `/processes/${a}`),
      (p) => p.state === 'running',
    );
    const b = (await api('POST', '/processes', { name: 'second', task: 'second' })).pid;
    const c = (await api('POST', '/processes', { name: 'third', task: 'third' })).pid;
    const list = await until(
      () => api('GET', '/processes'),
      (l) => l.items.filter((p: { waitOn: string }) => p.waitOn === 'slot').length === 2,
    );
    const by = new Map(list.items.map((p: { pid: number }) => [p.pid, p]));
    expect(by.get(a)).toMatchObject({ state: 'running', waitOn: '' });
    for (const pid of [b, c]) expect(by.get(pid)).toMatchObject({ state: 'waiting', waitOn: 'slot' });
    expect(stateText(by.get(b) as { state: 'waiting'; waitOn: string })).toBe('waiting(slot)');
    expect(list.items.filter((p: { state: string }) => p.state === 'running')).toHaveLength(1);

    const q = await api('GET', '/scheduler/queue');
    expect(q.items.map((i: { pid: number }) => i.pid).sort()).toEqual([b, c].sort());
    expect(q.items[0]).toMatchObject({ model: 'sim-react', name: 'second' }); // longest waiting first
    for (const i of q.items) expect(i.waitingMs).toBeGreaterThanOrEqual(0);
    const [model] = Object.keys(q.models);
    expect(q.models[model!]).toEqual({ busy: 1, total: 1, queued: 2 });
    const s = await api('GET', '/scheduler');
    expect(s.runQueue).toBe(2);

    // killing a queued process takes it out of the queue; the holder is still the one running
    await api('POST', `/processes/${b}/kill`, {});
    const after = await api('GET', '/scheduler/queue');
    expect(after.items.map((i: { pid: number }) => i.pid)).toEqual([c]);
    for (const pid of [a, c]) await api('POST', `/processes/${pid}/kill`, {});
    const killed = await api('GET', `/processes/${a}`);
    expect(killed.exitReason).toMatch(/^killed/);
  });
});
