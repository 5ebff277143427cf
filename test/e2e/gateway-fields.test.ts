/**
 * No request field is accepted and dropped. For each dialect (chat completions, responses, messages,
 * embeddings) and each field it accepts: a forwarded field reaches the provider's wire request — the body the
 * simulator received over loopback, sent by the official SDK through the gateway — under that vendor's name,
 * for an OpenAI and an Anthropic model alike, or is refused with a 400 naming it where that vendor has no
 * such field; a field accepted only at its no-op value is refused at any other. The inventory is the
 * gateway's own (src/gateway/fields.ts): a field added there without a row here fails. And the outcome a caller
 * sees: stop sequences cut the answer, with finish_reason "stop" / stop_reason "stop_sequence".
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHAT_FIELDS,
  EMBEDDING_FIELDS,
  MESSAGES_FIELDS,
  RESPONSES_FIELDS,
} from '../../src/gateway/fields.js';
import { calculatorTool, type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

type Loose = Record<string, unknown>;
type Model = 'gpt-sim' | 'claude-sim';
/** What the provider's wire body must hold (a getter and the value), or the param of the 400. */
type Outcome = { get: (b: Loose) => unknown; is: unknown } | { refused: string };
interface Row {
  extra: Loose;
  'gpt-sim': Outcome;
  'claude-sim': Outcome;
}

let f: GatewayFixture;
let key: string;
let n = 0;

beforeAll(async () => {
  f = await gatewayFixture({ sim: { latency: { ttftMs: 0, perTokenMs: 0 } } });
  key = await f.token();
}, 60_000);
afterAll(async () => {
  await f?.close();
});

const openai = () =>
  new OpenAI({
    baseURL: `${f.server.url}/v1`,
    apiKey: key,
    maxRetries: 0,
    defaultHeaders: { 'x-aos-session': `fields-${++n}` },
  });
const anthropic = () =>
  new Anthropic({
    baseURL: f.server.url,
    apiKey: key,
    maxRetries: 0,
    defaultHeaders: { 'x-aos-session': `fields-${++n}` },
  });

const at =
  (...path: Array<string | number>) =>
  (b: Loose): unknown =>
    path.reduce<unknown>((v, k) => (v as Loose | undefined)?.[k as string], b);
const same = (get: (b: Loose) => unknown, is: unknown): Outcome => ({ get, is });
const both = (o: Outcome): Pick<Row, Model> => ({ 'gpt-sim': o, 'claude-sim': o });

const lastBody = (): Loose => f.sim.stats.bodies.at(-1)!.body;

/** Sends one request; the provider's wire body, or the 400's param / message. */
async function send(
  call: () => Promise<unknown>,
): Promise<{ body: Loose } | { status: number; param: string | null; message: string }> {
  const before = f.sim.stats.requests;
  try {
    await call();
  } catch (err) {
    const e = err as { status?: number; param?: string | null; message: string };
    return { status: e.status ?? 0, param: e.param ?? null, message: e.message };
  }
  expect(f.sim.stats.requests).toBe(before + 1);
  return { body: lastBody() };
}

async function check(row: Row, model: Model, call: () => Promise<unknown>, field: string) {
  const want = row[model];
  const got = await send(call);
  if ('refused' in want) {
    expect(got, `${field} → ${model}: refused`).toMatchObject({ status: 400 });
    const r = got as { param: string | null; message: string };
    expect(`${r.param ?? ''} ${r.message}`).toContain(want.refused);
  } else {
    expect('body' in got, `${field} → ${model}: ${JSON.stringify(got)}`).toBe(true);
    expect(want.get((got as { body: Loose }).body), `${field} → ${model}`).toEqual(want.is);
  }
}

const anthropicTool = {
  name: 'calculator',
  description: 'Evaluates an arithmetic expression',
  input_schema: calculatorTool.function.parameters,
};
const responsesTool = {
  type: 'function',
  name: 'calculator',
  parameters: calculatorTool.function.parameters,
};
/** The first message's text, a string (OpenAI) or text blocks (Anthropic). */
const firstText = (b: Loose): unknown => {
  const c = at('messages', 0, 'content')(b);
  return Array.isArray(c) ? c.map((x: Loose) => x.text).join('') : c;
};
const maxOut = (b: Loose) => b.max_completion_tokens ?? b.max_tokens;
const answerSchema = {
  type: 'object',
  properties: { answer: { type: 'string' } },
  required: ['answer'],
  additionalProperties: false,
};

