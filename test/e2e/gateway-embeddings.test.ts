/**
 * Embeddings go through the gate like chat calls, seen from the wire an agent uses (the official `openai`
 * SDK): the call belongs to a session's process, is audited there as `llm.embed` (a summary, not the
 * vectors), accounted to the process and to the tenant — whose token quota then refuses further calls
 * before the provider is asked — and invisible to other tenants.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

describe('gateway: embeddings through the gate', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    f = await gatewayFixture({ gateway: { tenants: { emb: { max_tokens: 40 }, other: {} } } });
  }, 60_000);
  afterAll(async () => {
    await f?.close();
  });

  it('an embeddings call is a step of a tenant’s process: audited, accounted, held to the quota', async () => {
    const key = await f.token({ tenant: 'emb' });
    const other = await f.token({ tenant: 'other' });
    const client = new OpenAI({
      baseURL: `${f.server.url}/v1`,
      apiKey: key,
      maxRetries: 0,
      defaultHeaders: { 'x-aos-session': 'vectors' },
    });
    const api = (token: string, path: string) =>
      fetch(`${f.server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });

    const r = await client.embeddings
      .create({ model: 'gpt-sim', input: ['hello world', 'the kernel as a gateway'] })
      .withResponse();
    expect(r.data.data).toHaveLength(2);
    const tokens = r.data.usage.prompt_tokens;
    expect(tokens).toBeGreaterThan(0);
    const pid = Number(r.response.headers.get('x-aos-pid'));
    expect(pid).toBeGreaterThan(0);

    // Its step committed: the process's usage and audit chain hold the call.
    let proc: { usage: { tokensIn: number; apiCalls: number }; program: string } | null = null;
    for (let i = 0; i < 500; i++) {
      proc = (await (await api(key, `/processes/${pid}`)).json()) as typeof proc;
      if (proc!.usage.apiCalls >= 1) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(proc!.program).toBe('gateway');
    expect(proc!.usage).toMatchObject({ tokensIn: tokens, apiCalls: 1 });
    const audit = (await (await api(key, `/processes/${pid}/audit`)).json()) as {
      items: Array<{ kind: string; payload: Record<string, unknown> }>;
    };
    const entry = audit.items.find((e) => e.kind === 'llm.embed');
    expect(entry?.payload).toMatchObject({
      ok: true,
      args: { model: 'gpt-sim', inputs: 2 },
      result: { vectors: 2, tokens },
    });
    expect(JSON.stringify(entry)).not.toContain('embedding'); // a summary, not the vectors
    expect((await api(other, `/processes/${pid}`)).status).toBe(404);

    // The tenant's quota counts embeddings: once spent, the next call is refused before the provider.
    for (let i = 0; i < 20; i++) {
      const more = await client.embeddings
        .create({ model: 'gpt-sim', input: ['one more sentence to embed, please'] })
        .catch((e) => e);
      if (more instanceof OpenAI.RateLimitError) {
        expect(more.message).toMatch(/tenant emb token quota/);
        const before = f.sim.engine.stats.requests;
        const again = await client.embeddings
          .create({ model: 'gpt-sim', input: ['one more sentence to embed, please'] })
          .catch((e) => e);
        expect(again).toBeInstanceOf(OpenAI.RateLimitError);
        expect(f.sim.engine.stats.requests).toBe(before);
        return;
      }
    }
    throw new Error('the tenant quota never refused an embeddings call');
  });
});
