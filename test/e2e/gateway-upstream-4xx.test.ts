/**
 * The provider refusing a request as sent (400/413/422: an unsupported parameter, a body too large) is the
 * caller's to fix: the gateway answers that status with the vendor's message in the caller's dialect, not
 * a 502 that tells the caller to retry an outage; and the session's process lives on, so the corrected
 * request continues it. A refused provider key (401/403) is the operator's, not the caller's: a 502 that
 * names the kernel's config and never the key. Through the official SDKs, counted at the simulator.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture, openaiClient } from './gateway-fixture.js';

let f: GatewayFixture;
/** The next status the simulator answers with (once), per the test. */
let next: { status: number; message: string } | null = null;

beforeAll(async () => {
  f = await gatewayFixture({
    resilience: { retry: { max_retries: 0, base_ms: 1, max_ms: 1 } },
    sim: {
      scenario: () => {
        const e = next;
        next = null;
        return e ? { error: e } : undefined;
      },
    },
  });
});
afterAll(async () => {
  await f?.close();
});

const openai = (key: string, session: string) => openaiClient(f, key, session);

describe('gateway: the provider refusing a request as sent', () => {
  it('OpenAI dialect: 400 with the vendor message, and the session goes on', async () => {
    const key = await f.token();
    const c = openai(key, 'refused-400');
    next = {
      status: 400,
      message: "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
    };
    const err = await c.chat.completions
      .create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'hi' }], reasoning_effort: 'low' })
      .withResponse()
      .then(
        () => null,
        (e) => e as InstanceType<typeof OpenAI.APIError>,
      );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err!.message).toContain("Unsupported parameter: 'reasoning_effort'");
    expect(err!.headers?.get('x-should-retry')).toBe('false');
    // the corrected request continues the same session process
    const ok = await c.chat.completions
      .create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(ok.data.choices[0]!.message.content).toBeTruthy();
    const pid = Number(ok.response.headers.get('x-aos-pid'));
    const p = (await f.kernel.status()).processes.find((x) => x.pid === pid)!;
    expect(['ready', 'running', 'waiting']).toContain(p.state);
  });

  it('Anthropic dialect: 413 stays 413, in the Anthropic error shape', async () => {
    const key = await f.token();
    const c = new Anthropic({
      baseURL: f.server.url,
      apiKey: key,
      maxRetries: 0,
      defaultHeaders: { 'x-aos-session': 'refused-413' },
    });
    next = { status: 413, message: 'request too large' };
    const err = await c.messages
      .create({ model: 'claude-sim', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => null,
        (e) => e as InstanceType<typeof Anthropic.APIError>,
      );
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err!.status).toBe(413);
    expect(err!.message).toContain('request too large');
  });

  it("a provider refusing the kernel's key is a 502 naming the config, never the key", async () => {
    const key = await f.token();
    next = { status: 401, message: 'Incorrect API key provided: sk-provider-secret' };
    const err = await openai(key, 'refused-401')
      .chat.completions.create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => null,
        (e) => e as InstanceType<typeof OpenAI.APIError>,
      );
    expect(err!.status).toBe(502);
    expect(err!.message).not.toContain('sk-provider-secret');
    expect(err!.message).toMatch(/API key/);
  });
});
