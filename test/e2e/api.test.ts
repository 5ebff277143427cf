/**
 * The HTTP API end to end: a kernel on memory:// with the simulator, the server built by createServer,
 * requests through app.inject (and one real socket for server-sent events). Every route is exercised for
 * success; every authenticated route for 401 (no token) and 403 (role too low); inputs for 400 and
 * missing objects for 404. A final check fails if a route was added without a success test.
 */
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorBodySchema } from '../../src/api/errors.js';
import * as S from '../../src/api/schemas.js';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import { type AgentProgram, done } from '../../src/kernel/program.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';

/** Waits for a message that never comes: a live process that uses no model. */
const sleeper: AgentProgram<{ n: number }> = {
  name: 'sleeper',
  init: () => ({ n: 0 }),
  async step(s, sys) {
    await sys.call('ipc.recv', { timeoutMs: 600_000 });
    return done(s, 'woke');
  },
};

let kernel: Kernel;
let server: ApiServer;
let dataDir: string;
let workspace: string;
const tok = { admin: '', operator: '', viewer: '' };
const covered = new Set<string>();

interface Res {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of every route shape
  body: any;
  headers: Record<string, unknown>;
  text: string;
}

/** The route a request reached: as in Fastify, a static segment wins over a parameter (/memory/search, /memory/:id). */
function routeKey(method: string, url: string): string | null {
  const path = url.split('?')[0]!;
  const params = (p: string) => (p.match(/:/g) ?? []).length;
  const hits = server.routes
    .filter(
      (r) => r.method === method && new RegExp(`^${r.path.replace(/:[A-Za-z_]+/g, '[^/]+')}$`).test(path),
    )
    .sort((a, b) => params(a.path) - params(b.path));
  return hits[0] ? `${hits[0].method} ${hits[0].path}` : null;
}

async function call(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  o: { token?: string; body?: unknown; raw?: string; on?: ApiServer } = {},
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let payload: string | undefined;
  if (o.raw !== undefined) {
    payload = o.raw;
    headers['content-type'] = 'application/json';
  } else if (o.body !== undefined) {
    payload = JSON.stringify(o.body);
    headers['content-type'] = 'application/json';
  }
  const r = await (o.on ?? server).app.inject({
    method,
    url,
    headers,
    ...(payload !== undefined ? { payload } : {}),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of every route shape
  let body: any = null;
  try {
    body = r.json();
  } catch {
    body = null;
  }
  if (r.statusCode < 300) {
    const k = routeKey(method, url);
    if (k) covered.add(k);
  }
  return { status: r.statusCode, body, headers: r.headers, text: r.body };
}

function expectError(r: Res, status: number, code?: string): void {
  expect(r.status, r.text).toBe(status);
  expect(errorBodySchema.safeParse(r.body).success, r.text).toBe(true);
  if (code) expect(r.body.error.code).toBe(code);
}

async function waitExit(pid: number): Promise<void> {
  await kernel.wait(pid, 30_000);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'aos-api-'));
  workspace = mkdtempSync(join(tmpdir(), 'aos-api-ws-'));
  kernel = await createKernel({
    storage: 'memory://',
    config: {
      data_dir: dataDir,
      security: {
        sandbox: 'none',
        workspace,
        shared_workspace: false,
        default_policy: { ask_tools: ['write_file'] },
      },
      api_keys: { openai: 'sk-test-secret-value-0123456789abcdef' },
      // a tenant no process here belongs to: its budget is set through the API below
      gateway: { tenants: { audit: { max_calls: 10 } } },
    },
    models: resolverFromProvider(new SimulatedProvider()),
    programs: [sleeper],
    plugins: false,
  });
  server = await createServer(kernel, { listen: false, dashboardDir: null });
  tok.admin = readFileSync(server.adminTokenFile, 'utf8').trim();
  const op = await call('POST', '/api/v1/tokens', {
    token: tok.admin,
    body: { name: 'ops', role: 'operator' },
  });
  const vw = await call('POST', '/api/v1/tokens', {
    token: tok.admin,
    body: { name: 'watcher', role: 'viewer' },
  });
  tok.operator = op.body.token;
  tok.viewer = vw.body.token;
});

afterAll(async () => {
  await server?.close();
  await kernel?.shutdown();
});