const CHAT: Record<(typeof CHAT_FIELDS.forwarded)[number], Row> = {
  messages: { extra: {}, ...both(same(firstText, 'hi')) },
  tools: {
    extra: { tools: [calculatorTool] },
    'gpt-sim': same(at('tools', 0, 'function', 'name'), 'calculator'),
    'claude-sim': same(at('tools', 0, 'name'), 'calculator'),
  },
  tool_choice: {
    extra: { tools: [calculatorTool], tool_choice: { type: 'function', function: { name: 'calculator' } } },
    'gpt-sim': same(at('tool_choice', 'function', 'name'), 'calculator'),
    'claude-sim': same(at('tool_choice'), { type: 'tool', name: 'calculator' }),
  },
  temperature: { extra: { temperature: 0.3 }, ...both(same(at('temperature'), 0.3)) },
  max_tokens: { extra: { max_tokens: 77 }, ...both(same(maxOut, 77)) },
  max_completion_tokens: { extra: { max_completion_tokens: 78 }, ...both(same(maxOut, 78)) },
  stop: {
    extra: { stop: ['END'] },
    'gpt-sim': same(at('stop'), ['END']),
    'claude-sim': same(at('stop_sequences'), ['END']),
  },
  top_p: { extra: { top_p: 0.5 }, ...both(same(at('top_p'), 0.5)) },
  frequency_penalty: {
    extra: { frequency_penalty: 0.5 },
    'gpt-sim': same(at('frequency_penalty'), 0.5),
    'claude-sim': { refused: 'frequency_penalty' },
  },
  presence_penalty: {
    extra: { presence_penalty: -0.5 },
    'gpt-sim': same(at('presence_penalty'), -0.5),
    'claude-sim': { refused: 'presence_penalty' },
  },
  seed: { extra: { seed: 42 }, 'gpt-sim': same(at('seed'), 42), 'claude-sim': { refused: 'seed' } },
  reasoning_effort: {
    extra: { reasoning_effort: 'low' },
    'gpt-sim': same(at('reasoning_effort'), 'low'),
    'claude-sim': { refused: 'reasoning_effort' },
  },
  parallel_tool_calls: {
    extra: { tools: [calculatorTool], parallel_tool_calls: false },
    'gpt-sim': same(at('parallel_tool_calls'), false),
    'claude-sim': same(at('tool_choice', 'disable_parallel_tool_use'), true),
  },
  user: {
    extra: { user: 'end-user-1' },
    'gpt-sim': same(at('user'), 'end-user-1'),
    'claude-sim': same(at('metadata', 'user_id'), 'end-user-1'),
  },
  safety_identifier: {
    extra: { safety_identifier: 'end-user-2' },
    'gpt-sim': same(at('user'), 'end-user-2'),
    'claude-sim': same(at('metadata', 'user_id'), 'end-user-2'),
  },
  response_format: {
    extra: {
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', strict: true, schema: answerSchema },
      },
    },
    'gpt-sim': same(at('response_format', 'json_schema', 'name'), 'answer'),
    'claude-sim': same(at('output_config', 'format', 'schema', 'required'), ['answer']),
  },
};

const RESPONSES: Record<(typeof RESPONSES_FIELDS.forwarded)[number], Row> = {
  input: { extra: {}, ...both(same(firstText, 'hi')) },
  instructions: {
    extra: { instructions: 'Be brief.' },
    'gpt-sim': same(at('messages', 0), { role: 'system', content: 'Be brief.' }),
    'claude-sim': same(at('system', 0, 'text'), 'Be brief.'),
  },
  tools: {
    extra: { tools: [responsesTool] },
    'gpt-sim': same(at('tools', 0, 'function', 'name'), 'calculator'),
    'claude-sim': same(at('tools', 0, 'name'), 'calculator'),
  },
  tool_choice: {
    extra: { tools: [responsesTool], tool_choice: { type: 'function', name: 'calculator' } },
    'gpt-sim': same(at('tool_choice', 'function', 'name'), 'calculator'),
    'claude-sim': same(at('tool_choice'), { type: 'tool', name: 'calculator' }),
  },
  temperature: { extra: { temperature: 0.2 }, ...both(same(at('temperature'), 0.2)) },
  max_output_tokens: { extra: { max_output_tokens: 79 }, ...both(same(maxOut, 79)) },
  top_p: { extra: { top_p: 0.4 }, ...both(same(at('top_p'), 0.4)) },
  parallel_tool_calls: {
    extra: { tools: [responsesTool], parallel_tool_calls: false },
    'gpt-sim': same(at('parallel_tool_calls'), false),
    'claude-sim': same(at('tool_choice', 'disable_parallel_tool_use'), true),
  },
  reasoning: {
    extra: { reasoning: { effort: 'high' } },
    'gpt-sim': same(at('reasoning_effort'), 'high'),
    'claude-sim': { refused: 'reasoning_effort' },
  },
  user: {
    extra: { user: 'end-user-3' },
    'gpt-sim': same(at('user'), 'end-user-3'),
    'claude-sim': same(at('metadata', 'user_id'), 'end-user-3'),
  },
  safety_identifier: {
    extra: { safety_identifier: 'end-user-4' },
    'gpt-sim': same(at('user'), 'end-user-4'),
    'claude-sim': same(at('metadata', 'user_id'), 'end-user-4'),
  },
  text: {
    extra: { text: { format: { type: 'json_schema', name: 'answer', strict: true, schema: answerSchema } } },
    'gpt-sim': same(at('response_format', 'json_schema', 'schema', 'required'), ['answer']),
    'claude-sim': same(at('output_config', 'format', 'type'), 'json_schema'),
  },
};

