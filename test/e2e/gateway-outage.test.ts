/**
 * A provider outage under the gateway: callers wait, they do not get the outage as an error. The simulator
 * answers 503 until told otherwise; the kernel's client fails, its circuit opens, and the gateway's
 * sessions wait in waiting(provider) — as native processes park — then answer 200 once the provider is
 * back. Past the caller's queue time the error is the upstream's (503 with Retry-After for an open circuit,
 * 502 for the provider's own failure), never the gateway's 500. No timing assumptions: the test waits for
 * states.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture, openaiClient } from './gateway-fixture.js';

let f: GatewayFixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

const fixture = (queueTimeoutMs: number) =>
  gatewayFixture({
    gateway: { queue_timeout_ms: queueTimeoutMs },
    scheduler: { provider_retry_base_ms: 20, provider_retry_max_ms: 200 },
    resilience: {
      retry: { max_retries: 0, base_ms: 5, max_ms: 20 },
      circuit: { threshold: 3, open_ms: 200 },
    },
  });

describe('gateway: provider outages', () => {
  it('callers wait out a 503 outage (circuit open included) and all get 200 when it ends', async () => {
    f = await fixture(120_000);
    const fx = f;
    const key = await fx.token();
    fx.sim.engine.outage({ status: 503, forMs: 3_600_000 });
    const calls = Array.from({ length: 6 }, (_, i) =>
      openaiClient(fx, key, `outage-${i}`)
        .chat.completions.create({
          model: 'gpt-sim',
          messages: [{ role: 'user', content: `say hello ${i}` }],
        })
        .withResponse(),
    );
    // every session is seen waiting on the provider (truthful views), and the circuit has opened
    await expect
      .poll(
        async () =>
          (await fx.kernel.status()).processes.filter(
            (p) => p.program === 'gateway' && p.waitOn.startsWith('provider'),
          ).length,
        { timeout: 60_000 },
      )
      .toBe(6);
    // the provider refused at least the circuit's threshold of calls (3), so the circuit has opened
    const refused = () => Object.values(fx.sim.stats.errors).reduce((a, n) => a + Number(n), 0);
    await expect.poll(refused, { timeout: 60_000 }).toBeGreaterThanOrEqual(3);
    fx.sim.engine.outage(null);
    const done = await Promise.all(calls);
    for (const r of done) {
      expect(r.response.status).toBe(200);
      expect(r.data.choices[0]!.message.content?.length).toBeGreaterThan(0);
    }
    const pid = Number(done[0]!.response.headers.get('x-aos-pid'));
    const audit = await fx.kernel.storage.audit.list({ stream: `proc:${pid}` });
    const chats = audit.filter((e) => e.kind === 'llm.chat');
    expect(chats.some((e) => (e.payload as { ok: boolean }).ok === false)).toBe(true); // the failed attempts are audited
    expect(chats.at(-1)!.payload).toMatchObject({ ok: true });
    // and the circuit refused some attempts fast: those waited too, in some session
    const all = await fx.kernel.audit.list({ limit: 10_000 });
    expect(
      all.some(
        (e) =>
          e.kind === 'llm.chat' && (e.payload as { error?: { code?: string } }).error?.code === 'ECIRCUIT',
      ),
    ).toBe(true);
  }, 120_000);

  it('past the queue time the caller gets the upstream error with Retry-After, never a 500', async () => {
    f = await fixture(1_500);
    const key = await f.token();
    f.sim.engine.outage({ status: 503, forMs: 3_600_000 });
    const errs = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        openaiClient(f!, key, `late-${i}`)
          .chat.completions.create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'hello' }] })
          .then(
            () => null,
            (e) => e as InstanceType<typeof OpenAI.APIError>,
          ),
      ),
    );
    for (const e of errs) {
      expect(e).toBeInstanceOf(OpenAI.APIError);
      expect([502, 503]).toContain(e!.status);
      if (e!.status === 503) expect(Number(e!.headers?.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(errs.some((e) => e!.status === 503)).toBe(true); // the circuit opened: fail-fast callers get 503
  }, 120_000);
});
