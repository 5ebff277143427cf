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