describe('api: auth', () => {
  it('writes the first admin token to <data_dir>/admin.token with mode 0600', () => {
    expect(server.adminTokenCreated).toBe(true);
    expect(statSync(server.adminTokenFile).mode & 0o777).toBe(0o600);
    expect(tok.admin).toMatch(/^aos_[A-Za-z0-9_-]{40,}$/);
  });

  it('replaces the admin token file when its token was revoked (the owner is never locked out)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'aos-api-tok-'));
    const first = await createServer(kernel, { listen: false, dashboardDir: null, dataDir: d });
    const t1 = readFileSync(first.adminTokenFile, 'utf8').trim();
    await first.close();
    const again = await createServer(kernel, { listen: false, dashboardDir: null, dataDir: d });
    expect(again.adminTokenCreated).toBe(false);
    await again.close();
    const held = await again.tokens.verify(t1);
    await again.tokens.revoke(held!.id);
    const third = await createServer(kernel, { listen: false, dashboardDir: null, dataDir: d });
    expect(third.adminTokenCreated).toBe(true);
    const t3 = readFileSync(third.adminTokenFile, 'utf8').trim();
    expect(t3).not.toBe(t1);
    expect((await third.tokens.verify(t3))?.role).toBe('admin');
    await third.close();
  });

  it("a second kernel on another database in the same data dir never overwrites the first's admin.token", async () => {
    const d = mkdtempSync(join(tmpdir(), 'aos-api-tok2-'));
    const first = await createServer(kernel, { listen: false, dashboardDir: null, dataDir: d });
    const t1 = readFileSync(first.adminTokenFile, 'utf8').trim();
    const other = await createKernel({
      storage: 'memory://',
      config: { data_dir: d, security: { sandbox: 'none', workspace } },
      models: resolverFromProvider(new SimulatedProvider()),
      plugins: false,
    });
    try {
      const second = await createServer(other, { listen: false, dashboardDir: null });
      expect(second.adminTokenCreated).toBe(false);
      expect(readFileSync(second.adminTokenFile, 'utf8').trim()).toBe(t1);
      // the one token in the file works on both kernels
      expect((await second.tokens.verify(t1))?.role).toBe('admin');
      expect((await first.tokens.verify(t1))?.role).toBe('admin');
      await second.close();
    } finally {
      await other.shutdown();
      await first.close();
    }
  });

  it('stores only hashes of tokens', async () => {
    const { rows } = await kernel.storage.driver.query<{ token_hash: string }>(
      'SELECT token_hash FROM api_tokens',
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const r of rows) {
      expect(r.token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect([tok.admin, tok.operator, tok.viewer]).not.toContain(r.token_hash);
    }
  });

  it('nodes: on embedded storage one kernel, no cluster, and says which node answered', async () => {
    const r = await call('GET', '/api/v1/nodes', { token: tok.viewer });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ self: kernel.nodeId, clustered: false, items: [], limits: [], budgets: [] });
  });

  it('budgets: an admin sets a declared budget’s limit for every node; an undeclared one is 404', async () => {
    const set = await call('POST', '/api/v1/budgets/tenant:audit:calls/limit', {
      token: tok.admin,
      body: { limit: 25 },
    });
    expect(set.status, set.text).toBe(200);
    expect(set.body).toEqual({ name: 'tenant:audit:calls', limit: 25, used: 0 });
    const nodes = await call('GET', '/api/v1/nodes', { token: tok.viewer });
    expect(nodes.body.budgets).toEqual([{ name: 'tenant:audit:calls', limit: 25, used: 0, spent: 0 }]);
    expectError(
      await call('POST', '/api/v1/budgets/kernel:tokens/limit', { token: tok.admin, body: { limit: 5 } }),
      404,
      'ENOTFOUND',
    );
    expectError(
      await call('POST', '/api/v1/budgets/tenant:audit:calls/limit', {
        token: tok.operator,
        body: { limit: 5 },
      }),
      403,
    );
  });

  it('whoami names the token and its role', async () => {
    const r = await call('GET', '/api/v1/whoami', { token: tok.operator });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'ops', role: 'operator' });
  });

  it('answers 401 without a token and with a bad one, for every authenticated route', async () => {
    for (const rt of server.routes) {
      if (rt.access === 'public') continue;
      const url = rt.path.replace(':pid', '1').replace(':id', '1').replace(':name', 'calculator');
      const none = await call(rt.method, url, rt.method === 'GET' ? {} : { body: {} });
      expectError(none, 401, 'EAUTH');
      const bad = await call(rt.method, url, {
        token: 'aos_not-a-real-token-000000000000000000000',
        ...(rt.method === 'GET' ? {} : { body: {} }),
      });
      expectError(bad, 401, 'EAUTH');
    }
    expectError(await call('GET', '/api/v1/whoami', { token: 'garbage' }), 401);
    const malformed = await server.app.inject({
      method: 'GET',
      url: '/api/v1/whoami',
      headers: { authorization: 'Basic abc' },
    });
    expect(malformed.statusCode).toBe(401);
  });

  it('answers 403 when the role is too low, for every operator and admin route', async () => {
    for (const rt of server.routes) {
      const url = rt.path.replace(':pid', '1').replace(':id', '1').replace(':name', 'calculator');
      const opts = rt.method === 'GET' ? {} : { body: {} };
      if (rt.access === 'operator' || rt.access === 'admin') {
        const r = await call(rt.method, url, { token: tok.viewer, ...opts });
        expectError(r, 403, 'EPERM');
        expect(r.body.error.details).toMatchObject({ need: rt.access, have: 'viewer' });
      }
      if (rt.access === 'admin')
        expectError(await call(rt.method, url, { token: tok.operator, ...opts }), 403, 'EPERM');
    }
  });

  it('lists and revokes tokens; a revoked token is refused', async () => {
    const created = await call('POST', '/api/v1/tokens', {
      token: tok.admin,
      body: { name: 'temp', role: 'viewer' },
    });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^aos_/);
    const list = await call('GET', '/api/v1/tokens', { token: tok.admin });
    expect(list.status).toBe(200);
    expect(list.body.items.map((t: { name: string }) => t.name)).toEqual(
      expect.arrayContaining(['ops', 'watcher', 'temp']),
    );
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    expect((await call('GET', '/api/v1/whoami', { token: created.body.token })).status).toBe(200);
    const rev = await call('DELETE', `/api/v1/tokens/${created.body.id}`, { token: tok.admin });
    expect(rev.status).toBe(200);
    expect(rev.body.revokedAt).not.toBeNull();
    expectError(await call('GET', '/api/v1/whoami', { token: created.body.token }), 401, 'EAUTH');
    expectError(await call('DELETE', '/api/v1/tokens/tok_nope', { token: tok.admin }), 404, 'ENOTFOUND');
    expectError(
      await call('POST', '/api/v1/tokens', { token: tok.admin, body: { name: 'x', role: 'root' } }),
      400,
      'EINVAL',
    );
  });

  it('opens CORS only to the configured origins', async () => {
    const s2 = await createServer(kernel, {
      listen: false,
      dashboardDir: null,
      dataDir,
      corsOrigins: ['http://ok.example'],
    });
    try {
      const pre = await s2.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/processes',
        headers: { origin: 'http://ok.example' },
      });
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe('http://ok.example');
      expect(String(pre.headers['access-control-allow-headers'])).toContain('authorization');
      const other = await s2.app.inject({
        method: 'GET',
        url: '/api/v1/health',
        headers: { origin: 'http://evil.example' },
      });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await s2.close();
    }
  });

  it('keeps CORS closed by default', async () => {
    const r = await server.app.inject({
      method: 'GET',
      url: '/api/v1/health',
      headers: { origin: 'http://evil.example' },
    });
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await server.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/processes',
      headers: { origin: 'http://evil.example' },
    });
    expect(pre.statusCode).toBe(403);
  });
});

describe('api: system routes', () => {
  it('health and ready need no token', async () => {
    const h = await call('GET', '/api/v1/health');
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ ok: true, version: expect.any(String) });
    expect(typeof h.body.uptimeMs).toBe('number');
    const r = await call('GET', '/api/v1/ready');
    expect(r.body).toEqual({ ready: true });
  });

  it('lists models including the simulator', async () => {
    const r = await call('GET', '/api/v1/models', { token: tok.viewer });
    expect(r.status).toBe(200);
    expect(r.body.items.some((m: { simulated: boolean }) => m.simulated)).toBe(true);
    for (const m of r.body.items) expect(S.modelSchema.safeParse(m).success).toBe(true);
  });

  it('lists gateway sessions (none yet: the gateway tests drive them)', async () => {
    const g = await call('GET', '/api/v1/gateway/sessions', { token: tok.viewer });
    expect(g.status).toBe(200);
    expect(g.body).toHaveProperty('items');
    expect(g.body).toHaveProperty('stats');
  });

  it('shows the scheduler snapshot and the metrics summary', async () => {
    const s = await call('GET', '/api/v1/scheduler', { token: tok.viewer });
    expect(s.status).toBe(200);
    expect(s.body).toHaveProperty('runQueue');
    expect(s.body).toHaveProperty('slots');
    const q = await call('GET', '/api/v1/scheduler/queue', { token: tok.viewer });
    expect(q.status).toBe(200);
    expect(q.body.items).toEqual([]); // nothing waits for a slot here (test/e2e/views.test.ts makes some)
    const m = await call('GET', '/api/v1/metrics/summary', { token: tok.viewer });
    expect(m.status).toBe(200);
    expect(S.summarySchema.safeParse(m.body).success, m.text).toBe(true);
  });

  it('serves the effective config to admins with secrets redacted', async () => {
    const r = await call('GET', '/api/v1/config', { token: tok.admin });
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('sk-test-secret-value');
    expect(r.body.config.server.port).toBe(7878);
    expect(r.body.config.api_keys.openai).toBe('[REDACTED]');
    expect(r.body.config.scheduler.time_slice_tokens).toBeGreaterThan(0);
  });

  it('serves Prometheus text at /metrics to a viewer', async () => {
    expectError(await call('GET', '/metrics'), 401);
    const r = await call('GET', '/metrics', { token: tok.viewer });
    expect(r.status).toBe(200);
    expect(String(r.headers['content-type'])).toContain('text/plain');
    expect(r.text).toContain('aos_processes');
  });

  it('serves an OpenAPI 3.1 document describing every route', async () => {
    const r = await call('GET', '/docs/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    for (const rt of server.routes) {
      const p = rt.path.replace(/:([A-Za-z_]+)/g, '{$1}');
      expect(r.body.paths[p]?.[rt.method.toLowerCase()], `${rt.method} ${rt.path}`).toBeDefined();
    }
    expect(
      r.body.paths['/api/v1/processes'].post.requestBody.content['application/json'].schema.required,
    ).toEqual(['task']); // name defaults to the profile's (agent) or "agent"
    const html = await call('GET', '/docs');
    expect(html.status).toBe(200);
    expect(html.text).toContain('/docs/openapi.json');
  });

  it('serves the "dashboard not built" page at / and 404s unknown API paths in the one error shape', async () => {
    const r = await call('GET', '/');
    expect(r.status).toBe(200);
    expect(r.text).toContain('npm run build');
    expectError(await call('GET', '/api/v1/nope', { token: tok.viewer }), 404, 'ENOTFOUND');
    expectError(await call('POST', '/api/v1/nope', { token: tok.viewer, body: {} }), 404, 'ENOTFOUND');
  });

  it('serves a built dashboard with client-side routes, immutable assets and no path traversal', async () => {
    const web = mkdtempSync(join(tmpdir(), 'aos-web-'));
    mkdirSync(join(web, 'assets'));
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>dash</title>');
    writeFileSync(join(web, 'assets', 'app-1234.js'), 'console.log(1)');
    const s2 = await createServer(kernel, { listen: false, dashboardDir: web, dataDir });
    try {
      const root = await s2.app.inject({ method: 'GET', url: '/' });
      expect(root.body).toContain('<title>dash</title>');
      expect(root.headers['cache-control']).toBe('no-cache');
      const spa = await s2.app.inject({ method: 'GET', url: '/processes/12' });
      expect(spa.body).toContain('<title>dash</title>');
      const js = await s2.app.inject({ method: 'GET', url: '/assets/app-1234.js' });
      expect(String(js.headers['content-type'])).toContain('text/javascript');
      expect(String(js.headers['cache-control'])).toContain('immutable');
      expect((await s2.app.inject({ method: 'GET', url: '/assets/missing.js' })).statusCode).toBe(404);
      const up = await s2.app.inject({ method: 'GET', url: '/..%2f..%2fetc%2fpasswd' });
      expect(up.body).not.toContain('root:');
    } finally {
      await s2.close();
    }
  });

  it('refuses bad JSON and oversize bodies in the one error shape', async () => {
    expectError(
      await call('POST', '/api/v1/processes', { token: tok.operator, raw: '{"name": ' }),
      400,
      'EINVAL',
    );
    const big = JSON.stringify({ name: 'big', task: 'x'.repeat(1_100_000) });
    expectError(await call('POST', '/api/v1/processes', { token: tok.operator, raw: big }), 413, 'EOVERFLOW');
  });
});

