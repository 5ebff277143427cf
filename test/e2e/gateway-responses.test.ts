/**
 * POST /v1/responses with the official `openai` client's `client.responses.create` (stream and not) and its
 * `client.responses.stream()` accumulator, unmodified: a function-calling loop whose calls are the steps of
 * one kernel process, the typed numbered stream events, and errors in OpenAI's shape (including the
 * previous_response_id of a response it does not hold; stored responses: gateway-stored-responses.test.ts).
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

let f: GatewayFixture;
let key: string;

beforeAll(async () => {
  f = await gatewayFixture();
  key = await f.token();
}, 60_000);
afterAll(async () => {
  await f?.close();
});

const openai = (session?: string, apiKey = key) =>
  new OpenAI({
    baseURL: `${f.server.url}/v1`,
    apiKey,
    maxRetries: 0,
    ...(session ? { defaultHeaders: { 'x-aos-session': session } } : {}),
  });

const calculator: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'calculator',
  description: 'Evaluate an arithmetic expression',
  parameters: {
    type: 'object',
    properties: { expression: { type: 'string' } },
    required: ['expression'],
    additionalProperties: false,
  },
  strict: true,
};

describe('gateway: POST /v1/responses with the official openai client', () => {
  it('runs a function-calling loop (non-stream) as one kernel process whose calls are its steps', async () => {
    const client = openai('resp-tools');
    const input: OpenAI.Responses.ResponseInput = [{ role: 'user', content: 'What is 12 * 7?' }];
    const r1 = await client.responses.create({
      model: 'gpt-sim',
      instructions: 'You are a calculator agent.',
      input,
      tools: [calculator],
    });
    expect(r1.object).toBe('response');
    expect(r1.status).toBe('completed');
    const call = r1.output.find((o) => o.type === 'function_call');
    expect(call?.type === 'function_call' && call.name).toBe('calculator');
    if (call?.type !== 'function_call') throw new Error('no function call');
    expect(JSON.parse(call.arguments)).toEqual({ expression: '12 * 7' });
    input.push(...(r1.output as OpenAI.Responses.ResponseInputItem[]), {
      type: 'function_call_output',
      call_id: call.call_id,
      output: '84',
    });
    const r2 = await client.responses
      .create({ model: 'gpt-sim', instructions: 'You are a calculator agent.', input, tools: [calculator] })
      .withResponse();
    expect(r2.data.output_text).toContain('84'); // the SDK's own accessor over output[].content
    expect(r2.data.usage!.input_tokens).toBeGreaterThan(0);
    expect(r2.data.usage!.output_tokens).toBeGreaterThan(0);
    expect(r2.data.usage!.total_tokens).toBe(r2.data.usage!.input_tokens + r2.data.usage!.output_tokens);
    const pid = Number(r2.response.headers.get('x-aos-pid'));
    await f.committed(pid, 2);
    const info = await f.kernel.get(pid);
    expect(info.program).toBe('gateway');
    expect(info.usage.apiCalls).toBe(2);
    expect((await f.kernel.steps(pid)).map((s) => s.kind)).toEqual(['gateway.call', 'gateway.call']);
    const audit = await f.kernel.storage.audit.list({ stream: `proc:${pid}` });
    expect(audit.filter((e) => e.kind === 'llm.chat')).toHaveLength(2);
  });

  it('streams typed, numbered events; the stream helper assembles a function call', async () => {
    const client = openai('resp-stream');
    const stream = await client.responses.create({
      model: 'gpt-sim',
      input: 'say hello to the gateway',
      stream: true,
    });
    const types: string[] = [];
    const seqs: number[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | null = null;
    for await (const ev of stream) {
      types.push(ev.type);
      seqs.push(ev.sequence_number);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') completed = ev.response;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types).toContain('response.output_item.added');
    expect(types).toContain('response.output_text.done');
    expect(seqs).toEqual(seqs.map((_, i) => i)); // 0, 1, 2, … with no gap
    expect(text.length).toBeGreaterThan(0);
    const item = completed?.output[0];
    expect(item?.type === 'message' && item.content[0]?.type === 'output_text' && item.content[0].text).toBe(
      text,
    );
    expect(completed?.usage?.output_tokens).toBeGreaterThan(0);

    const helper = client.responses.stream({
      model: 'gpt-sim',
      input: 'What is 3 + 4?',
      tools: [calculator],
    });
    const final = await helper.finalResponse();
    const fc = final.output.find((o) => o.type === 'function_call');
    expect(fc?.type === 'function_call' && JSON.parse(fc.arguments)).toEqual({ expression: '3 + 4' });
  });

  it('answers errors in OpenAI shape: bad key 401, unknown model 404, an unknown previous_response_id 400', async () => {
    await expect(
      openai(undefined, 'aos_not-a-real-token').responses.create({ model: 'gpt-sim', input: 'x' }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const nf = await openai()
      .responses.create({ model: 'no-such-model', input: 'x' })
      .catch((e) => e);
    expect(nf).toBeInstanceOf(OpenAI.NotFoundError);
    const prev = await openai()
      .responses.create({ model: 'gpt-sim', input: 'x', previous_response_id: 'resp_123' })
      .catch((e) => e);
    expect(prev).toBeInstanceOf(OpenAI.BadRequestError);
    expect(prev.code).toBe('previous_response_not_found');
    expect(prev.param).toBe('previous_response_id');
    const web = await openai()
      .responses.create({ model: 'gpt-sim', input: 'x', tools: [{ type: 'web_search' }] })
      .catch((e) => e);
    expect(web).toBeInstanceOf(OpenAI.BadRequestError);
    expect(web.message).toContain('only function tools');
  });
});