const MESSAGES: Record<(typeof MESSAGES_FIELDS.forwarded)[number], Row> = {
  messages: { extra: {}, ...both(same(firstText, 'hi')) },
  system: {
    extra: { system: 'Be brief.' },
    'gpt-sim': same(at('messages', 0), { role: 'system', content: 'Be brief.' }),
    'claude-sim': same(at('system', 0, 'text'), 'Be brief.'),
  },
  tools: {
    extra: { tools: [anthropicTool] },
    'gpt-sim': same(at('tools', 0, 'function', 'name'), 'calculator'),
    'claude-sim': same(at('tools', 0, 'name'), 'calculator'),
  },
  tool_choice: {
    extra: { tools: [anthropicTool], tool_choice: { type: 'tool', name: 'calculator' } },
    'gpt-sim': same(at('tool_choice', 'function', 'name'), 'calculator'),
    'claude-sim': same(at('tool_choice'), { type: 'tool', name: 'calculator' }),
  },
  temperature: { extra: { temperature: 0.4 }, ...both(same(at('temperature'), 0.4)) },
  max_tokens: { extra: { max_tokens: 51 }, ...both(same(maxOut, 51)) },
  stop_sequences: {
    extra: { stop_sequences: ['END', 'FIN'] },
    'gpt-sim': same(at('stop'), ['END', 'FIN']),
    'claude-sim': same(at('stop_sequences'), ['END', 'FIN']),
  },
  top_p: { extra: { top_p: 0.6 }, ...both(same(at('top_p'), 0.6)) },
  top_k: { extra: { top_k: 5 }, 'gpt-sim': { refused: 'top_k' }, 'claude-sim': same(at('top_k'), 5) },
  metadata: {
    extra: { metadata: { user_id: 'end-user-5' } },
    'gpt-sim': same(at('user'), 'end-user-5'),
    'claude-sim': same(at('metadata', 'user_id'), 'end-user-5'),
  },
  output_config: {
    extra: { output_config: { format: { type: 'json_schema', schema: answerSchema } } },
    'gpt-sim': same(at('response_format', 'json_schema', 'schema', 'required'), ['answer']),
    'claude-sim': same(at('output_config', 'format', 'schema', 'properties'), answerSchema.properties),
  },
};

/** Fields taken only at the value that changes nothing: [field, a refused value, the accepted no-op]. */
const CHAT_NOOPS: Array<[(typeof CHAT_FIELDS.noopOnly)[number], unknown, unknown]> = [
  ['n', 2, 1],
  ['logprobs', true, false],
  ['top_logprobs', 3, 0],
  ['store', true, false],
  ['metadata', { run: 'a' }, {}],
  ['service_tier', 'flex', 'auto'],
  ['logit_bias', { '50256': -100 }, {}],
  ['verbosity', 'low', null],
];
const RESPONSES_NOOPS: Array<[(typeof RESPONSES_FIELDS.noopOnly)[number], unknown, unknown]> = [
  ['metadata', { run: 'a' }, {}],
  ['service_tier', 'priority', 'default'],
  ['truncation', 'auto', 'disabled'],
  ['include', ['reasoning.encrypted_content'], []],
  ['top_logprobs', 2, 0],
  ['background', true, false],
  ['max_tool_calls', 3, null],
  ['conversation', 'conv_123', null],
  ['prompt', { id: 'pmpt_123' }, null],
];
const MESSAGES_NOOPS: Array<[(typeof MESSAGES_FIELDS.noopOnly)[number], unknown, unknown]> = [
  ['thinking', { type: 'enabled', budget_tokens: 2048 }, { type: 'disabled' }],
  ['service_tier', 'standard_only', 'auto'],
];

const chat = (model: Model, extra: Loose) => () =>
  openai().chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'hi' }],
    ...extra,
  } as never);
const responses = (model: Model, extra: Loose) => () =>
  openai().responses.create({ model, input: 'hi', ...extra } as never);
const messages = (model: Model, extra: Loose) => () =>
  anthropic().messages.create({
    model,
    max_tokens: 50,
    messages: [{ role: 'user', content: 'hi' }],
    ...extra,
  } as never);

