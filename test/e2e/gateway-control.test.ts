/**
 * The kernel's control over gateway sessions, attacked through the wire a real agent uses: a tenant cannot
 * see or touch another tenant's sessions; a suspended session's call waits and resumes; a killed session's
 * calls get a clear error; budgets and model allowlists refuse before any provider call; when the provider's
 * rate limit is reached callers queue, and past the queue bound get a 429 whose Retry-After comes from the
 * kernel's buckets — while the provider itself never sees more than its limit.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

const ask = (content: string) => [{ role: 'user' as const, content }];

async function until(cond: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

describe('gateway: tenants, suspend, kill, budgets', () => {
  let f: GatewayFixture;
  let keyA: string;
  let keyB: string;
  let keyC: string;
  const client = (apiKey: string, session: string) =>
    new OpenAI({
      baseURL: `${f.server.url}/v1`,
      apiKey,
      maxRetries: 0,
      defaultHeaders: { 'x-aos-session': session },
    });
  const api = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${f.server.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // biome-ignore lint/suspicious/noExplicitAny: response bodies of several shapes, checked field by field
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  beforeAll(async () => {
    f = await gatewayFixture({
      gateway: {
        session_budget: { max_calls: 3 },
        tenants: { a: {}, b: {}, c: { models: ['gpt-sim'] } },
      },
    });
    keyA = await f.token({ tenant: 'a' });
    keyB = await f.token({ tenant: 'b' });
    keyC = await f.token({ tenant: 'c' });
  }, 60_000);
  afterAll(async () => {
    await f?.close();
  });

  it('a tenant cannot see or touch another tenant’s sessions', async () => {
    const r = await client(keyA, 'shared-name')
      .chat.completions.create({ model: 'gpt-sim', messages: ask('hi from a') })
      .withResponse();
    const pidA = Number(r.response.headers.get('x-aos-pid'));
    const rb = await client(keyB, 'shared-name')
      .chat.completions.create({ model: 'gpt-sim', messages: ask('hi from b') })
      .withResponse();
    const pidB = Number(rb.response.headers.get('x-aos-pid'));
    expect(pidB).not.toBe(pidA); // the same session name in two tenants is two sessions

    const listB = await api(keyB, 'GET', '/processes');
    expect(listB.status).toBe(200);
    expect(listB.body.items.map((p: { pid: number }) => p.pid)).toEqual([pidB]);
    for (const [method, path] of [
      ['GET', `/processes/${pidA}`],
      ['GET', `/processes/${pidA}/steps`],
      ['GET', `/processes/${pidA}/audit`],
      ['POST', `/processes/${pidA}/suspend`],
      ['POST', `/processes/${pidA}/kill`],
    ] as const) {
      const res = await api(keyB, method, path);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await f.kernel.get(pidA)).state).not.toBe('terminated');
    // Kernel-wide routes are closed to tenant keys.
    expect((await api(keyB, 'POST', '/processes', { name: 'x', task: 'y' })).status).toBe(403);
    expect((await api(keyB, 'GET', '/audit')).status).toBe(403);
    expect((await api(keyB, 'GET', '/tokens')).status).toBe(403);
    const sessionsB = await api(keyB, 'GET', '/gateway/sessions');
    expect(sessionsB.body.items.map((s: { pid: number }) => s.pid)).toEqual([pidB]);
    // Its own session it may see and steer.
    expect((await api(keyA, 'GET', `/processes/${pidA}`)).status).toBe(200);
    // The admin sees both.
    const all = await api(f.admin, 'GET', '/processes');
    expect(all.body.items.map((p: { pid: number }) => p.pid)).toEqual(expect.arrayContaining([pidA, pidB]));
  });

  it('a tenant’s key cannot make its sessions more urgent than its tenant; a bad priority is refused', async () => {
    const pidOf = async (apiKey: string, session: string, priority: string) => {
      const r = await new OpenAI({
        baseURL: `${f.server.url}/v1`,
        apiKey,
        maxRetries: 0,
        defaultHeaders: { 'x-aos-session': session, 'x-aos-priority': priority },
      }).chat.completions
        .create({ model: 'gpt-sim', messages: ask('hi') })
        .withResponse();
      return Number(r.response.headers.get('x-aos-pid'));
    };
    const own = f.kernel.config.gateway.priority;
    // Asking for 0 (most urgent) with tenant a's key gets tenant a's priority: it would otherwise take every
    // slot before its neighbours' sessions.
    expect((await f.kernel.get(await pidOf(keyA, 'prio-up', '0'))).priority).toBe(own);
    // Less urgent than its tenant is the caller's to choose.
    expect((await f.kernel.get(await pidOf(keyA, 'prio-down', String(own + 20)))).priority).toBe(own + 20);
    // A kernel-wide key (the operator's own) is honoured.
    const admin = await f.token({ role: 'admin' });
    expect((await f.kernel.get(await pidOf(admin, 'prio-admin', '0'))).priority).toBe(0);
    const bad = await pidOf(keyA, 'prio-bad', 'high').catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.message).toContain('x-aos-priority must be an integer from 0');
  });

  it('a suspended session’s call waits, and completes on resume', async () => {
    const c = client(keyA, 'pausable');
    const first = await c.chat.completions.create({ model: 'gpt-sim', messages: ask('one') }).withResponse();
    const pid = Number(first.response.headers.get('x-aos-pid'));
    expect((await api(keyA, 'POST', `/processes/${pid}/suspend`)).status).toBe(200);
    const before = f.sim.engine.stats.requests;
    let settled = false;
    const pending = c.chat.completions.create({ model: 'gpt-sim', messages: ask('two') }).finally(() => {
      settled = true;
    });
    await until(async () => (await f.kernel.get(pid)).state === 'suspended', 'the session parks');
    expect(settled).toBe(false);
    expect(f.sim.engine.stats.requests).toBe(before); // nothing reached the provider while suspended
    expect((await api(keyA, 'POST', `/processes/${pid}/resume`)).status).toBe(200);
    const r = await pending;
    expect(r.choices[0]!.message.content).toBeTruthy();
    expect(f.sim.engine.stats.requests).toBe(before + 1);
  });

  it('a killed session’s calls get a clear error', async () => {
    const c = client(keyA, 'doomed');
    const first = await c.chat.completions.create({ model: 'gpt-sim', messages: ask('one') }).withResponse();
    const pid = Number(first.response.headers.get('x-aos-pid'));
    expect((await api(keyA, 'POST', `/processes/${pid}/kill`)).status).toBe(200);
    const err = await c.chat.completions.create({ model: 'gpt-sim', messages: ask('two') }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.ConflictError);
    expect(err.message).toMatch(/session "doomed" was killed/);
  }, 30_000);

  it('budgets and model allowlists refuse before the provider is called', async () => {
    const c = client(keyA, 'budgeted');
    for (let i = 0; i < 3; i++)
      await c.chat.completions.create({ model: 'gpt-sim', messages: ask(`call ${i}`) });
    const before = f.sim.engine.stats.requests;
    const over = await c.chat.completions
      .create({ model: 'gpt-sim', messages: ask('call 3') })
      .withResponse()
      .catch((e) => e);
    expect(over).toBeInstanceOf(OpenAI.RateLimitError);
    expect(over.error?.type).toBe('insufficient_quota');
    expect(over.headers.get('x-should-retry')).toBe('false');
    expect(over.message).toMatch(/call budget exhausted: 3 of 3/);
    const denied = await client(keyC, 'c1')
      .chat.completions.create({ model: 'claude-sim', messages: ask('x') })
      .catch((e) => e);
    expect(denied).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(denied.message).toMatch(/may not use model "claude-sim"/);
    expect(f.sim.engine.stats.requests).toBe(before);
  });
});

describe('gateway: the scheduler decides, the caller waits', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    // One request per minute at the provider; a call may wait 300 ms in the gateway's queue.
    f = await gatewayFixture({
      gateway: { queue_timeout_ms: 300 },
      scheduler: { rate_limits: { openai: { rpm: 1 } } },
    });
  }, 60_000);
  afterAll(async () => {
    await f?.close();
  });

  it('past the queue bound: 429 with an honest Retry-After; the provider never sees a request over its limit', async () => {
    const key = await f.token();
    const c = new OpenAI({ baseURL: `${f.server.url}/v1`, apiKey: key, maxRetries: 0 });
    await c.chat.completions.create({ model: 'gpt-sim', messages: ask('the only call this minute') });
    const err = await c.chat.completions
      .create({ model: 'gpt-sim', messages: ask('one too many') })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const retryAfter = Number(err.headers.get('retry-after'));
    // The bucket refills a minute after the first call: the kernel says so, not "1 s".
    expect(retryAfter).toBeGreaterThan(10);
    expect(retryAfter).toBeLessThanOrEqual(65);
    expect(f.sim.engine.stats.requests).toBe(1);
    expect(f.sim.engine.stats.rateLimited).toBe(0);
  });
});
