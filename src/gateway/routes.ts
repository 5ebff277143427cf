/**
 * The gateway's HTTP face, mounted on the kernel's Fastify server (src/api/server.ts): POST
 * /v1/chat/completions and POST /v1/responses (OpenAI; stored responses: GET and DELETE /v1/responses/{id},
 * GET /v1/responses/{id}/input_items), POST /v1/messages (Anthropic), GET /v1/models, POST /v1/embeddings, and
 * GET /api/v1/gateway/sessions. Keys are the kernel's API tokens, presented the way each SDK sends them
 * (`Authorization: Bearer` or `x-api-key`); a caller never needs, and never sees, a provider key. Errors use
 * each vendor's own shape and status, with Retry-After / retry-after-ms on 429 and `x-should-retry: false`
 * where retrying cannot help (exhausted quota), so the SDKs' built-in retry does the right thing.
 *
 * Size: Over 500 lines because every /v1 endpoint's HTTP edge (auth, dialect errors, streaming) lives here; the wire formats are already apart.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Principal, presentedToken, roleAllows, type TokenStore } from '../api/auth.js';
import { HttpError, httpStatus } from '../api/errors.js';
import { type AnyRoute, route } from '../api/route.js';
import { KernelError } from '../errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { findModel } from '../llm/catalog.js';
import type { ChatResponse, StreamEvent } from '../llm/model.js';
import { countTokens, promptTokens } from '../llm/tokenizer.js';
import { GATEWAY_BODY_LIMIT_BYTES, GATEWAY_INPUT_ITEMS_LIMIT, PRIORITY_MAX, PRIORITY_MIN } from '../param.js';
import { logger } from '../util/log.js';
import {
  AnthropicEventer,
  anthropicError,
  anthropicMessage,
  parseAnthropicMessages,
} from './anthropic-wire.js';
import type { Dialect, GatewayCall } from './call.js';
import { type CallResult, type Gateway, GatewayError, unknownModel } from './gateway.js';
import {
  float32Base64,
  OpenAiChunker,
  openAiCompletion,
  openAiEmbeddingsInput,
  openAiError,
  parseOpenAiChat,
} from './openai-wire.js';
import type { StoredRow } from './response-store.js';
import { parseResponsesRequest, ResponsesEventer, responsesObject, storedObject } from './responses-wire.js';

const log = logger('gateway');
type Loose = Record<string, unknown>;

/** Random per process, then a counter: unique ids without a call into the CSPRNG per id (they are not secrets). */
const ID_BASE = randomBytes(9).toString('base64url');
let idSeq = 0;

function newId(prefix: string): string {
  return `${prefix}${ID_BASE}${(idSeq++).toString(36)}`;
}

/** Status, body and headers of an error in the caller's dialect. */
/**
 * A provider's 400/413/422: the request's own fault. 401/403 (the kernel's key), 404 (the configured model
 * id) and 408/409/429/5xx stay the upstream's: the operator's to fix or the caller's to retry.
 */
function refusedAsSent(err: KernelError): boolean {
  const st = err.details.status;
  return err.code === 'EPROVIDER' && (st === 400 || st === 413 || st === 422);
}