describe('gateway: every accepted field is forwarded or refused, never dropped', () => {
  it('the inventories are complete: each accepted field has a forwarding or a refusal check here', () => {
    const cover = (
      fields: Record<string, readonly string[]>,
      rows: object,
      noops: Array<[string, ...unknown[]]>,
    ) => {
      expect(Object.keys(rows).sort()).toEqual([...fields.forwarded!].sort());
      expect(noops.map(([k]) => k).sort()).toEqual([...fields.noopOnly!].sort());
    };
    cover(CHAT_FIELDS, CHAT, CHAT_NOOPS);
    cover(RESPONSES_FIELDS, RESPONSES, RESPONSES_NOOPS);
    cover(MESSAGES_FIELDS, MESSAGES, MESSAGES_NOOPS);
    cover(EMBEDDING_FIELDS, { input: 1, dimensions: 1 }, [['user']]);
  });

  for (const [dialect, rows, send] of [
    ['chat completions', CHAT, chat],
    ['responses', RESPONSES, responses],
    ['messages', MESSAGES, messages],
  ] as const)
    for (const model of ['gpt-sim', 'claude-sim'] as const)
      it(`${dialect} → ${model}: each forwarded field reaches the provider's wire body (or a 400 names it)`, async () => {
        for (const [field, row] of Object.entries(rows as Record<string, Row>))
          await check(row, model, send(model, row.extra), field);
      });

  it('a no-op-only field is refused with a 400 naming it at any other value, accepted at the no-op', async () => {
    for (const [dialect, noops, send] of [
      ['chat', CHAT_NOOPS, chat],
      ['responses', RESPONSES_NOOPS, responses],
      ['messages', MESSAGES_NOOPS, messages],
    ] as const) {
      for (const [field, refused, noop] of noops) {
        const r = await send('gpt-sim', { [field]: refused })().catch((e: unknown) => e);
        expect(r, `${dialect}.${field}=${JSON.stringify(refused)}`).toMatchObject({ status: 400 });
        expect((r as Error).message, `${dialect}.${field}`).toContain(field);
        if (noop !== null) await send('gpt-sim', { [field]: noop })();
      }
    }
  });

  it('embeddings: input and dimensions reach the provider; user is refused, unknown fields too', async () => {
    const client = openai();
    const r = await client.embeddings.create({
      model: 'gpt-sim',
      input: ['a b'],
      dimensions: 8,
    });
    expect(r.data[0]!.embedding).toHaveLength(8);
    expect(lastBody()).toMatchObject({ input: ['a b'], dimensions: 8 });
    for (const extra of [{ user: 'u-1' }, { priority: 1 }]) {
      const e = await client.embeddings
        .create({ model: 'gpt-sim', input: 'x', ...extra } as never)
        .catch((x: unknown) => x);
      expect(e).toMatchObject({ status: 400 });
      expect((e as Error).message).toContain(Object.keys(extra)[0]);
    }
  });
});

describe('gateway: stop sequences change what the caller gets', () => {
  const script = () => f.sim.engine.script([{ text: 'alpha beta END gamma delta' }]);

  it('chat completions (stream and not): the answer ends before the stop sequence, finish_reason stop', async () => {
    for (const model of ['gpt-sim', 'claude-sim'] as const) {
      script();
      const r = await openai().chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'say it' }],
        stop: ['END'],
      });
      expect(r.choices[0]!.message.content).toBe('alpha beta ');
      expect(r.choices[0]!.finish_reason).toBe('stop');
      script();
      const s = await openai().chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'say it' }],
        stop: 'END',
        stream: true,
      });
      let text = '';
      let finish: string | null = null;
      for await (const c of s) {
        text += c.choices[0]?.delta.content ?? '';
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      expect(text).toBe('alpha beta ');
      expect(finish).toBe('stop');
    }
  });

  it('messages (stream and not): stop_reason stop_sequence with the sequence that matched', async () => {
    script();
    const r = await anthropic().messages.create({
      model: 'claude-sim',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'say it' }],
      stop_sequences: ['gamma', 'END'],
    });
    expect(r.content.map((b) => (b.type === 'text' ? b.text : b.type))).toEqual(['alpha beta ']);
    expect(r.stop_reason).toBe('stop_sequence');
    expect(r.stop_sequence).toBe('END');
    script();
    const final = await anthropic()
      .messages.stream({
        model: 'claude-sim',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'say it' }],
        stop_sequences: ['END'],
      })
      .finalMessage();
    expect(final.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).toBe('alpha beta ');
    expect(final.stop_reason).toBe('stop_sequence');
    expect(final.stop_sequence).toBe('END');
  });
});
