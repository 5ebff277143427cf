/**
 * The LLM simulator over HTTP (node:http, loopback): OpenAI `/v1/chat/completions` (stream and not, tools),
 * `/v1/models`, `/v1/embeddings` (a concept lexicon, not a model: ./concepts.ts) and Anthropic `/v1/messages`.
 * A path prefix `/p/<preset>` selects a vendor dialect (usage fields, reasoning, strictness), so one server
 * stands in for every preset: `http://127.0.0.1:PORT/p/deepseek/v1` answers like DeepSeek would.
 * It is a simulator: responses name a `sim-` model and the fingerprint `simulator`, and carry the header
 * `x-simulator: agent-os-kernel`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { KernelError } from '../../errors.js';
import { SIM_BODY_LIMIT_BYTES, SIM_EMBEDDING_DIM, SIM_KEEPALIVE_TIMEOUT_MS } from '../../param.js';
import { CATALOG } from '../catalog.js';
import { findPreset, type Preset } from '../presets.js';
import { countTokens } from '../tokenizer.js';
import { conceptEmbedding } from './concepts.js';
import { pause, SimEngine, SimHttpError, type SimOutcome, type SimulatorOptions } from './engine.js';
import { anthropicPromptBlocks, openAiPromptTokens } from './prompt.js';
import { anthropicEvents, anthropicMessage, type Chunk, openAiChunks, openAiCompletion } from './render.js';
import { anthropicToSim, openAiToSim } from './wire-in.js';

type Loose = Record<string, unknown>;

export interface SimulatorServerOptions extends SimulatorOptions {
  host?: string;
  /** 0 = an ephemeral port. */
  port?: number;
}

export interface SimulatorHandle {
  /** Base URL without `/v1`, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  engine: SimEngine;
  stats: SimEngine['stats'];
  /** Base URL of one preset's dialect, e.g. `${url}/p/deepseek/v1` (Anthropic: `${url}/p/anthropic`). */
  urlFor(preset: string): string;
  close(): Promise<void>;
}

const DEFAULT_PRESET = findPreset('simulated')!;

function readBody(req: IncomingMessage): Promise<Loose> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > SIM_BODY_LIMIT_BYTES)
        reject(new SimHttpError(413, 'request body too large', 'invalid_request_error'));
      else parts.push(c);
    });
    req.on('end', () => {
      if (size === 0) return resolve({});
      try {
        const v = JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Loose);
      } catch (err) {
        reject(
          new SimHttpError(
            400,
            `request body is not a JSON object: ${(err as Error).message}`,
            'invalid_request_error',
          ),
        );
      }
    });
    req.on('error', reject);
  });
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-simulator': 'agent-os-kernel',
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, err: SimHttpError, anthropic: boolean): void {
  const headers: Record<string, string> = {};
  if (err.retryAfterMs !== undefined) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
    headers['retry-after-ms'] = String(err.retryAfterMs);
  }
  const body = anthropic
    ? {
        type: 'error',
        error: {
          type:
            err.status === 429
              ? 'rate_limit_error'
              : err.status === 529
                ? 'overloaded_error'
                : err.status >= 500
                  ? 'api_error'
                  : 'invalid_request_error',
          message: err.message,
        },
      }
    : {
        error: {
          message: err.message,
          type: err.type,
          code: err.code ?? (err.status === 429 ? 'rate_limit_exceeded' : null),
          param: null,
        },
      };
  sendJson(res, err.status, body, headers);
}

/** Resolves when the client goes away (abort, timeout) — how a hung request ends. */
function closed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed || res.writableEnded) return resolve();
    res.on('close', () => resolve());
  });
}

async function streamChunks(
  res: ServerResponse,
  engine: SimEngine,
  chunks: Chunk[],
  final: Chunk[],
  o: SimOutcome,
  sse: 'openai' | 'anthropic',
  ac: AbortSignal,
): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-simulator': 'agent-os-kernel',
  });
  const write = (c: Chunk) =>
    res.write(
      sse === 'anthropic'
        ? `event: ${c.event}\ndata: ${JSON.stringify(c.data)}\n\n`
        : `data: ${JSON.stringify(c.data)}\n\n`,
    );
  await pause(engine.ttftMs, ac);
  const body = o.truncate ? chunks.slice(0, Math.max(1, Math.ceil(chunks.length / 2))) : chunks;
  for (const c of body) {
    if (ac.aborted) return;
    write(c);
    await pause(engine.perTokenMs * c.tokens, ac);
  }
  if (o.hang) return closed(res); // stalled mid-stream until the client gives up
  if (o.truncate) {
    res.end(); // cut off: no finish_reason, no [DONE] / message_stop
    return;
  }
  for (const c of final) write(c);
  if (sse === 'openai') res.write('data: [DONE]\n\n');
  res.end();
}