describe('api: processes', () => {
  let pid = 0;

  it('spawns an agent that runs to completion, and validates the spawn body', async () => {
    expectError(
      await call('POST', '/api/v1/processes', { token: tok.operator, body: { name: 'x' } }),
      400,
      'EINVAL',
    );
    const bad = await call('POST', '/api/v1/processes', {
      token: tok.operator,
      body: { name: 'x', task: 't', priority: 500 },
    });
    expectError(bad, 400, 'EINVAL');
    expect(bad.body.error.message).toContain('body.priority');
    expectError(
      await call('POST', '/api/v1/processes', {
        token: tok.operator,
        body: { name: 'x', task: 't', program: 'no-such-program' },
      }),
      404,
    );
    const r = await call('POST', '/api/v1/processes', {
      token: tok.operator,
      body: { name: 'calc', task: 'What is (2+3)*7?' },
    });
    expect(r.status).toBe(201);
    pid = r.body.pid;
    expect(pid).toBeGreaterThan(0);
    await waitExit(pid);
    const p = await call('GET', `/api/v1/processes/${pid}`, { token: tok.viewer });
    expect(p.status).toBe(200);
    expect(S.processInfoSchema.safeParse(p.body).success, p.text).toBe(true);
    expect(p.body.state).toBe('terminated');
    expect(String(p.body.result)).toContain('35');
  });

  it('lists processes with filters and pagination', async () => {
    const all = await call('GET', '/api/v1/processes', { token: tok.viewer });
    expect(all.status).toBe(200);
    expect(all.body.total).toBeGreaterThanOrEqual(1);
    expect(all.body.items.some((p: { pid: number }) => p.pid === pid)).toBe(true);
    const term = await call('GET', '/api/v1/processes?state=terminated&limit=1', { token: tok.viewer });
    expect(term.body.items).toHaveLength(1);
    expect(term.body.items[0].state).toBe('terminated');
    const none = await call('GET', '/api/v1/processes?state=suspended', { token: tok.viewer });
    expect(none.body).toMatchObject({ items: [], total: 0 });
    expectError(await call('GET', '/api/v1/processes?state=sleeping', { token: tok.viewer }), 400, 'EINVAL');
    expectError(await call('GET', '/api/v1/processes?limit=0', { token: tok.viewer }), 400, 'EINVAL');
  });

  it('reads steps, context, mailbox and audit of a process', async () => {
    const steps = await call('GET', `/api/v1/processes/${pid}/steps`, { token: tok.viewer });
    expect(steps.status).toBe(200);
    expect(steps.body.items.length).toBeGreaterThanOrEqual(2);
    for (const s of steps.body.items) expect(S.stepSchema.safeParse(s).success).toBe(true);
    const tools = steps.body.items.flatMap(
      (s: { record: { toolCalls?: Array<{ name: string }> } }) => s.record.toolCalls ?? [],
    );
    expect(tools.map((t: { name: string }) => t.name)).toContain('calculator');
    const after = await call('GET', `/api/v1/processes/${pid}/steps?after=1&limit=1`, { token: tok.viewer });
    expect(after.body.items[0].stepNo).toBe(2);

    const ctx = await call('GET', `/api/v1/processes/${pid}/context`, { token: tok.viewer });
    expect(ctx.status).toBe(200);
    expect(S.contextViewSchema.safeParse(ctx.body).success, ctx.text).toBe(true);
    expect(ctx.body.loaded).toBe(false); // the process exited: read from its checkpointed state
    const kinds = ctx.body.pages.map((p: { kind: string }) => p.kind);
    expect(kinds).toEqual(expect.arrayContaining(['tools', 'system', 'task', 'assistant', 'tool_result']));
    expect(ctx.body.used).toBeGreaterThan(0);
    expect(ctx.body.used).toBeLessThanOrEqual(ctx.body.budget);
    expect(ctx.body.pages.reduce((n: number, p: { tokens: number }) => n + p.tokens, 0)).toBeGreaterThan(0);
    // The previous prompt is a prefix of the current table: its pages are in the cached prefix.
    expect(ctx.body.pages[0].cachedPrefix).toBe(true);
    expect(ctx.body.cachedPrefixTokens).toBeGreaterThan(0);

    await kernel.storage.coordination.send({
      from: 'api-test',
      to: String(pid),
      topic: 'hello',
      body: { x: 1 },
    });
    const mb = await call('GET', `/api/v1/processes/${pid}/mailbox`, { token: tok.viewer });
    expect(mb.status).toBe(200);
    expect(mb.body.items[0]).toMatchObject({
      from: 'api-test',
      topic: 'hello',
      body: { x: 1 },
      deliveredAt: null,
    });

    const au = await call('GET', `/api/v1/processes/${pid}/audit`, { token: tok.viewer });
    expect(au.status).toBe(200);
    expect(au.body.items.every((e: { stream: string }) => e.stream === `proc:${pid}`)).toBe(true);
    expect(au.body.items.map((e: { kind: string }) => e.kind)).toContain('proc.exit');
  });

  it('answers 404 for a process that does not exist, on every process route', async () => {
    for (const rt of server.routes) {
      if (!rt.path.includes(':pid')) continue;
      const url = rt.path.replace(':pid', '99999');
      const r = await call(rt.method, url, {
        token: tok.admin,
        ...(rt.method === 'GET'
          ? {}
          : {
              body: rt.path.endsWith('/messages')
                ? { text: 'hello' }
                : rt.path.endsWith('/fork')
                  ? { stepNo: 1 }
                  : {},
            }),
      });
      expectError(r, 404, 'ENOPROC');
    }
    expectError(
      await call('POST', '/api/v1/checkpoints/99999/restore', { token: tok.operator, body: {} }),
      404,
      'ENOTFOUND',
    );
    expectError(await call('GET', '/api/v1/processes/abc', { token: tok.viewer }), 400, 'EINVAL');
  });

  it('answers 409 when acting on an exited process', async () => {
    expectError(await call('POST', `/api/v1/processes/${pid}/kill`, { token: tok.operator }), 409, 'ESTATE');
    expectError(
      await call('POST', `/api/v1/processes/${pid}/suspend`, { token: tok.operator }),
      409,
      'ESTATE',
    );
    expectError(
      await call('POST', `/api/v1/processes/${pid}/resume`, { token: tok.operator }),
      409,
      'ESTATE',
    );
  });

  it('continues a finished agent with a message and lists the conversation; profiles are listed', async () => {
    const sent = await call('POST', `/api/v1/processes/${pid}/messages`, {
      token: tok.operator,
      body: { text: 'Now what is 35 * 2?' },
    });
    expect(sent.status, sent.text).toBe(202);
    expect(sent.body).toMatchObject({ pid, continued: true });
    await waitExit(pid);
    const conv = await call('GET', `/api/v1/processes/${pid}/conversation`, { token: tok.viewer });
    expect(conv.status).toBe(200);
    expect(conv.body.items.map((t: { role: string }) => t.role)).toEqual([
      'user',
      'assistant',
      'user',
      'assistant',
    ]);
    expect(conv.body.items[3].text).toContain('70');
    expectError(
      await call('POST', `/api/v1/processes/${pid}/messages`, { token: tok.operator, body: {} }),
      400,
      'EINVAL',
    );
    const agents = await call('GET', '/api/v1/agents', { token: tok.viewer });
    expect(agents.status).toBe(200);
    expect(agents.body.items).toEqual([]);
  });

  it('refuses a message to an exited process whose program takes none (409)', async () => {
    const r = await call('POST', '/api/v1/processes', {
      token: tok.operator,
      body: { name: 'sl', task: 'sleep', program: 'sleeper' },
    });
    await call('POST', `/api/v1/processes/${r.body.pid}/kill`, { token: tok.operator });
    const sent = await call('POST', `/api/v1/processes/${r.body.pid}/messages`, {
      token: tok.operator,
      body: { text: 'wake up' },
    });
    expectError(sent, 409, 'ESTATE');
    expect(sent.body.error.message).toContain('takes no messages after exit');
  });

  it('checkpoints and restores a process', async () => {
    const cp = await call('POST', `/api/v1/processes/${pid}/checkpoint`, { token: tok.operator });
    expect(cp.status).toBe(200);
    expect(cp.body.checkpointId).toBeGreaterThan(0);
    const rs = await call('POST', `/api/v1/checkpoints/${cp.body.checkpointId}/restore`, {
      token: tok.operator,
      body: { name: 'restored' },
    });
    expect(rs.status).toBe(201);
    expect(rs.body.pid).not.toBe(pid);
    await waitExit(rs.body.pid);
    const p = await call('GET', `/api/v1/processes/${rs.body.pid}`, { token: tok.viewer });
    expect(p.body.name).toBe('restored');
    // The restored agent finishes its task (an exit alone would hide a restore that fails at its first step).
    expect(p.body.state).toBe('terminated');
    expect(p.body.exitReason).toBeNull();
    expect(String(p.body.result)).toContain('35');
    const orig = await call('GET', `/api/v1/processes/${pid}`, { token: tok.viewer });
    const steps = await call('GET', `/api/v1/processes/${rs.body.pid}/steps`, { token: tok.viewer });
    expect(steps.body.items[0].stepNo).toBe(orig.body.stepNo + 1);
    // Rewound into its own pid: same pid, finishes again.
    const same = await call('POST', `/api/v1/checkpoints/${cp.body.checkpointId}/restore`, {
      token: tok.operator,
      body: { into: 'same' },
    });
    expect(same.status).toBe(201);
    expect(same.body.pid).toBe(pid);
    await waitExit(pid);
    const again = await call('GET', `/api/v1/processes/${pid}`, { token: tok.viewer });
    expect(again.body.exitReason).toBeNull();
    expect(String(again.body.result)).toContain('35');
    expectError(
      await call('POST', '/api/v1/checkpoints/abc/restore', { token: tok.operator, body: {} }),
      400,
      'EINVAL',
    );
  });

  it('traces a process, forks it from a step (404 names the forkable ones), and lists the process tree', async () => {
    const tr = await call('GET', `/api/v1/processes/${pid}/trace`, { token: tok.viewer });
    expect(tr.status).toBe(200);
    const steps = tr.body.steps as Array<{
      stepNo: number;
      toolCalls: Array<{ name: string; auditId: number | null }>;
      usage: { tokensIn: number };
      fork: { checkpointId: number } | null;
      audit: Array<{ id: number; kind: string }>;
    }>;
    expect(steps.length).toBeGreaterThan(1);
    const first = steps[0]!;
    expect(first.usage.tokensIn).toBeGreaterThan(0);
    expect(first.audit.map((a) => a.kind)).toContain('llm.chat');
    const called = first.toolCalls.find((c) => c.name !== 'final_answer');
    if (called) expect(first.audit.map((a) => a.id)).toContain(called.auditId);
    const forkable = steps.filter((s) => s.fork).map((s) => s.stepNo);
    expect(forkable.length).toBeGreaterThan(0);
    const notForkable = steps.find((s) => !s.fork)!.stepNo;
    const refused = await call('POST', `/api/v1/processes/${pid}/fork`, {
      token: tok.operator,
      body: { stepNo: notForkable },
    });
    expectError(refused, 404, 'ENOTFOUND');
    expect(refused.body.error.message).toContain(`forkable steps: ${forkable.join(', ')}`);
    expect(refused.body.error.message).toContain('snapshot_every_steps');
    const fk = await call('POST', `/api/v1/processes/${pid}/fork`, {
      token: tok.operator,
      body: { stepNo: forkable[0], message: 'And what is 35 * 2?' },
    });
    expect(fk.status).toBe(201);
    expect(fk.body.stepNo).toBe(forkable[0]);
    await waitExit(fk.body.pid);
    const forked = await call('GET', `/api/v1/processes/${fk.body.pid}`, { token: tok.viewer });
    expect(forked.body.exitReason).toBeNull();
    expect(String(forked.body.result)).toContain('70');
    expect(
      (await call('POST', `/api/v1/processes/${pid}/fork`, { token: tok.viewer, body: { stepNo: 1 } }))
        .status,
    ).toBe(403);
    const tree = await call('GET', '/api/v1/processes/tree', { token: tok.viewer });
    expect(tree.status).toBe(200);
    expect(tree.body.nodes.map((n: { pid: number }) => n.pid)).toContain(fk.body.pid);
    expect(tree.body.mail).toContainEqual(
      expect.objectContaining({ to: String(fk.body.pid), count: 1, pending: 0 }),
    );
  });

  it('suspends, resumes and kills a live process', async () => {
    // A program that waits for a message keeps the process live without using the model.
    const r = await call('POST', '/api/v1/processes', {
      token: tok.operator,
      body: { name: 'sleeper', task: 'wait', program: 'sleeper' },
    });
    expect(r.status).toBe(201);
    const live = r.body.pid as number;
    const s = await call('POST', `/api/v1/processes/${live}/suspend`, { token: tok.operator });
    expect(s.status).toBe(200);
    expect(S.processInfoSchema.safeParse(s.body).success).toBe(true);
    const res = await call('POST', `/api/v1/processes/${live}/resume`, { token: tok.operator });
    expect(res.status).toBe(200);
    expectError(
      await call('POST', `/api/v1/processes/${live}/kill`, { token: tok.operator, body: { reason: 42 } }),
      400,
      'EINVAL',
    );
    const k = await call('POST', `/api/v1/processes/${live}/kill`, {
      token: tok.operator,
      body: { reason: 'test is over' },
    });
    expect(k.status).toBe(200);
    expect(['terminated', 'zombie']).toContain(k.body.state);
    // Its workspace outlives it until removed; a viewer may not remove it.
    const info = await call('GET', `/api/v1/processes/${live}`, { token: tok.viewer });
    expect(info.body.workspace).toBe(join(workspace, 'proc', String(live)));
    expect((await call('DELETE', `/api/v1/processes/${live}/workspace`, { token: tok.viewer })).status).toBe(
      403,
    );
    for (
      let i = 0;
      i < 100 &&
      !['terminated', 'zombie'].includes(
        (await call('GET', `/api/v1/processes/${live}`, { token: tok.viewer })).body.state,
      );
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    const rm = await call('DELETE', `/api/v1/processes/${live}/workspace`, { token: tok.operator });
    expect(rm.status, rm.text).toBe(200);
    expect(rm.body).toEqual({ pid: live, path: join(workspace, 'proc', String(live)), removed: true });
  });
});

describe('api: tools, approvals, memory, audit, mcp', () => {
  it('lists tools with schemas and permissions', async () => {
    const r = await call('GET', '/api/v1/tools', { token: tok.viewer });
    expect(r.status).toBe(200);
    const calc = r.body.items.find((t: { name: string }) => t.name === 'calculator');
    expect(calc).toBeDefined();
    expect(S.toolSchema.safeParse(calc).success).toBe(true);
    expect(calc.parameters.type).toBe('object');
  });

  it('calls a tool under the default policy and audits it as the caller', async () => {
    const r = await call('POST', '/api/v1/tools/calculator/call', {
      token: tok.operator,
      body: { arguments: { expression: '6*7' } },
    });
    expect(r.status).toBe(200);
    expect(S.toolResultSchema.safeParse(r.body).success, r.text).toBe(true);
    expect(r.body.ok).toBe(true);
    expect(r.body.output).toContain('42');
    const au = await call('GET', '/api/v1/audit?stream=api', { token: tok.viewer });
    expect(au.body.items.some((e: { actor: string }) => e.actor === 'api:ops')).toBe(true);
    const badArgs = await call('POST', '/api/v1/tools/calculator/call', {
      token: tok.operator,
      body: { arguments: { nope: 1 } },
    });
    expect(badArgs.status).toBe(200);
    expect(badArgs.body.ok).toBe(false);
    expectError(
      await call('POST', '/api/v1/tools/calculator/call', { token: tok.operator, body: { arguments: 'x' } }),
      400,
      'EINVAL',
    );
    expectError(
      await call('POST', '/api/v1/tools/no_such_tool/call', { token: tok.operator, body: { arguments: {} } }),
      404,
      'ENOTFOUND',
    );
    expectError(
      await call('POST', '/api/v1/tools/calculator/call', {
        token: tok.operator,
        body: { pid: 99999, arguments: {} },
      }),
      404,
      'ENOPROC',
    );
  });

  it('holds an ask-tool call for approval; approve and deny resolve it', async () => {
    const pending = call('POST', '/api/v1/tools/write_file/call', {
      token: tok.operator,
      body: { arguments: { path: 'a.txt', content: 'hello' } },
    });
    let list: Res;
    for (;;) {
      list = await call('GET', '/api/v1/approvals', { token: tok.viewer });
      if (list.body.items.length) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const ap = list.body.items[0];
    expect(S.approvalSchema.safeParse(ap).success, list.text).toBe(true);
    expect(ap.tool).toBe('write_file');
    const ok = await call('POST', `/api/v1/approvals/${ap.id}/approve`, {
      token: tok.operator,
      body: { reason: 'fine' },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ decision: 'approved', by: 'api:ops' });
    const done = await pending;
    expect(done.body.ok, done.text).toBe(true);
    // A call without a pid works in the API's own workspace, proc/0.
    expect(readFileSync(join(workspace, 'proc', '0', 'a.txt'), 'utf8')).toBe('hello');
    expectError(
      await call('POST', `/api/v1/approvals/${ap.id}/approve`, { token: tok.operator, body: {} }),
      404,
      'ENOTFOUND',
    );

    const pending2 = call('POST', '/api/v1/tools/write_file/call', {
      token: tok.operator,
      body: { arguments: { path: 'b.txt', content: 'no' } },
    });
    let id = '';
    while (!id) {
      const l = await call('GET', '/api/v1/approvals', { token: tok.viewer });
      id = l.body.items[0]?.id ?? '';
      if (!id) await new Promise((r) => setTimeout(r, 10));
    }
    expectError(
      await call('POST', `/api/v1/approvals/${id}/deny`, { token: tok.operator, body: { reason: 7 } }),
      400,
      'EINVAL',
    );
    const no = await call('POST', `/api/v1/approvals/${id}/deny`, {
      token: tok.operator,
      body: { reason: 'not today' },
    });
    expect(no.body.decision).toBe('denied');
    const refused = await pending2;
    expect(refused.body.ok).toBe(false);
    expect(refused.body.error.code).toBe('EDENIED');
    expectError(
      await call('POST', '/api/v1/approvals/nope/deny', { token: tok.operator, body: {} }),
      404,
      'ENOTFOUND',
    );
  });

  it('stores and searches memory', async () => {
    const a = await call('POST', '/api/v1/memory', {
      token: tok.operator,
      body: { content: 'The deploy key rotates every Tuesday.', owner: 'team' },
    });
    expect(a.status).toBe(201);
    expect(S.memoryRecordSchema.safeParse(a.body).success, a.text).toBe(true);
    await call('POST', '/api/v1/memory', {
      token: tok.operator,
      body: { content: 'Lunch is at noon.', owner: 'team' },
    });
    const s = await call(
      'GET',
      '/api/v1/memory/search?q=when%20does%20the%20deploy%20key%20rotate&owner=team&k=2',
      { token: tok.viewer },
    );
    expect(s.status).toBe(200);
    expect(s.body.items[0].content).toContain('deploy key');
    expectError(
      await call('POST', '/api/v1/memory', { token: tok.operator, body: { content: '' } }),
      400,
      'EINVAL',
    );
    expectError(await call('GET', '/api/v1/memory/search', { token: tok.viewer }), 400, 'EINVAL');
    // list, inspect, delete: a deleted memory is no longer listed, fetched or found
    const listed = await call('GET', '/api/v1/memory?owner=team', { token: tok.viewer });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.items.map((m: { content: string }) => m.content)).toEqual([
      'Lunch is at noon.',
      'The deploy key rotates every Tuesday.',
    ]);
    const one = await call('GET', `/api/v1/memory/${a.body.id}`, { token: tok.viewer });
    expect(one.body).toMatchObject({ id: a.body.id, owner: 'team', content: a.body.content });
    expectError(await call('DELETE', `/api/v1/memory/${a.body.id}`, { token: tok.viewer }), 403);
    const del = await call('DELETE', `/api/v1/memory/${a.body.id}`, { token: tok.operator });
    expect(del.status, del.text).toBe(200);
    expect(del.body.id).toBe(a.body.id);
    expectError(await call('GET', `/api/v1/memory/${a.body.id}`, { token: tok.viewer }), 404, 'ENOTFOUND');
    expectError(await call('DELETE', `/api/v1/memory/${a.body.id}`, { token: tok.operator }), 404);
    const after = await call('GET', '/api/v1/memory/search?q=deploy%20key&owner=team', { token: tok.viewer });
    expect(after.body.items.map((m: { id: string }) => m.id)).not.toContain(a.body.id);
    // the embedder and its vectors: this kernel embeds with the lexical hashing embedder, nothing is stale
    const e = await call('GET', '/api/v1/memory/embeddings', { token: tok.viewer });
    expect(e.status, e.text).toBe(200);
    expect(e.body).toMatchObject({ embedder: { model: 'hashing-v1-256', kind: 'lexical' }, stale: 0 });
    const r = await call('POST', '/api/v1/memory/reembed', { token: tok.admin, body: {} });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({ reembedded: 0, model: 'hashing-v1-256' });
    expectError(
      await call('POST', '/api/v1/memory/reembed', { token: tok.operator, body: {} }),
      403,
      'EPERM',
    );
  });

  it('lists the audit log with a cursor and verifies the chains', async () => {
    const first = await call('GET', '/api/v1/audit?limit=2', { token: tok.viewer });
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    const next = await call('GET', `/api/v1/audit?limit=2&after=${first.body.next}`, { token: tok.viewer });
    expect(next.body.items[0].id).toBeGreaterThan(first.body.items[1].id);
    const v = await call('POST', '/api/v1/audit/verify', { token: tok.viewer, body: {} });
    expect(v.status).toBe(200);
    expect(v.body.ok).toBe(true);
    expect(v.body.checked).toBeGreaterThan(0);
    expectError(
      await call('POST', '/api/v1/audit/verify', { token: tok.viewer, body: { stream: 5 } }),
      400,
      'EINVAL',
    );
    expectError(await call('GET', '/api/v1/audit?after=-1', { token: tok.viewer }), 400, 'EINVAL');
  });

  it("gives a process's timeline in order, from its own audit stream", async () => {
    const pid = await kernel.spawn({ name: 'tl', task: 'say hello' });
    await waitExit(pid);
    const t = await call('GET', `/api/v1/processes/${pid}/timeline`, { token: tok.viewer });
    expect(t.status, t.text).toBe(200);
    expect(t.body.items.length).toBeGreaterThan(0);
    expect(JSON.stringify(t.body.items)).toContain('exit');
  });

  it('refuses to anchor a memory:// kernel (its chain dies with it) and anchors a durable one', async () => {
    expectError(await call('POST', '/api/v1/audit/anchor', { token: tok.operator, body: {} }), 409, 'ESTATE');
    const dir = mkdtempSync(join(tmpdir(), 'aos-api-anchor-'));
    const k2 = await createKernel({
      storage: `pglite://${join(dir, 'db')}`,
      config: { data_dir: dir, security: { sandbox: 'none', workspace: join(dir, 'ws') } },
      models: resolverFromProvider(new SimulatedProvider()),
      programs: [sleeper],
      plugins: false,
    });
    const s2 = await createServer(k2, { listen: false, dashboardDir: null });
    try {
      const admin = readFileSync(s2.adminTokenFile, 'utf8').trim();
      await k2.wait(await k2.spawn({ name: 'tl', task: 'say hello' }), 30_000);
      expectError(await call('POST', '/api/v1/audit/anchor', { token: 'nope', on: s2, body: {} }), 401);
      const a = await call('POST', '/api/v1/audit/anchor', { token: admin, on: s2, body: {} });
      expect(a.status, a.text).toBe(200);
      expect(a.body.heads).toBeGreaterThan(0);
      expect(readFileSync(a.body.file, 'utf8')).toContain(a.body.keyId);
      const v = await call('POST', '/api/v1/audit/verify', { token: admin, on: s2, body: { anchors: true } });
      expect(v.status, v.text).toBe(200);
      expect(v.body.ok).toBe(true);
    } finally {
      await s2.close();
      await k2.shutdown();
    }
  });

  it('answers MCP routes with 501 EUNSUPPORTED while the kernel has no MCP manager, else serves them', async () => {
    const hasMcp = Boolean((kernel.tools as unknown as { mcp?: unknown }).mcp);
    const r = await call('GET', '/api/v1/mcp/servers', { token: tok.viewer });
    if (!hasMcp) {
      expectError(r, 501, 'EUNSUPPORTED');
      expectError(
        await call('POST', '/api/v1/mcp/servers', { token: tok.admin, body: { name: 'fs', command: 'x' } }),
        501,
      );
      expectError(await call('DELETE', '/api/v1/mcp/servers/fs', { token: tok.admin }), 501);
      expectError(await call('POST', '/api/v1/mcp/servers/fs/reconnect', { token: tok.admin }), 501);
      covered
        .add('GET /api/v1/mcp/servers')
        .add('POST /api/v1/mcp/servers')
        .add('DELETE /api/v1/mcp/servers/:name')
        .add('POST /api/v1/mcp/servers/:name/reconnect');
    } else {
      expect(r.status).toBe(200);
      expect(r.body.items).toEqual([]);
      // The real filesystem MCP server (a devDependency), over stdio.
      const fsServer = resolve('node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
      const added = await call('POST', '/api/v1/mcp/servers', {
        token: tok.admin,
        body: { name: 'fs', command: process.execPath, args: [fsServer, workspace], sandbox: false },
      });
      expect(added.status, added.text).toBe(201);
      expect(added.body).toMatchObject({ name: 'fs', transport: 'stdio', state: 'connected' });
      expect(added.body.tools).toContain('fs.read_file');
      const tools = await call('GET', '/api/v1/tools', { token: tok.viewer });
      expect(tools.body.items.map((t: { name: string }) => t.name)).toContain('fs.read_file');
      const listed = await call('GET', '/api/v1/mcp/servers', { token: tok.viewer });
      expect(listed.body.items.map((x: { name: string }) => x.name)).toEqual(['fs']);
      expectError(
        await call('POST', '/api/v1/mcp/servers', { token: tok.admin, body: { name: 'fs', command: 'x' } }),
        409,
        'EEXIST',
      );
      expectError(await call('DELETE', '/api/v1/mcp/servers/no-such', { token: tok.admin }), 404);
      // reconnect: a fresh server process, the same tools registered again
      const pid0 = (kernel.tools as unknown as { mcp: { get(n: string): { pid: number | null } } }).mcp.get(
        'fs',
      ).pid;
      const re = await call('POST', '/api/v1/mcp/servers/fs/reconnect', { token: tok.admin });
      expect(re.status, re.text).toBe(200);
      expect(re.body).toMatchObject({ name: 'fs', state: 'connected', reconnects: 1 });
      expect(re.body.tools).toContain('fs.read_file');
      const pid1 = (kernel.tools as unknown as { mcp: { get(n: string): { pid: number | null } } }).mcp.get(
        'fs',
      ).pid;
      expect(pid1).not.toBe(pid0);
      const again = await call('GET', '/api/v1/tools', { token: tok.viewer });
      expect(again.body.items.map((t: { name: string }) => t.name)).toContain('fs.read_file');
      expectError(await call('POST', '/api/v1/mcp/servers/fs/reconnect', { token: tok.operator }), 403);
      expectError(await call('POST', '/api/v1/mcp/servers/no-such/reconnect', { token: tok.admin }), 404);
      const del = await call('DELETE', '/api/v1/mcp/servers/fs', { token: tok.admin });
      const canRemove =
        typeof (kernel.tools as unknown as { mcp: { remove?: unknown } }).mcp.remove === 'function';
      if (canRemove) {
        expect(del.status, del.text).toBe(200);
        expect(del.body.items).toEqual([]);
      } else {
        // McpManager has no remove() yet: the API says so instead of half-removing the server.
        expectError(del, 501, 'EUNSUPPORTED');
        covered.add('DELETE /api/v1/mcp/servers/:name');
      }
    }
    expectError(
      await call('POST', '/api/v1/mcp/servers', { token: tok.admin, body: { name: 'bad name!' } }),
      400,
      'EINVAL',
    );
  });
});

describe('api: server-sent events', () => {
  it('delivers the steps and exit of a spawned agent over a real socket, token in the query', async () => {
    const live = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null, dataDir });
    try {
      expect(live.adminTokenCreated).toBe(false);
      const ac = new AbortController();
      const res = await fetch(
        `${live.url}/api/v1/events?token=${tok.viewer}&types=proc.step,proc.exit,proc.state,metrics`,
        { signal: ac.signal },
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      expect(live.events.size).toBe(1);
      const spawned = await fetch(`${live.url}/api/v1/processes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tok.operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'sse', task: 'What is 12*12?' }),
      });
      const { pid } = (await spawned.json()) as { pid: number };
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let buf = '';
      // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of every route shape
      const events: Array<{ event: string; data: any }> = [];
      // Read until the agent has exited and at least one metrics tick (every 2 s) has arrived.
      while (
        !events.some((e) => e.event === 'proc.exit' && e.data.pid === pid) ||
        !events.some((e) => e.event === 'metrics')
      ) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.+)$/m.exec(frame)?.[1];
          const data = /^data: (.+)$/m.exec(frame)?.[1];
          if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
          i = buf.indexOf('\n\n');
        }
      }
      const steps = events.filter((e) => e.event === 'proc.step' && e.data.pid === pid);
      expect(steps.length).toBeGreaterThanOrEqual(1);
      expect(steps[0]!.data.stepNo).toBe(1);
      expect(
        events.some((e) => e.event === 'proc.state' && e.data.pid === pid && e.data.to === 'running'),
      ).toBe(true);
      const tick = events.find((e) => e.event === 'metrics')!;
      expect(S.summarySchema.safeParse(tick.data).success).toBe(true);
      ac.abort();
      await reader.cancel().catch(() => undefined);
      // The hub drops the client once the socket closes; it keeps listening for its replay buffer
      // (late and reconnecting clients, src/api/event-replay.ts) until the server closes.
      for (let n = 0; n < 200 && live.events.size > 0; n++) await new Promise((r) => setTimeout(r, 5));
      expect(live.events.size).toBe(0);
      const bad = await fetch(`${live.url}/api/v1/events?types=nope`, {
        headers: { authorization: `Bearer ${tok.viewer}` },
      });
      expect(bad.status).toBe(400);
      const anon = await fetch(`${live.url}/api/v1/events`);
      expect(anon.status).toBe(401);
    } finally {
      await live.close();
    }
  });

  it('names the fix when the port is taken', async () => {
    const blocker = createNetServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(
        createServer(kernel, { host: '127.0.0.1', port, dashboardDir: null, dataDir }),
      ).rejects.toThrow(/already in use.*--port/);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('refuses to bind a non-loopback address that config.yaml does not name', async () => {
    await expect(createServer(kernel, { host: '0.0.0.0', port: 0 })).rejects.toThrow(/server\.host/);
  });
});

describe('api: learning', () => {
  let pid = 0;
  beforeAll(async () => {
    pid = await kernel.spawn({ name: 'calc-agent', task: 'What is 17 * 23 + 4?' });
    await waitExit(pid);
  });

  it('lists trajectories and exports them as JSONL, one documented line per step', async () => {
    const l = await call('GET', '/api/v1/trajectories?agent=calc-agent', { token: tok.viewer });
    expect(l.status, l.text).toBe(200);
    const mine = l.body.items.find((t: { pid: number }) => t.pid === pid);
    expect(mine).toMatchObject({ agent: 'calc-agent', outcome: 'done' });
    expect(mine.steps).toBeGreaterThan(1);
    const j = await call('GET', '/api/v1/trajectories?agent=calc-agent&format=jsonl', { token: tok.viewer });
    expect(j.status).toBe(200);
    expect(j.headers['content-type']).toContain('application/x-ndjson');
    const lines = j.text
      .trim()
      .split('\n')
      .map((x) => JSON.parse(x));
    expect(lines.length).toBe(mine.steps);
    expect(
      lines.every(
        (x: { schema: string; pid: number }) => x.schema === 'aos.trajectory.step/1' && x.pid === pid,
      ),
    ).toBe(true);
  });

  it("gives one process's trajectory with its tool calls, and 404s an unknown pid", async () => {
    const t = await call('GET', `/api/v1/trajectories/${pid}`, { token: tok.viewer });
    expect(t.status, t.text).toBe(200);
    const calls = t.body.steps.flatMap((s: { toolCalls: Array<{ name: string }> }) =>
      s.toolCalls.map((c) => c.name),
    );
    expect(calls).toContain('calculator');
    expect(t.body.success).toBe(true);
  });

  it('analyses an agent: success rate and suggestions, each with its evidence', async () => {
    const a = await call('GET', '/api/v1/learning/analysis?agent=calc-agent', { token: tok.viewer });
    expect(a.status, a.text).toBe(200);
    expect(a.body.runs).toBeGreaterThanOrEqual(1);
    expect(a.body.successRate).toBe(1);
    for (const s of a.body.suggestions) expect(Object.keys(s.evidence).length).toBeGreaterThan(0);
  });

  it('lists lessons (also by task similarity) and lets an operator, not a viewer, forget one', async () => {
    const learned = await kernel.learning.onExit(pid);
    expect(learned.length).toBeGreaterThan(0);
    const l = await call('GET', '/api/v1/lessons', { token: tok.viewer });
    expect(l.status).toBe(200);
    expect(l.body.items.map((x: { id: string }) => x.id)).toContain(learned[0]!.id);
    const by = await call('GET', `/api/v1/lessons?task=${encodeURIComponent('What is 12 * 7 + 1?')}`, {
      token: tok.viewer,
    });
    expect(by.status).toBe(200);
    expect(by.body.items.length).toBeGreaterThan(0);
    expectError(await call('DELETE', `/api/v1/lessons/${learned[0]!.id}`, { token: tok.viewer }), 403);
    const d = await call('DELETE', `/api/v1/lessons/${learned[0]!.id}`, { token: tok.operator });
    expect(d.status, d.text).toBe(200);
    expect(d.body.deleted).toBe(true);
    const after = await call('GET', '/api/v1/lessons', { token: tok.viewer });
    expect(after.body.items.map((x: { id: string }) => x.id)).not.toContain(learned[0]!.id);
  });

  it('applies a suggestion to a profile and reverts it, both audited with the evidence', async () => {
    const suggestion = {
      id: 'max-steps',
      title: 'raise max_steps to 32',
      evidence: { runsAtLimit: 7, share: 0.37 },
      change: { key: 'budgets.maxSteps', op: 'set', value: 32 },
    };
    expectError(
      await call('POST', '/api/v1/learning/apply', {
        token: tok.viewer,
        body: { profile: 'p1', suggestion },
      }),
      403,
    );
    expectError(
      await call('POST', '/api/v1/learning/apply', {
        token: tok.operator,
        body: { profile: 'p1', suggestion: { ...suggestion, evidence: {} } },
      }),
      400,
      'EINVAL',
    );
    const a = await call('POST', '/api/v1/learning/apply', {
      token: tok.operator,
      body: { profile: 'p1', suggestion },
    });
    expect(a.status, a.text).toBe(201);
    const p = await call('GET', '/api/v1/learning/profiles/p1', { token: tok.viewer });
    expect(p.status).toBe(200);
    expect(p.body.changes).toHaveLength(1);
    expect(p.body.changes[0]).toMatchObject({ id: a.body.id, revertedAt: null, appliedBy: 'token:ops' });
    const r = await call('POST', '/api/v1/learning/revert', { token: tok.operator, body: { profile: 'p1' } });
    expect(r.status, r.text).toBe(200);
    expect(r.body.revertedBy).toBe('token:ops');
    expectError(
      await call('POST', '/api/v1/learning/revert', { token: tok.operator, body: { profile: 'p1' } }),
      404,
      'ENOTFOUND',
    );
    const au = await call('GET', `/api/v1/audit?stream=${encodeURIComponent('profile:p1')}`, {
      token: tok.viewer,
    });
    const kinds = au.body.items.map((e: { kind: string }) => e.kind);
    expect(kinds).toEqual(['learning.apply', 'learning.revert']);
    expect(au.body.items[0].payload.evidence).toEqual(suggestion.evidence);
  });

  it('applies a change to a share of new processes and reports the arms with 95 % intervals', async () => {
    const suggestion = {
      id: 'raise-max-steps',
      title: 'raise max_steps to 6',
      evidence: { runsAtLimit: 3 },
      change: { key: 'budgets.maxSteps', op: 'set', value: 6 },
    };
    expectError(
      await call('POST', '/api/v1/learning/apply', {
        token: tok.operator,
        body: { profile: 'ab1', suggestion, share: 1.5 },
      }),
      400,
      'EINVAL',
    );
    const a = await call('POST', '/api/v1/learning/apply', {
      token: tok.operator,
      body: { profile: 'ab1', suggestion, share: 0.5 },
    });
    expect(a.status, a.text).toBe(201);
    expect(a.body.share).toBe(0.5);
    expectError(
      await call('GET', `/api/v1/learning/ab/${a.body.id}`, { token: tok.viewer }),
      404,
      'ENOTFOUND',
    );
    // what a spawn of the profile does: draw the arms, spawn with or without the change, record the arms
    let i = 0;
    for (const task of ['What is 2 + 2?', 'What is 3 + 3?', 'What is 4 + 4?', 'What is 5 + 5?']) {
      const { overrides, arms } = await kernel.profileOptimizer.forSpawn('ab1', () => (i++ % 2 ? 0.9 : 0.1));
      const withChange = overrides.changes.some((c) => c.id === a.body.id);
      expect(arms[a.body.id]).toBe(withChange ? 'change' : 'control');
      const pid = await kernel.spawn({
        name: 'ab-agent',
        task,
        ...(withChange ? { budgets: { maxSteps: 6 } } : {}),
      });
      await kernel.learning.recordArms(pid, arms);
      await waitExit(pid);
    }
    const r = await call('GET', `/api/v1/learning/ab/${a.body.id}`, { token: tok.viewer });
    expect(r.status, r.text).toBe(200);
    expect(r.body.arms.change.runs).toBe(2);
    expect(r.body.arms.control.runs).toBe(2);
    expect(r.body.arms.change.successRate.estimate).toBe(1);
    expect(r.body.difference.successRate.lo).toBeLessThanOrEqual(0);
    expect(r.body.verdict).toMatch(/no clear difference in success/);
  });

  it("serves an eval suite's history, oldest first", async () => {
    const dir = join(dataDir, 'evals');
    mkdirSync(dir, { recursive: true });
    const run = (n: number) => ({
      suite: 'demo',
      startedAt: `2026-01-0${n}T00:00:00Z`,
      summary: { passRate: n / 4 },
    });
    writeFileSync(join(dir, 'demo.jsonl'), `${JSON.stringify(run(1))}\n${JSON.stringify(run(2))}\n`);
    const h = await call('GET', '/api/v1/evals/demo', { token: tok.viewer });
    expect(h.status, h.text).toBe(200);
    expect(h.body.items.map((x: { startedAt: string }) => x.startedAt)).toEqual([
      run(1).startedAt,
      run(2).startedAt,
    ]);
    const none = await call('GET', '/api/v1/evals/nothing-here', { token: tok.viewer });
    expect(none.body.items).toEqual([]);
    // a suite name names a file in <data_dir>/evals and nothing else
    writeFileSync(join(dataDir, 'outside.jsonl'), `${JSON.stringify(run(3))}\n`);
    for (const bad of ['..%2Foutside', '%2E%2E%2Foutside', '.hidden'])
      expectError(await call('GET', `/api/v1/evals/${bad}`, { token: tok.viewer }), 400, 'EINVAL');
  });
});

describe('api: plugins', () => {
  it('an admin lists, loads and unloads a plugin; viewers list, operators cannot load', async () => {
    const file = join(dataDir, 'api-plugin.mjs');
    writeFileSync(
      file,
      "export default { name: 'api-plugin', setup(k) { k.hooks.on('proc.exit', () => {}); } };",
    );
    expect((await call('GET', '/api/v1/plugins', { token: tok.viewer })).body.items).toEqual([]);
    expectError(await call('POST', '/api/v1/plugins', { token: tok.operator, body: { module: file } }), 403);
    const added = await call('POST', '/api/v1/plugins', { token: tok.admin, body: { module: file } });
    expect(added.status, added.text).toBe(201);
    expect(added.body).toMatchObject({ name: 'api-plugin', source: 'runtime', hooks: 1 });
    expectError(await call('POST', '/api/v1/plugins', { token: tok.admin, body: { module: '' } }), 400);
    const gone = await call('DELETE', '/api/v1/plugins/api-plugin', { token: tok.admin });
    expect(gone.status, gone.text).toBe(200);
    expectError(await call('DELETE', '/api/v1/plugins/api-plugin', { token: tok.admin }), 404, 'ENOTFOUND');
  });
});

describe('api: coverage', () => {
  it('every route had a successful request in this file', () => {
    covered.add('GET /api/v1/events'); // streamed over a real socket above (inject cannot read a stream)
    const missing = server.routes.map((r) => `${r.method} ${r.path}`).filter((k) => !covered.has(k));
    expect(missing).toEqual([]);
  });
});
