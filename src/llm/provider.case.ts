/**
 * The provider conformance suite: one set of behaviours every Model must show, run once per preset (and for
 * Anthropic and the in-process simulator) against the simulator — over HTTP through the official SDK where
 * the provider has one. Plain, streaming, tool calls, usage per dialect with cached tokens, 429 + Retry-After,
 * circuit open/close, fallback, abort, timeout, malformed output, structured outputs (each response format
 * the vendor's rule names is answered in it, each other one refused before the call). No timed assertions:
 * retries use a recording sleep and the circuit a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../errors.js';
import type { ChatRequest, ChatResponse, Model, StreamEvent } from './model.js';
import type { Preset } from './presets.js';
import { CircuitBreaker } from './resilience/circuit.js';
import { FallbackModel } from './resilience/fallback-model.js';
import { ResilientModel } from './resilience/resilient-model.js';
import type { SimEngine } from './simulated/engine.js';
import { SimulatedProvider } from './simulated/simulated-provider.js';
import { rulesFor } from './wire-rules.js';

export interface ConformanceTarget {
  label: string;
  preset: Preset;
  model: string;
  /** A bare model (no retries, no breaker) talking to the shared simulator. */
  make(): Model;
  engine(): SimEngine;
}

const TOOLS = [
  {
    name: 'read_file',
    description: 'Read a file in the workspace',
    parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  },
];

async function collect(
  m: Model,
  req: ChatRequest,
): Promise<{ events: StreamEvent[]; response: ChatResponse }> {
  const events: StreamEvent[] = [];
  for await (const ev of m.stream(req)) events.push(ev);
  const last = events[events.length - 1];
  if (last?.type !== 'done') throw new Error('stream did not end with done');
  return { events, response: last.response };
}

async function rejection(p: Promise<unknown>): Promise<KernelError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KernelError) return err;
    throw new Error(`expected a KernelError, got ${String(err)}`);
  }
  throw new Error('expected a rejection');
}

async function streamRejection(m: Model, req: ChatRequest): Promise<KernelError> {
  return rejection(collect(m, req));
}

/** ~1,500 tokens of deterministic text, unique per label so targets never share a cache entry. */
function longSystem(label: string): string {
  const words: string[] = [`Cache test for ${label}.`];
  for (let i = 0; i < 700; i++) words.push(`item${(i * 7919) % 1000} value`);
  return words.join(' ');
}

const ask = (content: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  messages: [{ role: 'user', content }],
  ...extra,
});