async function handle(
  engine: SimEngine,
  req: IncomingMessage,
  res: ServerResponse,
  seq: () => number,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sim');
  let path = url.pathname;
  let preset: Preset = DEFAULT_PRESET;
  const m = /^\/p\/([^/]+)(\/.*)$/.exec(path);
  if (m) {
    const p = findPreset(decodeURIComponent(m[1]!));
    if (!p)
      return sendJson(res, 404, {
        error: { message: `unknown preset ${m[1]} (simulator)`, type: 'not_found' },
      });
    preset = p;
    path = m[2]!;
  }
  const anthropic = path === '/v1/messages';
  const ac = new AbortController();
  res.on('close', () => ac.abort());
  try {
    if (req.method === 'GET' && (path === '/health' || path === '/'))
      return sendJson(res, 200, { ok: true, simulator: true, stats: { ...engine.stats, bodies: undefined } });
    if (req.method === 'GET' && path === '/v1/models') {
      return sendJson(res, 200, {
        object: 'list',
        data: CATALOG.map((e) => ({
          id: e.id,
          object: 'model',
          created: 0,
          owned_by: `simulator (${e.provider})`,
        })),
      });
    }
    if (req.method !== 'POST')
      throw new SimHttpError(404, `no route ${req.method} ${url.pathname} (simulator)`, 'not_found');
    const body = await readBody(req);
    engine.record(path, preset.name, body);
    if (path === '/v1/embeddings') {
      const input = body.input;
      const texts = typeof input === 'string' ? [input] : Array.isArray(input) ? input.map(String) : null;
      if (!texts)
        throw new SimHttpError(
          400,
          "'input' must be a string or an array of strings",
          'invalid_request_error',
        );
      const dim =
        typeof body.dimensions === 'number' && body.dimensions > 0
          ? Math.floor(body.dimensions)
          : SIM_EMBEDDING_DIM;
      const b64 = body.encoding_format === 'base64';
      const tokens = texts.reduce((s, t) => s + countTokens(t), 0);
      return sendJson(res, 200, {
        object: 'list',
        model: `sim-${String(body.model ?? 'embedding')}`,
        data: texts.map((t, index) => {
          const v = conceptEmbedding(t, dim);
          return { object: 'embedding', index, embedding: b64 ? toBase64(v) : v };
        }),
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      });
    }
    if (path !== '/v1/chat/completions' && !anthropic)
      throw new SimHttpError(404, `no route POST ${url.pathname} (simulator)`, 'not_found');
    const simReq = anthropic ? anthropicToSim(body) : openAiToSim(body, preset);
    const pool =
      typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : anthropic ? simReq.model : '';
    const o = engine.decide(
      simReq,
      anthropic ? { blocks: anthropicPromptBlocks(body) } : { tokens: openAiPromptTokens(body) },
      pool,
    );
    await engine.acquire();
    try {
      if (o.hang && !(simReq.stream && o.turn.content)) return await closed(res);
      const id = anthropic ? `msg_sim_${seq()}` : `chatcmpl-sim-${seq()}`;
      if (simReq.stream) {
        const includeUsage = (body.stream_options as Loose | undefined)?.include_usage === true;
        const { chunks, final } = anthropic
          ? anthropicEvents(o, simReq.model, id, simReq.thinking === true)
          : openAiChunks(o, preset, simReq.model, id, includeUsage);
        await streamChunks(res, engine, chunks, final, o, anthropic ? 'anthropic' : 'openai', ac.signal);
      } else {
        await pause(engine.ttftMs + engine.perTokenMs * o.outputTokens, ac.signal);
        if (ac.signal.aborted) return;
        const payload = anthropic
          ? anthropicMessage(o, simReq.model, id, simReq.thinking === true)
          : openAiCompletion(o, preset, simReq.model, id);
        if (o.truncate) {
          const text = JSON.stringify(payload);
          res.writeHead(200, { 'content-type': 'application/json', 'x-simulator': 'agent-os-kernel' });
          res.end(text.slice(0, Math.floor(text.length / 2)));
        } else sendJson(res, 200, payload);
      }
      engine.stats.completed++;
    } finally {
      engine.release();
    }
  } catch (err) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof SimHttpError) {
      engine.count(err);
      return sendError(res, err, anthropic);
    }
    sendError(
      res,
      new SimHttpError(500, `simulator internal error: ${(err as Error).message}`, 'server_error'),
      anthropic,
    );
  }
}

/** Starts the simulator on loopback (ephemeral port unless `port` is given). */
export async function createSimulator(opts: SimulatorServerOptions = {}): Promise<SimulatorHandle> {
  const engine = new SimEngine(opts);
  let n = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    void handle(engine, req, res, () => ++n);
  });
  server.keepAliveTimeout = SIM_KEEPALIVE_TIMEOUT_MS;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new KernelError(
          'EINVAL',
          `simulator cannot listen on ${host}:${opts.port ?? 0}: ${err.code ?? err.message}; pick another --port`,
          { cause: err },
        ),
      ),
    );
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    engine,
    stats: engine.stats,
    urlFor: (preset) =>
      findPreset(preset)?.kind === 'anthropic' ? `${url}/p/${preset}` : `${url}/p/${preset}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Float32 little-endian, base64 — the encoding the openai SDK requests by default. */
function toBase64(v: number[]): string {
  const f = new Float32Array(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}
