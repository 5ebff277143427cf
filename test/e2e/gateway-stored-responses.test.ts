/**
 * Stored responses on POST /v1/responses, through the official `openai` client unmodified: a response is
 * stored unless `store: false`, and `previous_response_id` continues it — the gateway rebuilds the
 * conversation (the previous response's input and output, then the new input) and sends it whole to the
 * provider, so chaining works with every configured provider (the simulator's OpenAI and Anthropic
 * dialects here), in the previous response's session (process). GET / DELETE /v1/responses/{id} and
 * /input_items answer in the caller's tenant only; the chain survives a kernel restart (`aos start` on PGlite).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../src/llm/simulated/server.js';
import { simConfig, startAos, stopAos, withPgSchema } from './aos-start.js';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

type Loose = Record<string, unknown>;

let f: GatewayFixture;
let key: string;

beforeAll(async () => {
  f = await gatewayFixture();
  key = await f.token();
}, 60_000);
afterAll(async () => {
  await f?.close();
});

const openai = (apiKey = key, session?: string) =>
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

/** The provider request bodies the simulator received since `from` (its stats.requests then). */
const bodiesSince = (from: number): Array<{ route: string; body: Loose }> =>
  f.sim.stats.bodies.slice(f.sim.stats.bodies.length - (f.sim.stats.requests - from));

/** The conversation of an OpenAI chat-completions body, as [role, text] pairs. */
const turns = (body: Loose) =>
  (body.messages as Array<{ role: string; content: unknown }>).map((m) => [
    m.role,
    typeof m.content === 'string' ? m.content : JSON.stringify(m.content),
  ]);

