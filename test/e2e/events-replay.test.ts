/**
 * Late and reconnecting event-stream subscribers (GET /api/v1/events, src/api/event-replay.ts), through
 * HTTP: an agent's model call streams from a provider the test holds at fixed points (a real OpenAI-style
 * SSE server on loopback), so "mid-stream" is a state, not a moment — no timing in any assertion.
 * 1. A client that connects after the call began gets the deltas already sent, from the first one.
 * 2. It drops mid-stream; deltas go out while it is away; it reconnects with Last-Event-ID and gets
 *    exactly the ones it missed, then the live rest: the text it holds is the whole answer, no token twice,
 *    none missing, ids ascending.
 * 3. An id the kernel cannot honour (another run's) is answered with an `events.gap` event first.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';

const WORDS = Array.from({ length: 40 }, (_, i) => `w${i} `);
const ANSWER = WORDS.join('');
/** The provider sends WORDS[0..10), waits for `gates[0]`, sends [10..25), waits for `gates[1]`, sends the rest. */
const CUTS = [10, 25];

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

let provider: Server;
let gates = [deferred(), deferred()];
let kernel: Kernel;
let server: ApiServer;
let token: string;
let dir: string;

function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-held',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'held-model',
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\n\n`;
}

beforeAll(async () => {
  provider = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', async () => {
      const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'chatcmpl-plain',
            object: 'chat.completion',
            created: 0,
            model: 'held-model',
            choices: [{ index: 0, message: { role: 'assistant', content: ANSWER }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 10, completion_tokens: 40, total_tokens: 50 },
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk({ role: 'assistant', content: '' }));
      let at = 0;
      for (const [i, cut] of [...CUTS, WORDS.length].entries()) {
        for (; at < cut; at++) res.write(chunk({ content: WORDS[at] }));
        if (i < CUTS.length) await gates[i]!.promise;
      }
      res.write(chunk({}, 'stop'));
      res.write(
        `data: ${JSON.stringify({ id: 'chatcmpl-held', object: 'chat.completion.chunk', created: 0, model: 'held-model', choices: [], usage: { prompt_tokens: 10, completion_tokens: 40, total_tokens: 50 } })}\n\n`,
      );
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => provider.listen(0, '127.0.0.1', r));
  const port = (provider.address() as AddressInfo).port;
  dir = mkdtempSync(join(tmpdir(), 'aos-replay-'));
  kernel = await createKernel({
    recover: false,
    plugins: false,
    config: {
      data_dir: join(dir, 'data'),
      storage: { url: 'memory://' },
      default_model: 'held-model',
      llms: {
        models: [
          {
            name: 'held-model',
            provider: 'openai',
            base_url: `http://127.0.0.1:${port}/v1`,
            api_key: 'sk-held',
          },
        ],
      },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      server: { demo_agents: false },
    },
  });
  server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
  token = readFileSync(server.adminTokenFile, 'utf8').trim();
}, 60_000);

afterAll(async () => {
  for (const g of gates) g.resolve();
  await server?.close();
  await kernel?.shutdown();
  await new Promise((r) => provider?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Frame {
  id: string | null;
  event: string;
  data: Record<string, unknown>;
}

/**
 * An event-stream client that hands each frame to `onFrame` until it returns true (the connection is then
 * dropped, as a client that goes away mid-stream: frames after that one are never seen).
 */
async function subscribe(query: string, onFrame: (f: Frame) => boolean, lastEventId?: string): Promise<void> {
  const ac = new AbortController();
  const res = await fetch(`${server.url}/api/v1/events${query}`, {
    headers: { authorization: `Bearer ${token}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  const dec = new TextDecoder();
  let buf = '';
  try {
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(bytes, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const raw = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(raw)?.[1];
        const data = /^data: (.*)$/m.exec(raw)?.[1];
        if (!event || !data) continue;
        const f = { id: /^id: (.*)$/m.exec(raw)?.[1] ?? null, event, data: JSON.parse(data) };
        if (onFrame(f)) {
          ac.abort();
          return;
        }
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
}

const seqOf = (id: string | null) => Number(String(id).split('-')[1]);
const textOf = (f: Frame) => {
  const d = f.data.delta as { type: string; delta?: string };
  return f.event === 'llm.delta' && d.type === 'text' ? (d.delta ?? '') : '';
};

/** Resolves once the kernel itself has seen `n` text deltas of `pid` (an in-process hook: no polling a clock). */
function kernelSaw(pid: () => number, n: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    const off = kernel.hooks.on('llm.delta', (e) => {
      if (e.pid === pid() && e.delta.type === 'text' && e.delta.delta) seen++;
      if (seen >= n) {
        off();
        resolve();
      }
    });
  });
}

describe('event stream replay', () => {
  it('a late subscriber gets the deltas already sent; a reconnect with Last-Event-ID gets exactly the missed ones', async () => {
    gates = [deferred(), deferred()];
    let pid = 0;
    const firstCut = kernelSaw(() => pid, CUTS[0]!);
    const secondCut = kernelSaw(() => pid, CUTS[1]!);
    const r = await fetch(`${server.url}/api/v1/processes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'held', task: 'Say the forty words.' }),
    });
    pid = ((await r.json()) as { pid: number }).pid;
    await firstCut; // the call is mid-stream: ten deltas went out, nobody was listening

    // 1. late: connects now, gets the first ten from the start; stays for seven more, then drops
    const seen: Frame[] = [];
    let released = false;
    await subscribe(`?pid=${pid}&deltas=1`, (f) => {
      if (f.event !== 'llm.delta' || !textOf(f)) return false;
      seen.push(f);
      if (seen.length === CUTS[0] && !released) {
        released = true;
        gates[0]!.resolve();
      }
      return seen.length === CUTS[0]! + 7;
    });
    expect(seen.slice(0, CUTS[0]).map(textOf).join('')).toBe(WORDS.slice(0, CUTS[0]).join(''));
    await secondCut; // the deltas up to the second cut went out while it was away
    const lastId = seen.at(-1)!.id!;

    // 2. reconnects with its last id: the missed deltas, then the live rest, until the step commits
    const again: Frame[] = [];
    let gapped: Frame | null = null;
    let releasedRest = false;
    await subscribe(
      `?pid=${pid}&deltas=1`,
      (f) => {
        if (f.event === 'events.gap') gapped = f;
        if (f.event === 'llm.delta') again.push(f);
        if (again.length === CUTS[1]! - (CUTS[0]! + 7) && !releasedRest) {
          releasedRest = true;
          gates[1]!.resolve();
        }
        return f.event === 'proc.exit' || (f.event === 'proc.step' && f.data.stepNo === 1);
      },
      lastId,
    );
    expect(gapped).toBeNull();
    const all = [...seen, ...again];
    const ids = all.map((f) => seqOf(f.id));
    for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
    expect(all.map(textOf).join('')).toBe(ANSWER);
    const p = (await (
      await fetch(`${server.url}/api/v1/processes/${pid}`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { result?: unknown; state: string };
    expect(String(p.result).trim()).toBe(ANSWER.trim());

    // 3. an id from another run: told so first, with a hint where to read what was missed
    const told: Frame[] = [];
    await subscribe(`?pid=${pid}&deltas=1`, (f) => told.push(f) > 0, '0badc0de-12');
    expect(told[0]?.event).toBe('events.gap');
    expect(String(told[0]?.data.reason)).toContain('not from this kernel');
  }, 60_000);
});
