/**
 * The event stream of a streamed chat answer is read by ../sse.ts, not the SDK's iterator. What a user
 * relies on, tried against a real HTTP server on loopback that sends crafted bytes: the answer is the same
 * however the server cuts its writes (inside an event, inside a UTF-8 character, with comments and CRLF),
 * nothing after `[DONE]` counts, a failure reported inside the stream is a provider error with the
 * provider's words, and a broken stream (not JSON, no end, an event without bound, an abort) fails clearly
 * instead of passing for an answer.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelError } from '../../errors.js';
import { chatCompletionJson, listenLoopback } from '../../kernel/testing/fake-server.js';
import { bootTestKernel, openAiModel } from '../../kernel/testing/test-kernel.js';
import { LLM_SSE_MAX_EVENT_BYTES } from '../../param.js';
import type { Model, StreamEvent } from '../model.js';
import { PRESETS } from '../presets.js';
import { OpenAiCompatibleProvider } from './openai-compatible-provider.js';

const openai = PRESETS.find((p) => p.name === 'openai')!;

function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  return JSON.stringify({
    id: 'c',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
}

const usageChunk = JSON.stringify({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 0,
  model: 'gpt-4o-mini',
  choices: [],
  usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
});

/** A server that answers every streamed request with these writes, `gapMs` apart (0: one turn each). */
function serve(writes: Array<string | Buffer>, opts: { end?: boolean; gapMs?: number } = {}): Server {
  return createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const w of writes) {
        res.write(w);
        await new Promise((r) => setTimeout(r, opts.gapMs ?? 0));
      }
      if (opts.end !== false) res.end();
    });
  });
}

let servers: Server[] = [];
afterEach(() => {
  for (const s of servers) s.close();
  servers = [];
});

async function modelAt(server: Server): Promise<Model> {
  servers.push(server);
  const url = await listenLoopback(server);
  return new OpenAiCompatibleProvider({ preset: openai, apiKey: 'k', baseUrl: url }).model('gpt-4o-mini');
}

async function drain(model: Model, signal?: AbortSignal): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const ev of model.stream({
    messages: [{ role: 'user', content: 'hi' }],
    ...(signal ? { signal } : {}),
  }))
    out.push(ev);
  return out;
}

/** Cuts a byte string at the given offsets. */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const a of at) {
    out.push(bytes.subarray(from, a));
    from = a;
  }
  out.push(bytes.subarray(from));
  return out;
}