describe('gateway: stored responses and previous_response_id', () => {
  it('chains a multi-turn chat: the provider gets the whole conversation, in the same session, without the old instructions', async () => {
    const client = openai();
    const r1 = await client.responses
      .create({ model: 'gpt-sim', instructions: 'Be brief.', input: 'My name is Ada. What is 2 + 3?' })
      .withResponse();
    expect((r1.data as unknown as Loose).store).toBe(true);
    expect(r1.data.previous_response_id).toBeNull();
    const before = f.sim.stats.requests;
    const r2 = await client.responses
      .create({
        model: 'gpt-sim',
        previous_response_id: r1.data.id,
        instructions: 'Answer the second question.',
        input: 'And what is my name?',
      })
      .withResponse();
    expect(f.sim.stats.requests).toBe(before + 1);
    const [sent] = bodiesSince(before);
    // the previous input, its answer, the new input; instructions are the new call's only (OpenAI's rule)
    expect(turns(sent!.body)).toEqual([
      ['system', 'Answer the second question.'],
      ['user', 'My name is Ada. What is 2 + 3?'],
      ['assistant', r1.data.output_text],
      ['user', 'And what is my name?'],
    ]);
    expect(r2.data.previous_response_id).toBe(r1.data.id);
    expect((r2.data as unknown as Loose).store).toBe(true);
    // Different instructions would make another implicit session: the chain keeps the previous one's process.
    expect(r2.response.headers.get('x-aos-pid')).toBe(r1.response.headers.get('x-aos-pid'));
    expect(r2.response.headers.get('x-aos-session')).toBe(r1.response.headers.get('x-aos-session'));

    // a third turn chains on the second: the whole conversation again
    const mark = f.sim.stats.requests;
    await client.responses.create({ model: 'gpt-sim', previous_response_id: r2.data.id, input: 'Thanks.' });
    expect(turns(bodiesSince(mark)[0]!.body)).toEqual([
      ['user', 'My name is Ada. What is 2 + 3?'],
      ['assistant', r1.data.output_text],
      ['user', 'And what is my name?'],
      ['assistant', r2.data.output_text],
      ['user', 'Thanks.'],
    ]);
  });

  it("runs the Agents SDK's loop: a streamed function call, then its function_call_output chained by previous_response_id", async () => {
    const client = openai();
    const stream = client.responses.stream({
      model: 'gpt-sim',
      instructions: 'You are a calculator agent.',
      input: 'What is 12 * 7?',
      tools: [calculator],
    });
    const r1 = await stream.finalResponse();
    const call = r1.output.find((o) => o.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('no function call');
    expect(JSON.parse(call.arguments)).toEqual({ expression: '12 * 7' });
    const before = f.sim.stats.requests;
    const r2 = await client.responses.create({
      model: 'gpt-sim',
      previous_response_id: r1.id,
      instructions: 'You are a calculator agent.',
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '84' }],
      tools: [calculator],
    });
    expect(r2.output_text).toContain('84');
    const msgs = bodiesSince(before)[0]!.body.messages as Loose[];
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool']);
    expect((msgs[2]!.tool_calls as Loose[])[0]).toMatchObject({ id: call.call_id });
    expect(msgs[3]).toMatchObject({ tool_call_id: call.call_id, content: '84' });
    // GET returns the streamed response as it was announced (same item ids)
    const got = await client.responses.retrieve(r1.id);
    // (less the stream helper's own parsed_arguments)
    expect(got.output).toEqual((r1.output as unknown as Loose[]).map(({ parsed_arguments: _, ...o }) => o));
  });

  it('chains on the Anthropic-dialect provider too: the gateway, not the provider, holds the chain', async () => {
    const client = openai();
    const r1 = await client.responses.create({ model: 'claude-sim', input: 'My favourite colour is teal.' });
    const before = f.sim.stats.requests;
    const r2 = await client.responses.create({
      model: 'claude-sim',
      previous_response_id: r1.id,
      input: 'What is my favourite colour?',
    });
    expect(r2.status).toBe('completed');
    const sent = bodiesSince(before)[0]!;
    expect(sent.route).toContain('messages');
    const text = (c: unknown) =>
      typeof c === 'string' ? c : (c as Array<{ text?: string }>).map((p) => p.text ?? '').join('');
    expect(
      (sent.body.messages as Array<{ role: string; content: unknown }>).map((m) => [m.role, text(m.content)]),
    ).toEqual([
      ['user', 'My favourite colour is teal.'],
      ['assistant', r1.output_text],
      ['user', 'What is my favourite colour?'],
    ]);
  });

  it("is tenant-scoped: another tenant's key gets 404 for the response and 400 previous_response_not_found for chaining", async () => {
    const a = openai(await f.token({ tenant: 'acme' }));
    const b = openai(await f.token({ tenant: 'globex' }));
    const r = await a.responses.create({ model: 'gpt-sim', input: 'A secret of acme.' });
    expect((await a.responses.retrieve(r.id)).id).toBe(r.id);
    const get = await b.responses.retrieve(r.id).catch((e) => e);
    expect(get).toBeInstanceOf(OpenAI.NotFoundError);
    expect(get.message).toContain(`Response with id '${r.id}' not found`);
    await expect(b.responses.inputItems.list(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(b.responses.delete(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const before = f.sim.stats.requests;
    const chain = await b.responses
      .create({ model: 'gpt-sim', previous_response_id: r.id, input: 'Tell me the secret.' })
      .catch((e) => e);
    expect(chain).toBeInstanceOf(OpenAI.BadRequestError);
    expect(chain.code).toBe('previous_response_not_found');
    expect(chain.param).toBe('previous_response_id');
    expect(chain.message).toContain(`Previous response with id '${r.id}' not found`);
    expect(f.sim.stats.requests).toBe(before); // refused before any provider call
    // still there for its own tenant
    expect((await a.responses.retrieve(r.id)).output_text).toBe(r.output_text);
  });

  it('store: false is not stored: not retrievable, and chaining on it fails clearly', async () => {
    const client = openai();
    const r = await client.responses.create({ model: 'gpt-sim', input: 'Forget this.', store: false });
    expect((r as unknown as Loose).store).toBe(false);
    await expect(client.responses.retrieve(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const chain = await client.responses
      .create({ model: 'gpt-sim', previous_response_id: r.id, input: 'What did I say?' })
      .catch((e) => e);
    expect(chain).toBeInstanceOf(OpenAI.BadRequestError);
    expect(chain.code).toBe('previous_response_not_found');
    expect(chain.message).toContain('store: false');
    const unknown = await client.responses
      .create({ model: 'gpt-sim', previous_response_id: 'resp_nope', input: 'x' })
      .catch((e) => e);
    expect(unknown.code).toBe('previous_response_not_found');
    const { rows } = await f.kernel.storage.driver.query('SELECT 1 FROM gateway_responses WHERE id = $1', [
      r.id,
    ]);
    expect(rows).toHaveLength(0);
  });

  it('retrieves, lists input items (newest first, paginated) and deletes a stored response', async () => {
    const client = openai();
    const r1 = await client.responses.create({ model: 'gpt-sim', input: 'First question: what is 1 + 1?' });
    const r2 = await client.responses.create({
      model: 'gpt-sim',
      previous_response_id: r1.id,
      input: [{ role: 'user', content: 'Second question: what is 2 + 2?' }],
      temperature: 0.5,
    });
    const got = await client.responses.retrieve(r2.id);
    expect(got).toMatchObject({
      id: r2.id,
      object: 'response',
      status: 'completed',
      model: 'gpt-sim',
      previous_response_id: r1.id,
      store: true,
      temperature: 0.5,
      created_at: r2.created_at,
    });
    expect(got.output).toEqual(r2.output);
    expect(got.usage).toEqual(r2.usage);
    expect(got.output_text).toBe(r2.output_text);

    // the resolved input: r1's input and output, then r2's own input; OpenAI's default order is newest first
    const items: Loose[] = [];
    for await (const it of client.responses.inputItems.list(r2.id, { limit: 2 })) items.push(it as never);
    expect(items).toHaveLength(3);
    const texts = items.map((it) => (it.content as Array<{ text: string }>)[0]!.text);
    expect(texts).toEqual([
      'Second question: what is 2 + 2?',
      r1.output_text,
      'First question: what is 1 + 1?',
    ]);
    expect(items.map((it) => it.role)).toEqual(['user', 'assistant', 'user']);
    expect(new Set(items.map((it) => it.id)).size).toBe(3);
    const page = await client.responses.inputItems.list(r2.id, { order: 'asc', limit: 1 });
    expect(page.data.map((it) => it.id)).toEqual([items[2]!.id]);
    expect(page.has_more).toBe(true);
    // the list object as sent (the SDK's page keeps data and has_more)
    const raw = await fetch(`${f.server.url}/v1/responses/${r2.id}/input_items?order=asc&limit=2`, {
      headers: { authorization: `Bearer ${key}` },
    }).then((r) => r.json() as Promise<Loose & { data: unknown[] }>);
    expect(raw).toMatchObject({
      object: 'list',
      first_id: items[2]!.id,
      last_id: items[1]!.id,
      has_more: true,
    });
    expect(raw.data).toHaveLength(2);

    await client.responses.delete(r1.id);
    await expect(client.responses.retrieve(r1.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.delete(r1.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const chain = await client.responses
      .create({ model: 'gpt-sim', previous_response_id: r1.id, input: 'x' })
      .catch((e) => e);
    expect(chain.code).toBe('previous_response_not_found');
    // r2 holds its own copy of the conversation: chaining on it still works
    const r3 = await client.responses.create({
      model: 'gpt-sim',
      previous_response_id: r2.id,
      input: 'Thanks.',
    });
    expect(r3.status).toBe('completed');
  });

  it('expired responses are not found, and the purge deletes them', async () => {
    const client = openai();
    const r = await client.responses.create({ model: 'gpt-sim', input: 'Short-lived.' });
    await client.responses.retrieve(r.id);
    await f.kernel.storage.driver.query(
      "UPDATE gateway_responses SET expires_at = now() - interval '1 second' WHERE id = $1",
      [r.id],
    );
    await expect(client.responses.retrieve(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect(await f.server.gateway!.responses.purge()).toBeGreaterThanOrEqual(1);
    const { rows } = await f.kernel.storage.driver.query('SELECT 1 FROM gateway_responses WHERE id = $1', [
      r.id,
    ]);
    expect(rows).toHaveLength(0);
  });
});

describe('gateway: a response chain survives a kernel restart', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('`aos start` on PGlite: chained after a graceful restart and after kill -9, in the same process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-gw-stored-'));
    dirs.push(dir);
    await chainSurvives(dir, `pglite://${join(dir, 'db')}`);
  }, 180_000);

  it('the same on the PostgreSQL server, where each start is a new node taking the session over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-gw-stored-pg-'));
    dirs.push(dir);
    await withPgSchema('aos_gw_stored', (url) => chainSurvives(dir, url));
  }, 180_000);

  async function chainSurvives(dir: string, storage: string): Promise<void> {
    const sim = await createSimulator();
    try {
      const config = simConfig(dir, sim.urlFor('openai'), { storage });
      let k = await startAos(config, children);
      const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
      const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: admin, maxRetries: 0 });
      const r1 = await client(k.url)
        .responses.create({ model: 'gpt-sim', input: 'My name is Grace.' })
        .withResponse();
      const pid = r1.response.headers.get('x-aos-pid');
      await stopAos(k.child, 'SIGTERM');
      k = await startAos(config, children);
      const r2 = await client(k.url)
        .responses.create({ model: 'gpt-sim', previous_response_id: r1.data.id, input: 'What is my name?' })
        .withResponse();
      expect(r2.response.headers.get('x-aos-pid')).toBe(pid);
      const sent = sim.stats.bodies.at(-1)!.body.messages as Array<{ content: string }>;
      expect(sent.map((m) => m.content)).toEqual([
        'My name is Grace.',
        r1.data.output_text,
        'What is my name?',
      ]);
      // stored once GET finds it (the row rides its step's commit), then kill -9
      await client(k.url).responses.retrieve(r2.data.id);
      await stopAos(k.child, 'SIGKILL');
      k = await startAos(config, children);
      const r3 = await client(k.url).responses.create({
        model: 'gpt-sim',
        previous_response_id: r2.data.id,
        input: 'Thanks.',
      });
      expect(r3.previous_response_id).toBe(r2.data.id);
      expect((sim.stats.bodies.at(-1)!.body.messages as unknown[]).length).toBe(5);
      await stopAos(k.child, 'SIGTERM');
    } finally {
      await sim.close();
    }
  }
});