function wireError(
  err: unknown,
  dialect: Dialect,
): { status: number; body: Loose; headers: Record<string, string> } {
  let status: number;
  let code: string;
  let message: string;
  let param: string | null = null;
  let retryAfterMs: number | null = null;
  let shouldRetry: boolean | null = null;
  if (err instanceof GatewayError) {
    status = err.status;
    code = err.code;
    message = err.message;
    retryAfterMs = err.retryAfterMs;
    if (err.details.shouldRetry === false) shouldRetry = false;
    if (typeof err.details.param === 'string') param = err.details.param;
  } else if (err instanceof HttpError) {
    status = err.status;
    code = err.code;
    message = err.message;
  } else if (err instanceof KernelError && refusedAsSent(err)) {
    // The provider refused this request as sent (an unsupported parameter, a body too large): the caller's
    // to fix, so its status and the vendor's words — not a 502 that reads as an outage to retry.
    status = err.details.status as number;
    code = 'EINVAL';
    message = `${String(err.details.model)}: the provider refused the request as sent (HTTP ${status}): ${String(err.details.providerMessage)}`;
    shouldRetry = false;
  } else if (err instanceof KernelError) {
    // a provider outage is the upstream's (502/503/504), never the gateway's own 500
    status =
      err.code === 'EUNSUPPORTED'
        ? 400
        : err.code === 'EPROVIDER'
          ? 502
          : err.code === 'ECIRCUIT'
            ? 503
            : httpStatus(err.code);
    code = err.code;
    message = err.message;
    if (typeof err.details.param === 'string') param = err.details.param;
    if (err.code === 'EQUOTA') shouldRetry = false;
    const ra = err.details.retryAfterMs;
    if (typeof ra === 'number') retryAfterMs = ra;
  } else {
    const fe = err as { statusCode?: number; message?: string };
    if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      status = fe.statusCode;
      code = status === 413 ? 'EOVERFLOW' : 'EINVAL';
      message =
        status === 413
          ? `the request body is over the gateway's limit of ${GATEWAY_BODY_LIMIT_BYTES} bytes; send a shorter conversation (trim or summarise old turns)`
          : (fe.message ?? 'bad request');
    } else {
      status = 500;
      code = 'EINTERNAL';
      message = 'internal error; the kernel log has the cause';
      log.error(`gateway call failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  const headers: Record<string, string> = {};
  if (retryAfterMs !== null) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
    headers['retry-after-ms'] = String(Math.ceil(retryAfterMs));
  }
  if (shouldRetry === false) headers['x-should-retry'] = 'false';
  const body =
    dialect === 'anthropic' ? anthropicError(status, message) : openAiError(status, code, message, param);
  // An error OpenAI gives its own code (previous_response_not_found, or none for an unknown response id)
  if (err instanceof GatewayError && 'wireCode' in err.details && dialect === 'openai')
    (body.error as Loose).code = err.details.wireCode ?? null;
  return { status, body, headers };
}

function sendError(reply: FastifyReply, err: unknown, dialect: Dialect): FastifyReply {
  const { status, body, headers } = wireError(err, dialect);
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  return reply.code(status).type('application/json').send(body);
}

async function principalOf(
  tokens: TokenStore,
  req: FastifyRequest,
  need: 'viewer' | 'operator',
): Promise<Principal> {
  const headers = req.headers as Record<string, unknown>;
  const apiKey = typeof headers['x-api-key'] === 'string' ? (headers['x-api-key'] as string) : null;
  const token = apiKey ?? presentedToken(headers, undefined, false);
  if (!token)
    throw new HttpError(
      401,
      'EAUTH',
      'no API key: send a kernel token as "Authorization: Bearer <token>" (OpenAI SDKs) or "x-api-key: <token>" (Anthropic SDKs); create one with POST /api/v1/tokens',
    );
  const p = await tokens.verify(token);
  if (!p)
    throw new HttpError(401, 'EAUTH', 'Incorrect API key provided: the kernel token is unknown or revoked');
  if (!roleAllows(p.role, need))
    throw new HttpError(
      403,
      'EPERM',
      `calling models needs role ${need}; token "${p.name}" has role ${p.role}`,
    );
  return p;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v ? v : undefined;
}

function resultHeaders(r: CallResult, requestId: string): Record<string, string> {
  const h: Record<string, string> = {
    'x-aos-pid': String(r.pid),
    'x-aos-session': encodeURIComponent(r.session),
    'x-aos-replayed': r.replayed ? '1' : '0',
    'x-request-id': requestId,
    'request-id': requestId,
  };
  if (r.cache) {
    h['x-aos-cache-predicted'] = String(r.cache.predictedCached);
    if (r.cache.break)
      h['x-aos-cache-break'] = `message=${r.cache.break.message}; byte=${r.cache.break.byte}`;
  }
  return h;
}

/** The three chat endpoints: OpenAI chat completions, OpenAI responses, Anthropic messages. */
type ChatApi = 'chat' | 'responses' | 'messages';

/** Runs one chat call in any of the dialects, streaming or not. */
async function chat(
  gw: Gateway,
  tokens: TokenStore,
  api: ChatApi,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const dialect: Dialect = api === 'messages' ? 'anthropic' : 'openai';
  let call: GatewayCall;
  let principal: Principal;
  const created = Math.floor(Date.now() / 1000);
  const id = api === 'chat' ? newId('chatcmpl-') : api === 'responses' ? newId('resp_') : newId('msg_');
  let previous: StoredRow | null = null;
  try {
    principal = await principalOf(tokens, req, 'operator');
    const body = req.body;
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new KernelError('EINVAL', 'the request body must be a JSON object');
    if (api === 'responses') previous = await previousResponse(gw, principal, body as Loose);
    call =
      api === 'chat'
        ? parseOpenAiChat(body as Loose)
        : api === 'responses'
          ? parseResponsesRequest(body as Loose, id, created, previous)
          : parseAnthropicMessages(body as Loose);
  } catch (err) {
    return sendError(reply, err, dialect);
  }
  const requestId = newId('req_');
  const ac = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  let prio: number | undefined;
  try {
    prio = priorityHeader(req);
  } catch (err) {
    return sendError(reply, err, dialect);
  }
  const ctxBase = {
    principal: {
      id: principal.id,
      name: principal.name,
      role: principal.role,
      tenant: principal.tenant ?? null,
    },
    sessionHeader: header(req, 'x-aos-session'),
    ...(previous ? { previousSession: previous.session } : {}),
    replay: header(req, 'x-aos-replay') === '1',
    ...(prio !== undefined ? { priority: prio } : {}),
    signal: ac.signal,
  };

  if (!call.stream) {
    try {
      const r = await gw.call(call, ctxBase);
      for (const [k, v] of Object.entries(resultHeaders(r, requestId))) reply.header(k, v);
      return api === 'chat'
        ? openAiCompletion(r.response, id, call.model, created)
        : api === 'responses'
          ? responsesObject(r.response, id, req.body as Loose, created)
          : anthropicMessage(r.response, id, call.model);
    } catch (err) {
      return sendError(reply, err, dialect);
    }
  }

  // Streaming: headers go out with the first event, so errors before it are ordinary JSON errors.
  const raw = reply.raw;
  const oa = new OpenAiChunker(id, call.model, created, call.includeUsage);
  let est = 0;
  if (dialect === 'anthropic') for (const m of call.chat.messages) est += countTokens(m.content);
  const an = new AnthropicEventer(id, call.model, est);
  const rs = new ResponsesEventer(id, req.body as Loose, created);
  const emitted = { text: false, tools: false };
  let open = false;
  const openStream = (extra: Record<string, string> = {}) => {
    if (open) return;
    open = true;
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': requestId,
      'request-id': requestId,
      ...extra,
    });
  };
  // Events go out together: the deltas of one network read from the provider arrive in one turn of the
  // event loop, and become one socket write (at the end of the turn) instead of one write per chunk.
  let pending = '';
  const flush = () => {
    if (!pending) return;
    const text = pending;
    pending = '';
    if (!raw.destroyed) raw.write(text);
  };
  const send = (text: string) => {
    if (!pending) process.nextTick(flush);
    pending += text;
  };
  const writeOpenAi = (chunks: Loose[]) => {
    for (const c of chunks) send(`data: ${JSON.stringify(c)}\n\n`);
  };
  // Anthropic and Responses events both go out as `event:` + `data:`
  const writeAnthropic = (events: Array<{ event: string; data: Loose }>) => {
    for (const e of events) send(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
  };
  const end = () => {
    const text = pending;
    pending = '';
    raw.end(text);
  };
  const onEvent = (ev: StreamEvent) => {
    if (ac.signal.aborted) return;
    openStream();
    if (ev.type === 'text' && ev.delta) emitted.text = true;
    if (ev.type === 'tool_call') emitted.tools = true;
    if (api === 'chat') writeOpenAi(oa.event(ev));
    else if (api === 'responses') writeAnthropic(rs.event(ev));
    else writeAnthropic(an.event(ev));
  };
  let result: CallResult;
  try {
    result = await gw.call(call, { ...ctxBase, onEvent });
  } catch (err) {
    if (!open) return sendError(reply, err, dialect);
    const { body } = wireError(err, dialect);
    if (api === 'responses') {
      const e = (body.error ?? {}) as { message?: string; code?: string };
      writeAnthropic(rs.failed(e.message ?? 'error', e.code ?? 'server_error'));
    } else if (dialect === 'openai') send(`data: ${JSON.stringify(body)}\n\n`);
    else send(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
    end();
    return reply;
  }
  openStream(resultHeaders(result, requestId));
  const r: ChatResponse = result.response;
  if (api === 'chat') {
    writeOpenAi(oa.finish(r, emitted));
    send('data: [DONE]\n\n');
  } else if (api === 'responses') writeAnthropic(rs.finish(r, emitted));
  else writeAnthropic(an.finish(r, emitted));
  end();
  return reply;
}

/** The tenant a key's stored responses live in (a key without one: the default tenant, as its calls). */
const tenantOf = (p: Principal) => p.tenant ?? 'default';

/**
 * The stored response a POST /v1/responses chains on (previous_response_id), in the caller's tenant; an
 * unknown, expired, deleted, unstored (store: false) or another tenant's id is OpenAI's 400.
 */
async function previousResponse(gw: Gateway, p: Principal, body: Loose): Promise<StoredRow | null> {
  const prev = body.previous_response_id;
  if (typeof prev !== 'string' || !prev) return null; // absent, null, or a bad type the parser names
  const row = await gw.responses.get(tenantOf(p), prev);
  if (!row)
    throw new GatewayError(
      'EINVAL',
      `Previous response with id '${prev}' not found. (The gateway keeps responses made without store: false for gateway.response_retention_days, per tenant.)`,
      400,
      null,
      { param: 'previous_response_id', wireCode: 'previous_response_not_found' },
    );
  return row;
}

/** GET / DELETE of an unknown stored response: OpenAI's 404. */
function responseNotFound(id: string): GatewayError {
  return new GatewayError('ENOTFOUND', `Response with id '${id}' not found.`, 404, null, {
    param: null,
    wireCode: null,
  });
}

/** GET /v1/responses/{id}, DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items: tenant-scoped. */
function mountStoredResponses(app: FastifyInstance, gw: Gateway, tokens: TokenStore): void {
  const idOf = (req: FastifyRequest) => (req.params as { id: string }).id;
  app.get('/v1/responses/:id', async (req, reply) => {
    try {
      const p = await principalOf(tokens, req, 'viewer');
      const q = req.query as Record<string, unknown>;
      if (q.stream === 'true')
        throw new GatewayError(
          'EUNSUPPORTED',
          'streaming a stored response again is not supported by the gateway; GET it without stream',
          400,
          null,
          { param: 'stream' },
        );
      const row = await gw.responses.get(tenantOf(p), idOf(req));
      if (!row) throw responseNotFound(idOf(req));
      return storedObject(row);
    } catch (err) {
      return sendError(reply, err, 'openai');
    }
  });
  app.delete('/v1/responses/:id', async (req, reply) => {
    try {
      const p = await principalOf(tokens, req, 'operator');
      if (!(await gw.responses.delete(tenantOf(p), idOf(req)))) throw responseNotFound(idOf(req));
      return { id: idOf(req), object: 'response', deleted: true };
    } catch (err) {
      return sendError(reply, err, 'openai');
    }
  });
  app.get('/v1/responses/:id/input_items', async (req, reply) => {
    try {
      const p = await principalOf(tokens, req, 'viewer');
      const q = req.query as Record<string, unknown>;
      const limit = q.limit === undefined ? GATEWAY_INPUT_ITEMS_LIMIT : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        throw new GatewayError('EINVAL', 'limit must be an integer from 1 to 100', 400, null, {
          param: 'limit',
        });
      const order = q.order ?? 'desc';
      if (order !== 'asc' && order !== 'desc')
        throw new GatewayError('EINVAL', "order must be 'asc' or 'desc'", 400, null, { param: 'order' });
      const row = await gw.responses.get(tenantOf(p), idOf(req));
      if (!row) throw responseNotFound(idOf(req));
      const all = order === 'asc' ? row.input : [...row.input].reverse();
      let from = 0;
      if (typeof q.after === 'string' && q.after) {
        const at = all.findIndex((it) => it.id === q.after);
        if (at < 0)
          throw new GatewayError(
            'EINVAL',
            `after: no input item '${q.after}' in response ${row.id}`,
            400,
            null,
            {
              param: 'after',
            },
          );
        from = at + 1;
      }
      const data = all.slice(from, from + limit);
      return {
        object: 'list',
        data,
        first_id: (data[0]?.id as string | undefined) ?? null,
        last_id: (data.at(-1)?.id as string | undefined) ?? null,
        has_more: from + limit < all.length,
      };
    } catch (err) {
      return sendError(reply, err, 'openai');
    }
  });
}

/** The configured models under their names and aliases, as both SDKs read a model object. */
function models(k: Kernel): Loose[] {
  const names = k.models.names();
  const now = Math.floor(Date.now() / 1000);
  const seen = new Set<string>();
  const data: Loose[] = [];
  const push = (id: string, of: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    let provider = 'unknown';
    try {
      provider = k.models.describe(of).provider;
    } catch {
      // listed by the resolver but not describable: still callable by name
    }
    // Both SDKs read this list: OpenAI's fields (object, owned_by, created) and Anthropic's (type, display_name, created_at).
    data.push({
      id,
      object: 'model',
      created: now,
      owned_by: provider,
      type: 'model',
      display_name: id === of ? id : `${id} (alias of ${of})`,
      created_at: new Date(now * 1000).toISOString(),
    });
  };
  for (const n of names) {
    push(n, n);
    for (const a of findModel(n)?.aliases ?? []) push(a, n);
  }
  return data;
}

function modelList(k: Kernel): Loose {
  const data = models(k);
  return {
    object: 'list',
    data,
    has_more: false,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  };
}

/** POST /v1/embeddings: the session's process makes `llm.embed` through the gate (audited, accounted). */
async function embeddings(gw: Gateway, tokens: TokenStore, req: FastifyRequest, reply: FastifyReply) {
  try {
    const principal = await principalOf(tokens, req, 'operator');
    const body = req.body;
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new KernelError('EINVAL', 'the request body must be a JSON object');
    const input = openAiEmbeddingsInput(body as Loose);
    const ac = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) ac.abort();
    });
    const prio = priorityHeader(req);
    const r = await gw.embed(
      {
        model: input.model,
        input: input.texts,
        ...(input.dimensions ? { dimensions: input.dimensions } : {}),
      },
      {
        principal: {
          id: principal.id,
          name: principal.name,
          role: principal.role,
          tenant: principal.tenant ?? null,
        },
        sessionHeader: header(req, 'x-aos-session'),
        ...(prio !== undefined ? { priority: prio } : {}),
        signal: ac.signal,
      },
    );
    for (const [k, v] of Object.entries(resultHeaders(r, newId('req_')))) reply.header(k, v);
    return {
      object: 'list',
      model: input.model,
      data: r.embedding.vectors.map((v, index) => ({
        object: 'embedding',
        index,
        embedding: input.base64 ? float32Base64(v) : v,
      })),
      usage: { prompt_tokens: r.embedding.tokens, total_tokens: r.embedding.tokens },
    };
  } catch (err) {
    return sendError(reply, err, 'openai');
  }
}

/** Registers the wire endpoints on `app` (they speak the vendors' shapes, so they are not kernel routes). */
export function mountGateway(app: FastifyInstance, k: Kernel, gw: Gateway, tokens: TokenStore): void {
  const opts = { bodyLimit: GATEWAY_BODY_LIMIT_BYTES };
  app.post('/v1/chat/completions', opts, (req, reply) => chat(gw, tokens, 'chat', req, reply));
  app.post('/v1/responses', opts, (req, reply) => chat(gw, tokens, 'responses', req, reply));
  mountStoredResponses(app, gw, tokens);
  app.post('/v1/messages', opts, (req, reply) => chat(gw, tokens, 'messages', req, reply));
  app.get('/v1/models', async (req, reply) => {
    const dialect = dialectOf(req);
    try {
      await principalOf(tokens, req, 'viewer');
      return modelList(k);
    } catch (err) {
      return sendError(reply, err, dialect);
    }
  });
  app.post('/v1/embeddings', opts, (req, reply) => embeddings(gw, tokens, req, reply));
  // GET /v1/models/{id} (models.retrieve in both SDKs)
  app.get('/v1/models/:model', async (req, reply) => {
    const dialect = dialectOf(req);
    try {
      await principalOf(tokens, req, 'viewer');
      const id = (req.params as { model: string }).model;
      const m = models(k).find((x) => x.id === id);
      if (!m) throw unknownModel(id);
      return m;
    } catch (err) {
      return sendError(reply, err, dialect);
    }
  });
  // POST /v1/messages/count_tokens (Anthropic messages.countTokens): the prompt as the kernel's tokenizer counts it
  app.post('/v1/messages/count_tokens', opts, async (req, reply) => {
    try {
      await principalOf(tokens, req, 'operator');
      const body = req.body;
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw new KernelError('EINVAL', 'the request body must be a JSON object');
      // the same parser as a call (same errors), without the fields only a call has
      const { thinking: _thinking, ...rest } = body as Loose;
      const call = parseAnthropicMessages({ ...rest, max_tokens: 1 });
      try {
        k.models.describe(call.model);
      } catch {
        throw unknownModel(call.model);
      }
      return { input_tokens: promptTokens(call.chat) };
    } catch (err) {
      return sendError(reply, err, 'anthropic');
    }
  });
  // Anything else under /v1 is an endpoint the gateway does not offer: say so in the caller's dialect
  // (not the dashboard's page, which an SDK would take for a successful answer).
  app.all('/v1/*', async (req, reply) =>
    sendError(
      reply,
      new HttpError(
        404,
        'ENOTFOUND',
        `the gateway does not offer ${req.method} ${req.url.split('?')[0]}; it serves /v1/chat/completions, /v1/responses (+ GET/DELETE /v1/responses/{id}, /input_items), /v1/messages (+ /count_tokens), /v1/models and /v1/embeddings`,
      ),
      dialectOf(req),
    ),
  );
}

/** `x-aos-priority`: absent, or an integer 0–99 (a value the kernel cannot honour is refused, not ignored). */
function priorityHeader(req: FastifyRequest): number | undefined {
  const v = header(req, 'x-aos-priority');
  if (v === undefined) return undefined;
  if (!/^\d{1,2}$/.test(v.trim()))
    throw new GatewayError(
      'EINVAL',
      `x-aos-priority must be an integer from ${PRIORITY_MIN} (most urgent) to ${PRIORITY_MAX}, got "${v.slice(0, 20)}"`,
      400,
      null,
      { param: 'x-aos-priority' },
    );
  return Number(v.trim());
}

/** Whether a request is the gateway's (its errors then answer in the vendor's shape, not the kernel API's). */
export function isGatewayPath(url: string): boolean {
  return url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');
}

/**
 * An error raised before a gateway route ran — the body over its limit, not JSON, not UTF-8, a NUL in the
 * text (the server's parser and hooks): in the caller's dialect, as the route's own errors are, so the
 * official SDKs show its message instead of a body they cannot read.
 */
export function sendGatewayError(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  return sendError(reply, err, dialectOf(req));
}

function dialectOf(req: FastifyRequest): Dialect {
  return req.headers['anthropic-version'] ? 'anthropic' : 'openai';
}

/** Kernel-API routes of the gateway (they take part in auth, validation and the OpenAPI document). */
export function gatewayApiRoutes(gw: Gateway): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/gateway/sessions',
      access: 'viewer',
      tenantScoped: true,
      tag: 'gateway',
      summary:
        'Gateway sessions (a tenant key sees its own): live ones with their pid, queue and prefix-cache figures; ' +
        'with ?all=true also the journaled sessions whose process has idled out (live: false, pid: null)',
      query: z.object({ all: z.enum(['true', 'false']).optional() }),
      response: z.object({
        items: z.array(z.record(z.string(), z.unknown())),
        stats: z.record(z.string(), z.unknown()),
      }),
      async handler({ principal, query }) {
        const tenant = principal.tenant ?? null;
        const counts = await gw.journal.sessionCounts(tenant);
        const zero = { calls: 0, replayed: 0, errors: 0 };
        const live = gw.listSessions(tenant);
        const items: Array<Record<string, unknown>> = live.map((s) => ({
          ...s,
          live: true,
          journal: counts.get(`${s.tenant}/${s.session}`) ?? zero,
          cachedRatio: s.cache.input ? s.cache.predictedCached / s.cache.input : 0,
        }));
        if (query.all === 'true') {
          const seen = new Set(live.map((s) => `${s.tenant}/${s.session}`));
          for (const [key, journal] of counts) {
            if (seen.has(key)) continue;
            const slash = key.indexOf('/');
            items.push({
              tenant: key.slice(0, slash),
              session: key.slice(slash + 1),
              pid: null,
              live: false,
              journal,
            });
          }
        }
        return { items, stats: tenant ? {} : { ...gw.stats } };
      },
    }),
  ];
}