export function providerConformance(t: ConformanceTarget): void {
  const d = t.preset.dialect;
  describe(`provider conformance: ${t.label}`, () => {
    it('answers a plain chat, names a sim- model, reports usage', async () => {
      t.engine().script([{ text: 'Hello from the script.' }]);
      const r = await t.make().chat(ask('Say hello'));
      expect(r.content).toBe('Hello from the script.');
      expect(r.finishReason).toBe('stop');
      expect(r.toolCalls).toEqual([]);
      expect(r.model.startsWith('sim-')).toBe(true);
      expect(r.usage.input).toBeGreaterThan(0);
      expect(r.usage.output).toBe(5);
      expect(r.usage.cachedInput).toBe(0);
    });

    it('streams text deltas that add up to the final response', async () => {
      t.engine().script([{ text: 'one two three four' }]);
      const { events, response } = await collect(t.make(), ask('Count'));
      const text = events.filter((e) => e.type === 'text').map((e) => (e as { delta: string }).delta);
      expect(text.length).toBeGreaterThan(1);
      expect(text.join('')).toBe('one two three four');
      expect(response.content).toBe('one two three four');
      expect(response.usage.output).toBeGreaterThan(0);
      expect(response.usage.input).toBeGreaterThan(0);
    });

    it('returns tool calls with JSON arguments (non-streaming and streaming)', async () => {
      const call = { name: 'read_file', arguments: { path: 'notes/todo.md' }, id: 'call_abc' };
      t.engine().script([{ toolCalls: [call] }, { toolCalls: [call] }]);
      const req = ask('Read notes/todo.md', { tools: TOOLS, toolChoice: 'auto' });
      const r = await t.make().chat(req);
      expect(r.finishReason).toBe('tool_calls');
      expect(r.toolCalls).toHaveLength(1);
      expect(r.toolCalls[0]!.name).toBe('read_file');
      expect(r.toolCalls[0]!.id).toBe('call_abc');
      expect(JSON.parse(r.toolCalls[0]!.arguments)).toEqual({ path: 'notes/todo.md' });
      const { events, response } = await collect(t.make(), req);
      expect(events.some((e) => e.type === 'tool_call')).toBe(true);
      expect(response.toolCalls.map((c) => [c.id, c.name, JSON.parse(c.arguments)])).toEqual([
        ['call_abc', 'read_file', { path: 'notes/todo.md' }],
      ]);
    });

    it('sends tool results back and continues the conversation', async () => {
      t.engine().script([{ text: 'The file says: buy milk.' }]);
      const r = await t.make().chat({
        tools: TOOLS,
        messages: [
          { role: 'user', content: 'Read notes/todo.md' },
          {
            role: 'assistant',
            content: '',
            toolCalls: [{ id: 'call_1', name: 'read_file', arguments: '{"path":"notes/todo.md"}' }],
            reasoning: 'need the file',
          },
          { role: 'tool', toolCallId: 'call_1', name: 'read_file', content: 'buy milk' },
        ],
      });
      expect(r.content).toBe('The file says: buy milk.');
      const sent = t.engine().stats.bodies.at(-1)!.body;
      expect(JSON.stringify(sent)).toContain('buy milk');
    });

    it('reports cached prompt tokens by prefix, normalised from its usage dialect', async () => {
      t.engine().script(null);
      const req: ChatRequest = {
        messages: [
          { role: 'system', content: longSystem(t.label), cacheBreakpoint: true },
          { role: 'user', content: 'What is in the cache?' },
        ],
        promptCacheKey: `conf-${t.label}`,
      };
      const first = await t.make().chat(req);
      const second = await t.make().chat(req);
      const third = await collect(t.make(), req);
      expect(first.usage.input).toBeGreaterThan(1024);
      expect(second.usage.input).toBe(first.usage.input);
      expect(first.usage.cachedInput).toBe(0);
      if (d === 'ollama') {
        expect(second.usage.cachedInput).toBe(0); // Ollama reports no cached field at all
      } else if (d === 'anthropic') {
        // The breakpoint after the system block: written on the first call, read on the second.
        expect(first.usage.cacheWrite).toBeGreaterThan(1024);
        expect(second.usage.cacheWrite).toBe(0);
        expect(second.usage.cachedInput).toBe(first.usage.cacheWrite);
        expect(third.response.usage).toEqual(second.usage);
      } else {
        expect(second.usage.cachedInput).toBe(Math.floor(first.usage.input / 128) * 128);
        expect(third.response.usage.cachedInput).toBe(second.usage.cachedInput);
        expect(third.response.usage.input).toBe(first.usage.input);
      }
      if (t.preset.quirks.promptCacheKey && d !== 'anthropic') {
        expect(t.engine().stats.bodies.at(-1)!.body.prompt_cache_key).toBe(`conf-${t.label}`);
      }
    });

    it('retries a 429 after exactly its Retry-After', async () => {
      t.engine().script([{ error: { status: 429, retryAfterMs: 7 } }, { text: 'after the wait' }]);
      const waits: number[] = [];
      const m = new ResilientModel(t.make(), null, { sleep: async (ms) => void waits.push(ms) });
      const r = await m.chat(ask('hi'));
      expect(r.content).toBe('after the wait');
      expect(waits).toEqual([7]);
    });

    it('surfaces a 429 beyond the retry cap as ERATELIMIT with retryAfterMs', async () => {
      t.engine().script([{ error: { status: 429, retryAfterMs: 90_000 } }]);
      const m = new ResilientModel(t.make(), null, { sleep: async () => {}, maxMs: 30_000 });
      const e = await rejection(m.chat(ask('hi')));
      expect(e.code).toBe('ERATELIMIT');
      expect(e.details.retryAfterMs).toBe(90_000);
    });

    it('opens the circuit after repeated 5xx, fails fast, then closes after a good probe', async () => {
      let now = 1_000_000;
      const breaker = new CircuitBreaker(t.label, { threshold: 3, openMs: 5_000, now: () => now });
      const m = new ResilientModel(t.make(), breaker, { maxRetries: 0 });
      t.engine().script([
        { error: { status: 500 } },
        { error: { status: 502 } },
        { error: { status: 503 } },
        { text: 'recovered' },
      ]);
      for (let i = 0; i < 3; i++) expect((await rejection(m.chat(ask('x')))).code).toBe('EPROVIDER');
      expect(breaker.state).toBe('open');
      const before = t.engine().stats.requests;
      const fast = await rejection(m.chat(ask('x')));
      expect(fast.code).toBe('ECIRCUIT');
      expect(t.engine().stats.requests).toBe(before); // failed fast: nothing was sent
      now += 5_000;
      expect(breaker.state).toBe('half_open');
      expect((await m.chat(ask('x'))).content).toBe('recovered');
      expect(breaker.state).toBe('closed');
    });

    it('falls back to the next model when this one fails', async () => {
      t.engine().script([{ error: { status: 503 } }]);
      const backup = new SimulatedProvider({
        name: 'backup',
        scenario: [{ text: 'served by the backup' }],
      }).model('sim-backup');
      const m = new FallbackModel([new ResilientModel(t.make(), null, { maxRetries: 0 }), backup]);
      const r = await m.chat(ask('hi'));
      expect(r.content).toBe('served by the backup');
      expect(r.provider).toBe('backup');
    });

    it('cancels on abort with EABORTED, and times out with ETIMEDOUT', async () => {
      t.engine().script([{ hang: true }, { hang: true }]);
      const ac = new AbortController();
      const p = t.make().chat(ask('wait', { signal: ac.signal }));
      setTimeout(() => ac.abort(), 20);
      expect((await rejection(p)).code).toBe('EABORTED');
      const e = await rejection(t.make().chat(ask('wait', { timeoutMs: 40 })));
      expect(e.code).toBe('ETIMEDOUT');
      expect(e.retryable).toBe(true);
    });

    it('aborting mid-stream ends the stream with EABORTED, and it is not retried', async () => {
      t.engine().script([{ hang: true, partialText: 'the first words of an answer' }]);
      const waits: number[] = [];
      const m = new ResilientModel(t.make(), null, { sleep: async (ms) => void waits.push(ms) });
      const ac = new AbortController();
      // Counted by this request's own text: on a busy machine an earlier test's abandoned request can
      // reach the simulator only now, so the simulator's total says nothing about retries of this one.
      const said = `talk, then stop ${Math.random().toString(36).slice(2)}`;
      const mine = () => t.engine().stats.bodies.filter((b) => JSON.stringify(b.body).includes(said)).length;
      const seen: string[] = [];
      const e = await rejection(
        (async () => {
          for await (const ev of m.stream(ask(said, { signal: ac.signal }))) {
            if (ev.type === 'text') {
              seen.push(ev.delta);
              ac.abort();
            }
          }
        })(),
      );
      expect(e.code).toBe('EABORTED');
      expect(seen.join('')).toContain('the');
      expect(waits).toEqual([]);
      expect(mine()).toBe(1);
      t.engine().script([{ hang: true, partialText: 'stalls after this' }]);
      const late = await streamRejection(t.make(), ask('talk', { timeoutMs: 50 }));
      expect(late.code).toBe('ETIMEDOUT');
    });

    it('turns malformed tool-call JSON into EINVAL naming the tool', async () => {
      // Three, not two: on a busy machine the previous test's request (abandoned by its client after
      // 50 ms) can reach the simulator only now and take the first scripted turn.
      t.engine().script([
        { malformed: 'tool_arguments' },
        { malformed: 'tool_arguments' },
        { malformed: 'tool_arguments' },
      ]);
      const req = ask('read it', { tools: TOOLS });
      const e = await rejection(t.make().chat(req));
      expect(e.code).toBe('EINVAL');
      expect(e.message).toContain('read_file');
      expect(typeof e.details.arguments).toBe('string');
      expect((await streamRejection(t.make(), req)).code).toBe('EINVAL');
    });

    it('turns a truncated stream into a retryable EPROVIDER', async () => {
      t.engine().script([{ malformed: 'truncated_stream' }]);
      const e = await streamRejection(t.make(), ask('a long answer please'));
      expect(e.code).toBe('EPROVIDER');
      expect(e.retryable).toBe(true);
      expect(e.details.reason === 'truncated_stream' || e.details.status === undefined).toBe(true);
    });

    it('structured outputs: each format the vendor offers is answered in it, the others refused naming response_format', async () => {
      const rules = rulesFor(t.preset);
      const schema = {
        type: 'object',
        properties: {
          city: { type: 'string' },
          score: { type: 'integer' },
          tags: { type: 'array', items: { type: 'string', enum: ['a', 'b'] } },
        },
        required: ['city', 'score', 'tags'],
        additionalProperties: false,
      };
      const formats = {
        json_object: { type: 'json_object' },
        json_schema: { type: 'json_schema', name: 'place', schema, strict: true },
      } as const;
      t.engine().script(null);
      for (const [type, responseFormat] of Object.entries(formats)) {
        const req = ask('Reply in JSON: where is the Eiffel Tower?', { responseFormat });
        if (!rules.structured.formats.includes(type as keyof typeof formats)) {
          const before = t.engine().stats.requests;
          const e = await rejection(t.make().chat(req));
          expect(e.code, type).toBe('EUNSUPPORTED');
          expect(e.details.param).toBe('response_format');
          expect(e.message).toContain(type);
          expect(() => t.make().validate(req), 'validate() refuses it too').toThrow(e.message);
          expect(t.engine().stats.requests, 'refused before the call').toBe(before);
          continue;
        }
        t.make().validate(req);
        for (const r of [await t.make().chat(req), (await collect(t.make(), req)).response]) {
          const value = JSON.parse(r.content) as Record<string, unknown>;
          expect(value, type).toBeTypeOf('object');
          if (type === 'json_schema') {
            expect(Object.keys(value).sort()).toEqual(['city', 'score', 'tags']);
            expect(Number.isInteger(value.score)).toBe(true);
            expect((value.tags as string[]).every((x) => x === 'a' || x === 'b')).toBe(true);
          }
        }
      }
      if (rules.structured.jsonWord) {
        const e = await rejection(
          t.make().chat(ask('Where is it?', { responseFormat: formats.json_object })),
        );
        expect(e.code).toBe('EPROVIDER');
        expect(e.message).toContain('json');
      }
    });

    it('maps a 400 to a non-retryable EPROVIDER carrying the provider message', async () => {
      t.engine().script([{ error: { status: 400, message: 'context too long (scripted)' } }]);
      const e = await rejection(t.make().chat(ask('x')));
      expect(e.code).toBe('EPROVIDER');
      expect(e.retryable).toBe(false);
      expect(e.details.status).toBe(400);
      expect(e.message).toContain('context too long');
    });

    it('validate() refuses exactly what chat and stream refuse, before any request is sent', async () => {
      // The field this adapter has no parameter for: Anthropic has no seed, Chat Completions no top_k.
      const refused = ask('x', t.preset.kind === 'anthropic' ? { seed: 7 } : { topK: 5 });
      const m = t.make();
      const requests = t.engine().stats.requests;
      let pre: unknown;
      try {
        m.validate(refused);
      } catch (err) {
        pre = err;
      }
      expect(pre).toBeInstanceOf(KernelError);
      expect((pre as KernelError).code).toBe('EUNSUPPORTED');
      const viaChat = await rejection(m.chat(refused));
      const viaStream = await streamRejection(m, refused);
      for (const e of [viaChat, viaStream]) {
        expect(e.code).toBe((pre as KernelError).code);
        expect(e.message).toBe((pre as KernelError).message);
      }
      expect(() => m.validate({ messages: [] })).toThrow(/messages is empty/);
      expect(() =>
        m.validate({
          messages: [
            { role: 'user', content: 'q' },
            { role: 'tool', content: 'r' },
          ],
        }),
      ).toThrow(/no toolCallId/);
      // What it accepts, it accepts: the fields every adapter maps.
      m.validate(ask('x', { topP: 0.5, stop: ['END'], endUser: 'u1', tools: TOOLS, toolChoice: 'auto' }));
      // Wrappers ask the model they call.
      expect(() => new ResilientModel(m, null).validate(refused)).toThrow((pre as KernelError).message);
      expect(() => new FallbackModel([m, m]).validate(refused)).toThrow((pre as KernelError).message);
      expect(t.engine().stats.requests).toBe(requests);
    });
  });
}
