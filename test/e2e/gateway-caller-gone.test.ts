/**
 * A caller that goes away in the middle of a streamed answer (a closed tab, a killed agent, a client-side
 * timeout): the kernel stops the provider request instead of generating the rest for no one, the session's
 * next call does not wait behind the abandoned answer, and what the provider did generate is charged —
 * before, the whole answer was generated and recorded, and a stream cut by the caller reported no usage at
 * all, so a caller dropping every stream just before its end spent tokens no budget saw.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

let f: GatewayFixture;
let key: string;

beforeAll(async () => {
  // 40 ms per token: a whole answer of the simulator's takes seconds, two deltas a fraction of it.
  f = await gatewayFixture({ sim: { latency: { ttftMs: 20, perTokenMs: 40 } } });
  key = await f.token();
}, 60_000);
afterAll(async () => {
  await f?.close();
});

const client = (session: string) =>
  new OpenAI({
    baseURL: `${f.server.url}/v1`,
    apiKey: key,
    maxRetries: 0,
    defaultHeaders: { 'x-aos-session': session },
  });

it('a caller that leaves mid-stream stops the provider request, frees the session and is charged what streamed', async () => {
  const c = client('leaves-mid-stream');
  const ac = new AbortController();
  const stream = await c.chat.completions.create(
    {
      model: 'gpt-sim',
      messages: [{ role: 'user', content: 'Tell me a long story about the sea.' }],
      stream: true,
    },
    { signal: ac.signal },
  );
  let deltas = 0;
  try {
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content && ++deltas === 2) ac.abort();
    }
  } catch {
    // the SDK may surface the abort as an error or end quietly
  }
  expect(deltas).toBe(2);

  // The session's next call is answered (it would otherwise wait for the whole abandoned answer first).
  const next = await c.chat.completions
    .create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'Say hi.' }] })
    .withResponse();
  expect(next.data.choices[0]!.finish_reason).toBe('stop');
  const pid = Number(next.response.headers.get('x-aos-pid'));
  await f.committed(pid, 2);
  const steps = await f.kernel.storage.driver.query<{
    record: { kind: string; error?: { code: string } };
    usage: { tokensIn: number; tokensOut: number };
  }>('SELECT record, usage FROM steps WHERE pid = $1 ORDER BY step_no', [pid]);
  const [abandoned, answered] = steps.rows;
  // The abandoned call failed as the caller's abort, not as a finished answer of ~100 tokens.
  expect(abandoned!.record.kind).toBe('gateway.error');
  expect(abandoned!.record.error?.code).toBe('EABORTED');
  // Charged: the whole prompt and what streamed before the cancel reached the provider — far less than the
  // full answer the next call shows the simulator writes.
  expect(abandoned!.usage.tokensIn).toBeGreaterThan(0);
  expect(abandoned!.usage.tokensOut).toBeGreaterThan(0);
  expect(answered!.usage.tokensOut).toBeGreaterThan(20);
  expect(abandoned!.usage.tokensOut).toBeLessThan(answered!.usage.tokensOut);
  const proc = await f.kernel.get(pid);
  expect(proc.usage.tokensOut).toBe(abandoned!.usage.tokensOut + answered!.usage.tokensOut);
  // The process is alive and serving: the abort was the call's, not a kill of the session.
  expect(proc.exitReason ?? null).toBeNull();
}, 60_000);

it('a caller that leaves while queued for a slot leaves the queue at once, not when the slot comes', async () => {
  // One slot per model and a slow model: session a holds the slot for seconds, session b queues behind it.
  const g = await gatewayFixture({
    sim: { latency: { ttftMs: 4000, perTokenMs: 0 } },
    scheduler: { slots_per_model: 1 },
  });
  try {
    const k = await g.token();
    const at = (session: string) =>
      new OpenAI({
        baseURL: `${g.server.url}/v1`,
        apiKey: k,
        maxRetries: 0,
        defaultHeaders: { 'x-aos-session': session },
      });
    const pidOf = (name: string) =>
      g.kernel.status().then((s) => s.processes.find((p) => p.name === `gw:default:${name}`)?.pid);
    const until = async (cond: () => Promise<boolean>, what: string) => {
      for (let i = 0; i < 3000; i++) {
        if (await cond()) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`never happened: ${what}`);
    };
    let aAnswered = false;
    const a = at('holds-slot')
      .chat.completions.create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'slow one' }] })
      .then((r) => {
        aAnswered = true;
        return r;
      });
    await until(async () => g.sim.stats.requests === 1, 'session a reached the provider');
    const ac = new AbortController();
    const b = at('queued')
      .chat.completions.create(
        { model: 'gpt-sim', messages: [{ role: 'user', content: 'queued one' }] },
        { signal: ac.signal },
      )
      .catch((e: unknown) => e);
    let pidB: number | undefined;
    await until(async () => {
      pidB = await pidOf('queued');
      return pidB !== undefined && g.kernel.cpu.scheduler.stateOf(pidB) === 'ready';
    }, 'session b queued for the slot');
    ac.abort();
    await b;
    // b's call is recorded as the caller's abort while a still holds the slot: it left the queue at once.
    await until(async () => {
      const r = await g.kernel.storage.driver.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM steps WHERE pid = $1 AND record->>'kind' = 'gateway.error'
           AND record->'error'->>'code' = 'EABORTED'`,
        [pidB],
      );
      return r.rows[0]!.n === 1;
    }, "session b's abort recorded");
    // (Asked of the provider, not of a's client: a's answer reaching its client can lag its slot's release.)
    expect(g.sim.stats.completed).toBe(0);
    expect(aAnswered).toBe(false);
    expect((await a).choices[0]!.finish_reason).toBe('stop');
    // The provider only ever saw a's request.
    expect(g.sim.stats.requests).toBe(1);
  } finally {
    await g.close();
  }
}, 60_000);

it('a tenant’s token quota counts what its abandoned streams were billed', async () => {
  const g = await gatewayFixture({
    sim: { latency: { ttftMs: 20, perTokenMs: 40 } },
    gateway: { tenants: { t: { max_tokens: 5000 } } },
  });
  try {
    const c = new OpenAI({
      baseURL: `${g.server.url}/v1`,
      apiKey: await g.token({ tenant: 't' }),
      maxRetries: 0,
      defaultHeaders: { 'x-aos-session': 'drops-streams' },
    });
    const ac = new AbortController();
    const stream = await c.chat.completions.create(
      {
        model: 'gpt-sim',
        messages: [{ role: 'user', content: 'Tell me a long story about the sea.' }],
        max_tokens: 200,
        stream: true,
      },
      { signal: ac.signal },
    );
    let deltas = 0;
    try {
      for await (const chunk of stream) if (chunk.choices[0]?.delta?.content && ++deltas === 2) ac.abort();
    } catch {
      // the SDK may surface the abort as an error or end quietly
    }
    const session = g.server.gateway!.listSessions('t').find((s) => s.session === 'drops-streams')!;
    // The abandoned call's step, once committed (its settlement, quota included, comes before the commit).
    const charged = async () => {
      const { rows } = await g.kernel.storage.driver.query<{
        usage: { tokensIn: number; tokensOut: number };
      }>(`SELECT usage FROM steps WHERE pid = $1 AND record->>'kind' = 'gateway.error'`, [session.pid]);
      return rows[0] ? rows[0].usage.tokensIn + rows[0].usage.tokensOut : 0;
    };
    for (let i = 0; i < 2000 && (await charged()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const billed = await charged();
    expect(billed).toBeGreaterThan(0);
    // A call too big for the quota is refused, and the refusal counts the abandoned stream's tokens.
    const refused = await c.chat.completions
      .create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'hi' }], max_tokens: 6000 })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refused.message).toContain(`token quota: ${billed} used`);
  } finally {
    await g.close();
  }
}, 60_000);