describe('reading a streamed answer', () => {
  it('gives the same answer however the server cuts its writes, through an agent', async () => {
    const text = 'Grüße — 42 ✓';
    const wire = Buffer.from(
      [
        ': keep-alive comment\r\n\r\n',
        `data: ${chunk({ role: 'assistant', content: '' })}\r\n\r\n`,
        `data: ${chunk({ content: 'Grüße — ' })}\n\n`,
        `data: ${chunk({ content: '42 ✓' })}\n\n`,
        `data: ${chunk({}, 'stop')}\n\n`,
        `data: ${usageChunk}\n\n`,
        'data: [DONE]\n\n',
        // after [DONE] nothing counts, not even an error
        `data: ${JSON.stringify({ error: { message: 'late' } })}\n\n`,
      ].join(''),
    );
    // Cut inside "data:", inside the JSON, inside the 2-byte "ü" and the 3-byte "—", and between the CR and LF.
    const u = wire.indexOf(Buffer.from('ü')) + 1;
    const dash = wire.indexOf(Buffer.from('—')) + 2;
    const crlf = wire.indexOf('\r\n\r\n', 30) + 1;
    const pieces = cut(wire, [3, crlf, 40, u, dash, wire.length - 10]);
    servers.push(serve(pieces, { gapMs: 5 }));
    const url = await listenLoopback(servers.at(-1)!);
    const { kernel: k, close } = await bootTestKernel({
      config: { default_model: 'm', llms: { models: [openAiModel('m', url)] } },
    });
    try {
      const deltas: string[] = [];
      k.hooks.on('llm.delta', (e) => {
        if (e.delta.type === 'text') deltas.push(String(e.delta.delta));
      });
      const pid = await k.spawn({ name: 'cut-writes', task: 'greet' });
      const st = await k.wait(pid, 60_000);
      expect(st.exitReason).toBeNull();
      expect(st.result).toBe(text);
      expect(deltas.join('')).toBe(text);
      const [proc] = (await k.status()).processes.filter((p) => p.pid === pid);
      expect(proc?.usage).toMatchObject({ tokensIn: 12, tokensOut: 7 });
    } finally {
      await close();
    }
  });

  it('reads many events that arrive in one write (one read, one batch)', async () => {
    const words = Array.from({ length: 300 }, (_, i) => `w${i} `);
    const wire = [
      ...words.map((w) => `data: ${chunk({ content: w })}\n\n`),
      `data: ${chunk({}, 'stop')}\n\n`,
    ];
    const model = await modelAt(serve([wire.join('')]));
    const events = await drain(model);
    const done = events.at(-1);
    expect(done?.type).toBe('done');
    expect(done?.type === 'done' && done.response.content).toBe(words.join(''));
    expect(events.filter((e) => e.type === 'text')).toHaveLength(300);
  });

  it('a failure the provider reports inside the stream is a provider error with its message', async () => {
    const model = await modelAt(
      serve([
        `data: ${chunk({ content: 'partial' })}\n\n`,
        `data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.', type: 'server_error' } })}\n\n`,
      ]),
    );
    const err = await drain(model).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).code).toBe('EPROVIDER');
    expect((err as KernelError).message).toContain('The server had an error while processing your request.');
  });

  it('data that is not JSON fails the call, naming what was wrong', async () => {
    const model = await modelAt(serve([`data: ${chunk({ content: 'a' })}\n\n`, 'data: {not json\n\n']));
    const err = await drain(model).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).message).toMatch(/JSON/);
  });

  it('a stream that ends without finishing (an unterminated last event) is a retryable cut, not an answer', async () => {
    const model = await modelAt(
      serve([`data: ${chunk({ content: 'half an ans' })}\n\n`, `data: ${chunk({ content: 'wer' }, 'stop')}`]),
    );
    const err = await drain(model).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).retryable).toBe(true);
    expect((err as KernelError).details).toMatchObject({
      reason: 'truncated_stream',
      partialContent: 'half an ans',
    });
  });

  it('an event without bound is refused instead of growing the buffer', async () => {
    const mib = 'x'.repeat(1024 * 1024);
    const model = await modelAt(
      serve(['data: ', ...Array.from({ length: LLM_SSE_MAX_EVENT_BYTES / mib.length + 2 }, () => mib)], {
        end: false,
      }),
    );
    const err = await drain(model).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).message).toContain(`over ${LLM_SSE_MAX_EVENT_BYTES} bytes`);
  });

  it('an abort in the middle of a stream is the caller’s abort, not an ending', async () => {
    const model = await modelAt(
      serve([`data: ${chunk({ content: 'first' })}\n\n`, `data: ${chunk({ content: 'second' })}\n\n`], {
        end: false,
        gapMs: 50,
      }),
    );
    const ac = new AbortController();
    const seen: StreamEvent[] = [];
    const err = await (async () => {
      for await (const ev of model.stream({
        messages: [{ role: 'user', content: 'hi' }],
        signal: ac.signal,
      })) {
        seen.push(ev);
        if (ev.type === 'text') ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(seen.map((e) => e.type)).toEqual(['text']);
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).code).toBe('EABORTED');
  });

  it('a whole JSON answer to a streamed request is still read whole', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(chatCompletionJson('whole', { prompt: 3, completion: 1 }));
      });
    });
    const events = await drain(await modelAt(server));
    expect(events.map((e) => e.type)).toEqual(['text', 'done']);
  });
});
