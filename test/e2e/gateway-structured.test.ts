/**
 * Structured outputs through the gateway, the way agent frameworks ask for them: the official `openai`
 * client's `chat.completions.parse` / `responses.parse` with a zod schema (zodResponseFormat, zodTextFormat),
 * LangChain's `withStructuredOutput`, JSON mode, and the Anthropic SDK's `messages.parse` with
 * `output_config.format` — each answered with JSON
 * the caller's own schema validates, for an OpenAI and an Anthropic model (the Anthropic provider shapes an
 * OpenAI-strict schema by the SDK's rule: the simulated API refuses `minimum` and open objects as the real
 * one does). A vendor without the format (DeepSeek: JSON mode only) is a 400 in OpenAI's error shape naming
 * response_format and the fix, before any provider call. The journal's request hash covers the schema: a
 * replayed session asking with another schema is answered by the provider, not with the old answer.
 */
import Anthropic from '@anthropic-ai/sdk';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import { ChatOpenAI } from '@langchain/openai';
import OpenAI from 'openai';
import { zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

type Loose = Record<string, unknown>;

const Invoice = z.object({
  customer: z.string(),
  email: z.string().email(),
  status: z.enum(['draft', 'sent', 'paid']),
  lines: z.array(z.object({ item: z.string(), qty: z.number().int().min(1), price: z.number() })),
  due: z.string().datetime(),
  note: z.string().nullable(),
  paid: z.boolean(),
});

let f: GatewayFixture;
let key: string;
let n = 0;

beforeAll(async () => {
  f = await gatewayFixture({
    sim: { latency: { ttftMs: 0, perTokenMs: 0 } },
    gateway: { session_idle_ms: 300 },
    models: [{ name: 'deepseek-sim', provider: 'deepseek' }],
  });
  key = await f.token();
}, 60_000);
afterAll(async () => {
  await f?.close();
});

const openai = (headers: Record<string, string> = {}) =>
  new OpenAI({
    baseURL: `${f.server.url}/v1`,
    apiKey: key,
    maxRetries: 0,
    defaultHeaders: { 'x-aos-session': `structured-${++n}`, ...headers },
  });
const lastBody = (): Loose => f.sim.stats.bodies.at(-1)!.body;
const ask = [{ role: 'user' as const, content: 'Make an invoice for two boxes of tea.' }];

async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

describe('gateway: structured outputs', () => {
  it('chat.completions.parse with zodResponseFormat returns a parsed object that validates (OpenAI and Anthropic models)', async () => {
    for (const model of ['gpt-sim', 'claude-sim']) {
      const r = await openai().chat.completions.parse({
        model,
        messages: ask,
        response_format: zodResponseFormat(Invoice, 'invoice'),
      });
      const parsed = r.choices[0]!.message.parsed;
      expect(parsed, model).not.toBeNull();
      expect(Invoice.parse(parsed), model).toEqual(parsed);
      expect(r.choices[0]!.finish_reason).toBe('stop');
      const body = lastBody();
      if (model === 'gpt-sim')
        expect(body.response_format).toMatchObject({
          type: 'json_schema',
          json_schema: { name: 'invoice', strict: true, schema: { type: 'object' } },
        });
      else {
        // The OpenAI-strict schema, shaped for Anthropic: the unsupported bounds went into a description.
        const schema = (body.output_config as Loose).format as Loose;
        const text = JSON.stringify(schema);
        expect(schema.type).toBe('json_schema');
        expect(text).not.toContain('"minimum"');
        expect(text).toContain('minimum: 1');
      }
    }
  });

  it('streams too: chat.completions.stream(...).finalChatCompletion() and responses.stream(...).finalResponse() are parsed', async () => {
    for (const model of ['gpt-sim', 'claude-sim']) {
      const final = await openai()
        .chat.completions.stream({
          model,
          messages: ask,
          response_format: zodResponseFormat(Invoice, 'invoice'),
        })
        .finalChatCompletion();
      expect(Invoice.safeParse(final.choices[0]!.message.parsed).success, model).toBe(true);
      expect(lastBody().stream, model).toBe(true);
      const r = await openai()
        .responses.stream({
          model,
          input: 'An invoice for tea.',
          text: { format: zodTextFormat(Invoice, 'invoice') },
        })
        .finalResponse();
      expect(Invoice.safeParse(r.output_parsed).success, model).toBe(true);
    }
  });

  it('a hand-written json_schema (no zod) is parsed by chat.completions.parse as well', async () => {
    const r = await openai().chat.completions.parse({
      model: 'gpt-sim',
      messages: ask,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'tally',
          strict: true,
          schema: {
            type: 'object',
            properties: { count: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } },
            required: ['count', 'tags'],
            additionalProperties: false,
          },
        },
      },
    });
    const parsed = r.choices[0]!.message.parsed as unknown as { count: number; tags: string[] };
    expect(Number.isInteger(parsed.count)).toBe(true);
    expect(Array.isArray(parsed.tags)).toBe(true);
  });

  it("a schema with draft-7 definitions reaches Anthropic as $defs (the SDK's transform keeps only those)", async () => {
    const schema = {
      type: 'object',
      properties: { from: { $ref: '#/definitions/place' }, to: { $ref: '#/definitions/place' } },
      required: ['from', 'to'],
      additionalProperties: false,
      definitions: {
        place: {
          type: 'object',
          properties: { city: { type: 'string' } },
          required: ['city'],
          additionalProperties: false,
        },
      },
    };
    const r = await openai().chat.completions.parse({
      model: 'claude-sim',
      messages: ask,
      response_format: { type: 'json_schema', json_schema: { name: 'trip', strict: true, schema } },
    });
    const parsed = r.choices[0]!.message.parsed as unknown as Record<string, { city: unknown }>;
    expect(typeof parsed.from?.city).toBe('string');
    expect(typeof parsed.to?.city).toBe('string');
    const sent = ((lastBody().output_config as Loose).format as Loose).schema as Loose;
    expect(Object.keys(sent.$defs as Loose)).toEqual(['place']);
    expect(JSON.stringify(sent)).not.toContain('#/definitions/');
  });

  it('responses.parse with zodTextFormat returns output_parsed that validates', async () => {
    const r = await openai().responses.parse({
      model: 'gpt-sim',
      input: 'Make an invoice for two boxes of tea.',
      text: { format: zodTextFormat(Invoice, 'invoice') },
    });
    expect(Invoice.safeParse(r.output_parsed).success).toBe(true);
    expect(lastBody().response_format).toMatchObject({
      type: 'json_schema',
      json_schema: { name: 'invoice' },
    });
  });

  it("the Anthropic SDK's messages.parse with output_config.format returns parsed_output (both models)", async () => {
    for (const model of ['claude-sim', 'gpt-sim']) {
      const client = new Anthropic({
        baseURL: f.server.url,
        apiKey: key,
        maxRetries: 0,
        defaultHeaders: { 'x-aos-session': `structured-${++n}` },
      });
      const r = await client.messages.parse({
        model,
        max_tokens: 500,
        messages: ask,
        output_config: { format: zodOutputFormat(Invoice) },
      });
      expect(Invoice.safeParse(r.parsed_output).success, model).toBe(true);
    }
  });

  it("LangChain's withStructuredOutput (method jsonSchema) returns an object the schema validates", async () => {
    const llm = new ChatOpenAI({
      model: 'gpt-sim',
      apiKey: key,
      maxRetries: 0,
      configuration: {
        baseURL: `${f.server.url}/v1`,
        defaultHeaders: { 'x-aos-session': `structured-${++n}` },
      },
    });
    const out = await llm
      .withStructuredOutput(Invoice, { name: 'invoice', method: 'jsonSchema' })
      .invoke(ask);
    expect(Invoice.safeParse(out).success).toBe(true);
    expect(lastBody().response_format).toMatchObject({
      type: 'json_schema',
      json_schema: { name: 'invoice' },
    });
  });

  it('JSON mode: response_format json_object answers a JSON object; without the word "json" the vendor 400 reaches the caller', async () => {
    const r = await openai().chat.completions.create({
      model: 'gpt-sim',
      messages: [{ role: 'user', content: 'Reply in JSON: what is the capital of France?' }],
      response_format: { type: 'json_object' },
    });
    const value = JSON.parse(r.choices[0]!.message.content!) as unknown;
    expect(value).toBeTypeOf('object');
    expect(Array.isArray(value)).toBe(false);
    const e = (await openai()
      .chat.completions.create({
        model: 'gpt-sim',
        messages: [{ role: 'user', content: 'What is the capital of France?' }],
        response_format: { type: 'json_object' },
      })
      .catch((x: unknown) => x)) as { status: number; message: string };
    expect(e.status).toBe(400);
    expect(e.message).toContain("must contain the word 'json'");
  });

  it('a DeepSeek model asked for json_schema: a 400 in OpenAI shape naming response_format and the fix, no provider call; json_object works', async () => {
    const before = f.sim.stats.requests;
    const e = (await openai()
      .chat.completions.parse({
        model: 'deepseek-sim',
        messages: ask,
        response_format: zodResponseFormat(Invoice, 'invoice'),
      })
      .catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e.status).toBe(400);
    expect(e.param).toBe('response_format');
    expect(e.type).toBe('invalid_request_error');
    expect(e.message).toContain('DeepSeek');
    expect(e.message).toContain("{type: 'json_object'}");
    expect(f.sim.stats.requests).toBe(before);
    const r = await openai().chat.completions.create({
      model: 'deepseek-sim',
      messages: [{ role: 'user', content: 'Reply in json: an invoice for tea.' }],
      response_format: { type: 'json_object' },
    });
    expect(JSON.parse(r.choices[0]!.message.content!)).toBeTypeOf('object');
    expect(lastBody().response_format).toEqual({ type: 'json_object' });
  });

  it('an Anthropic model asked for JSON mode: a 400 naming response_format and json_schema instead', async () => {
    const e = (await openai()
      .chat.completions.create({
        model: 'claude-sim',
        messages: [{ role: 'user', content: 'Reply in JSON.' }],
        response_format: { type: 'json_object' },
      })
      .catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(400);
    expect(e.param).toBe('response_format');
    expect(e.message).toContain('json_schema');
  });

  it('journal replay: the same call replays, the same call with another schema is asked of the provider', async () => {
    const client = openai({ 'x-aos-replay': '1' });
    const Short = z.object({ title: z.string() });
    const first = await client.chat.completions
      .parse({ model: 'gpt-sim', messages: ask, response_format: zodResponseFormat(Invoice, 'invoice') })
      .withResponse();
    const pid = Number(first.response.headers.get('x-aos-pid'));
    await until(async () => (await f.kernel.get(pid)).state === 'terminated', 'the session idles out');
    const before = f.sim.stats.requests;
    const other = await client.chat.completions
      .parse({ model: 'gpt-sim', messages: ask, response_format: zodResponseFormat(Short, 'short') })
      .withResponse();
    expect(other.response.headers.get('x-aos-replayed')).toBe('0');
    expect(f.sim.stats.requests).toBe(before + 1);
    expect(other.data.choices[0]!.message.parsed).toEqual(Short.parse(other.data.choices[0]!.message.parsed));
    expect(Object.keys(other.data.choices[0]!.message.parsed!)).toEqual(['title']);
    const same = await client.chat.completions
      .parse({ model: 'gpt-sim', messages: ask, response_format: zodResponseFormat(Invoice, 'invoice') })
      .withResponse();
    expect(same.response.headers.get('x-aos-replayed')).toBe('1');
    expect(f.sim.stats.requests).toBe(before + 1);
    expect(same.data.choices[0]!.message.parsed).toEqual(first.data.choices[0]!.message.parsed);
  });
});
