/**
 * The official SDKs, unmodified, against the gateway: OpenAI chat completions and Anthropic messages, stream
 * and not, with tool calls and errors. Each session's calls are the steps of ONE kernel process (program
 * `gateway`), accounted and audited like a native agent's.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_BODY_LIMIT_BYTES } from '../../src/param.js';
import { calculatorTool, type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

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
const anthropic = (session?: string, apiKey = key) =>
  new Anthropic({
    baseURL: f.server.url,
    apiKey,
    maxRetries: 0,
    ...(session ? { defaultHeaders: { 'x-aos-session': session } } : {}),
  });

describe('gateway: the official openai client', () => {
  it('runs a tool loop (non-stream) as one kernel process whose calls are its steps', async () => {
    const client = openai('oa-tools');
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are a calculator agent.' },
      { role: 'user', content: 'What is 12 * 7?' },
    ];
    const r1 = await client.chat.completions.create({ model: 'gpt-sim', messages, tools: [calculatorTool] });
    expect(r1.object).toBe('chat.completion');
    expect(r1.choices[0]!.finish_reason).toBe('tool_calls');
    const tc = r1.choices[0]!.message.tool_calls![0]!;
    expect(tc.type).toBe('function');
    expect(tc.type === 'function' && tc.function.name).toBe('calculator');
    messages.push(r1.choices[0]!.message, { role: 'tool', tool_call_id: tc.id, content: '84' });
    const r2 = await client.chat.completions
      .create({ model: 'gpt-sim', messages, tools: [calculatorTool] })
      .withResponse();
    expect(r2.data.choices[0]!.finish_reason).toBe('stop');
    expect(r2.data.choices[0]!.message.content).toContain('84');
    expect(r2.data.usage!.prompt_tokens).toBeGreaterThan(0);
    const pid = Number(r2.response.headers.get('x-aos-pid'));
    await f.committed(pid, 2);
    const info = await f.kernel.get(pid);
    expect(info.program).toBe('gateway');
    expect(info.usage.apiCalls).toBe(2);
    const steps = await f.kernel.steps(pid);
    expect(steps.map((s) => s.kind)).toEqual(['gateway.call', 'gateway.call']);
    const audit = await f.kernel.storage.audit.list({ stream: `proc:${pid}` });
    expect(audit.filter((e) => e.kind === 'llm.chat')).toHaveLength(2);
  });

  it('streams with include_usage, and the stream helper assembles tool calls', async () => {
    const client = openai('oa-stream');
    const stream = await client.chat.completions.create({
      model: 'gpt-sim',
      messages: [{ role: 'user', content: 'say hello to the gateway' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) text += chunk.choices[0].delta.content;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);

    const helper = client.chat.completions.stream({
      model: 'gpt-sim',
      messages: [{ role: 'user', content: 'What is 3 + 4?' }],
      tools: [calculatorTool],
    });
    const final = await helper.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ expression: '3 + 4' });
  });

  it('answers errors in OpenAI shape: bad key 401, unknown model 404, bad request 400', async () => {
    await expect(
      openai(undefined, 'aos_not-a-real-token').chat.completions.create({
        model: 'gpt-sim',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const nf = await openai()
      .chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(nf).toBeInstanceOf(OpenAI.NotFoundError);
    expect(nf.message).toContain('no-such-model');
    const br = await openai()
      .chat.completions.create({ model: 'gpt-sim', messages: [] })
      .catch((e) => e);
    expect(br).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('lists the configured models with their aliases', async () => {
    const ids = [];
    for await (const m of openai().models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(['gpt-sim', 'claude-sim']));
  });

  it('serves embeddings', async () => {
    const r = await openai().embeddings.create({ model: 'gpt-sim', input: ['hello world', 'bye'] });
    expect(r.data).toHaveLength(2);
    expect(r.data[0]!.embedding.length).toBeGreaterThan(10);
  });
});

describe('gateway: the official @anthropic-ai/sdk client', () => {
  const tools: Anthropic.Tool[] = [
    {
      name: 'calculator',
      description: 'Evaluates an arithmetic expression',
      input_schema: {
        type: 'object',
        properties: { expression: { type: 'string' } },
        required: ['expression'],
      },
    },
  ];

  it('runs a tool loop non-streaming, cache_control passed through', async () => {
    const client = anthropic('an-tools');
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'What is 6 * 7?' }];
    const r1 = await client.messages.create({
      model: 'claude-sim',
      max_tokens: 256,
      system: [{ type: 'text', text: 'You are a calculator agent.', cache_control: { type: 'ephemeral' } }],
      messages,
      tools,
    });
    expect(r1.type).toBe('message');
    expect(r1.stop_reason).toBe('tool_use');
    const use = r1.content.find((b) => b.type === 'tool_use')!;
    expect(use.type === 'tool_use' && use.input).toEqual({ expression: '6 * 7' });
    // The caller's breakpoint reached the provider.
    const sent = f.sim.engine.stats.bodies.at(-1)!;
    expect(sent.route).toBe('/v1/messages');
    expect(JSON.stringify(sent.body.system)).toContain('"cache_control":{"type":"ephemeral"}');
    // The provider key stays in the kernel: the caller sent its kernel token, the provider got its own key.
    expect(JSON.stringify(sent.body)).not.toContain(key);
    messages.push(
      { role: 'assistant', content: r1.content },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: use.type === 'tool_use' ? use.id : '', content: '42' }],
      },
    );
    const r2 = await client.messages.create({ model: 'claude-sim', max_tokens: 256, messages, tools });
    expect(r2.stop_reason).toBe('end_turn');
    expect(r2.content[0]!.type === 'text' && r2.content[0].text).toContain('42');
  });

  it('streams through MessageStream, tool_use assembled from input_json_delta', async () => {
    const client = anthropic('an-stream');
    const text = await client.messages
      .stream({
        model: 'claude-sim',
        max_tokens: 256,
        messages: [{ role: 'user', content: 'hello gateway' }],
      })
      .finalText();
    expect(text.length).toBeGreaterThan(0);
    const msg = await client.messages
      .stream({
        model: 'claude-sim',
        max_tokens: 256,
        messages: [{ role: 'user', content: 'What is 5 + 5?' }],
        tools,
      })
      .finalMessage();
    expect(msg.stop_reason).toBe('tool_use');
    const use = msg.content.find((b) => b.type === 'tool_use');
    expect(use?.type === 'tool_use' && use.input).toEqual({ expression: '5 + 5' });
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
  });

  it('answers errors in Anthropic shape', async () => {
    const e401 = await anthropic(undefined, 'aos_wrong')
      .messages.create({ model: 'claude-sim', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(e401).toBeInstanceOf(Anthropic.AuthenticationError);
    const e400 = await anthropic()
      .messages.create({ model: 'claude-sim', messages: [{ role: 'user', content: 'x' }] } as never)
      .catch((e) => e);
    expect(e400).toBeInstanceOf(Anthropic.BadRequestError);
    expect(e400.error?.error?.type).toBe('invalid_request_error');
  });
});

describe('gateway: errors raised before the route (body limit, parser, input hooks)', () => {
  it('answer in the caller’s dialect, with what to fix, through both SDKs', async () => {
    // Over the body limit: the official openai client reads our message, not a kernel-API body.
    const big = await openai()
      .chat.completions.create({
        model: 'gpt-sim',
        messages: [{ role: 'user', content: 'x'.repeat(GATEWAY_BODY_LIMIT_BYTES + 1) }],
      })
      .catch((e) => e);
    expect(big).toBeInstanceOf(OpenAI.APIError);
    expect(big.status).toBe(413);
    expect(big.error).toMatchObject({ type: 'invalid_request_error' });
    expect(big.message).toContain(`limit of ${GATEWAY_BODY_LIMIT_BYTES} bytes`);
    // A NUL in the text (refused by the server's input hook for every route): Anthropic's error shape.
    const nul = await anthropic()
      .messages.create({
        model: 'claude-sim',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'a\u0000b' }],
      })
      .catch((e) => e);
    expect(nul).toBeInstanceOf(Anthropic.BadRequestError);
    expect(nul.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(nul.error.error.message).toContain('NUL');
    // Not JSON (no SDK sends that; curl can): OpenAI's shape, named.
    for (const [path, headers, shape] of [
      ['/v1/chat/completions', { authorization: `Bearer ${key}` }, 'openai'],
      ['/v1/messages', { 'x-api-key': key, 'anthropic-version': '2023-06-01' }, 'anthropic'],
    ] as const) {
      const r = await fetch(`${f.server.url}${path}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: '{"model": ',
      });
      expect(r.status).toBe(400);
      const body = (await r.json()) as Record<string, unknown>;
      if (shape === 'openai')
        expect(body.error).toMatchObject({
          type: 'invalid_request_error',
          message: expect.stringContaining('not valid JSON'),
        });
      else
        expect(body).toMatchObject({
          type: 'error',
          error: { type: 'invalid_request_error', message: expect.stringContaining('not valid JSON') },
        });
    }
    // The kernel's own API keeps its shape.
    const api = await fetch(`${f.server.url}/api/v1/processes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"task": ',
    });
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('EINVAL');
  });
});

describe('gateway: the rest of the SDKs’ surface', () => {
  it('models.retrieve answers the model object in both SDKs, and 404 in their shapes for an unknown one', async () => {
    // Before: GET /v1/models/{id} fell through to the dashboard's page, which both SDKs took for a 200 answer.
    const m = await openai().models.retrieve('gpt-sim');
    expect(m).toMatchObject({ id: 'gpt-sim', object: 'model', owned_by: 'openai' });
    const a = await anthropic().models.retrieve('claude-sim');
    expect(a).toMatchObject({ id: 'claude-sim', type: 'model' });
    await expect(openai().models.retrieve('nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const e = await anthropic()
      .models.retrieve('nope')
      .catch((x) => x);
    expect(e).toBeInstanceOf(Anthropic.NotFoundError);
    expect(e.error?.error?.type).toBe('not_found_error');
  });

  it('messages.countTokens counts the prompt; tools and system count too', async () => {
    const messages = [{ role: 'user' as const, content: 'What is 12 * 7?' }];
    const bare = await anthropic().messages.countTokens({ model: 'claude-sim', messages });
    expect(bare.input_tokens).toBeGreaterThan(0);
    const more = await anthropic().messages.countTokens({
      model: 'claude-sim',
      system: 'You are a calculator agent.',
      messages,
      tools: [
        {
          name: 'calculator',
          description: 'Evaluates an arithmetic expression',
          input_schema: { type: 'object', properties: { expression: { type: 'string' } } },
        },
      ],
    });
    expect(more.input_tokens).toBeGreaterThan(bare.input_tokens);
    // Counting calls no model.
    const before = f.sim.engine.stats.requests;
    await anthropic().messages.countTokens({ model: 'claude-sim', messages });
    expect(f.sim.engine.stats.requests).toBe(before);
  });

  it('an endpoint the gateway does not offer is a 404 in the caller’s dialect, naming what it serves', async () => {
    const e = await openai()
      .completions.create({ model: 'gpt-sim', prompt: 'hi' })
      .catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.NotFoundError);
    expect(String(e.message)).toContain('/v1/chat/completions');
    const b = await anthropic()
      .messages.batches.list()
      .catch((x) => x);
    expect(b).toBeInstanceOf(Anthropic.NotFoundError);
    expect(b.error?.error?.type).toBe('not_found_error');
  });
});
