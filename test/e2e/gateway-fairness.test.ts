/**
 * Fair share between tenants, through the wire their agents use: when the model is the scarce resource
 * (one slot), a tenant that floods the gateway with three times the sessions does not get three times the
 * calls — each tenant is owed half, and the quiet tenant's share holds.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

describe('gateway: fair share between tenants', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    // One call at a time reaches the model, and each takes a little while: everyone else queues.
    // A time slice of one call: every call is ordered by fair share (a longer slice batches a session's calls).
    f = await gatewayFixture({
      scheduler: { slots_per_model: 1, time_slice_steps: 1 },
      sim: { latency: { ttftMs: 15 } },
    });
  }, 60_000);
  afterAll(async () => {
    await f?.close();
  });

  it('a tenant flooding with 3× the sessions gets half the calls, not three quarters', async () => {
    const keys = { flood: await f.token({ tenant: 'flood' }), quiet: await f.token({ tenant: 'quiet' }) };
    const sessions = [
      ...Array.from({ length: 9 }, (_, i) => ({ tenant: 'flood' as const, id: `f${i}` })),
      ...Array.from({ length: 3 }, (_, i) => ({ tenant: 'quiet' as const, id: `q${i}` })),
    ];
    const total = 90;
    const served = { flood: 0, quiet: 0 };
    let started = 0;
    await Promise.all(
      sessions.map(async (s) => {
        const c = new OpenAI({
          baseURL: `${f.server.url}/v1`,
          apiKey: keys[s.tenant],
          maxRetries: 0,
          defaultHeaders: { 'x-aos-session': s.id },
        });
        for (let i = 0; started < total; i++) {
          started++;
          await c.chat.completions.create({
            model: 'gpt-sim',
            messages: [{ role: 'user', content: `session ${s.id}, question ${i}` }],
          });
          served[s.tenant]++;
        }
      }),
    );
    const share = served.quiet / (served.quiet + served.flood);
    // Per-process fair share would give the quiet tenant 3 of 12 sessions' worth: 25 %.
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
  }, 120_000);
});
