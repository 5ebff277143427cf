/**
 * The HTTP face of the kernel: `createServer(kernel, opts)` builds a Fastify app with the REST API
 * (./routes/*), server-sent events (./events.ts), Prometheus text at /metrics, the OpenAPI document at
 * /docs and the dashboard at / (./static.ts), and listens on server.host:server.port (127.0.0.1:7878).
 * Security defaults: loopback only unless config.yaml's server.host names another address; every route
 * but /health and /ready needs a bearer token (./auth.ts); CORS closed unless server.cors_origins lists
 * an origin. The server does not own the kernel: close() stops serving, the caller shuts the kernel down.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { KernelError } from '../errors.js';
import { Gateway } from '../gateway/gateway.js';
import { gatewayApiRoutes, isGatewayPath, mountGateway, sendGatewayError } from '../gateway/routes.js';
import type { Kernel } from '../kernel/kernel.js';
import {
  API_BODY_LIMIT_BYTES,
  API_HEADERS_TIMEOUT_MS,
  API_JSON_MAX_DEPTH,
  API_KEEPALIVE_TIMEOUT_MS,
  API_REQUEST_TIMEOUT_MS,
  API_TOKEN_FILE,
} from '../param.js';
import { protectPaths } from '../security/secrets.js';
import { logger } from '../util/log.js';
import { addKnownSecret } from '../util/redact.js';
import { ensureAdminToken, TokenStore } from './auth.js';
import { docsPage } from './docs-page.js';
import { HttpError, toHttpError } from './errors.js';
import { EventHub, eventRoutes } from './events.js';
import { buildOpenApi } from './openapi.js';
import { type AnyRoute, mountRoutes, route } from './route.js';
import { conversationRoutes } from './routes/conversations.js';
import { ioRoutes } from './routes/io.js';
import { learningRoutes } from './routes/learning.js';
import { pluginRoutes } from './routes/plugins.js';
import { processRoutes } from './routes/processes.js';
import { schedulerQueueRoutes } from './routes/scheduler-queue.js';
import { systemRoutes, VERSION } from './routes/system.js';
import { traceRoutes } from './routes/trace.js';
import { findDashboard, mountDashboard } from './static.js';
import { noteBoot } from './summary.js';

const log = logger('api');

export interface ServerOptions {
  /** Overrides server.host; a non-loopback address is refused unless config.yaml's server.host is that address. */
  host?: string;
  /** Overrides server.port (0 picks a free port). */
  port?: number;
  /** Overrides server.cors_origins. */
  corsOrigins?: string[];
  /** Where admin.token is written (default: the kernel's data_dir). */
  dataDir?: string;
  /** Dashboard build directory (default: dist/web, else web/dist); null serves the "not built" page. */
  dashboardDir?: string | null;
  /** false: build the app without listening (tests use app.inject). Default true. */
  listen?: boolean;
}

export interface ApiServer {
  app: FastifyInstance;
  /** http://host:port, or '' when not listening. */
  url: string;
  /** The file holding the first-start admin token (its contents are never logged). */
  adminTokenFile: string;
  /** True when this start created a new admin token. */
  adminTokenCreated: boolean;
  tokens: TokenStore;
  events: EventHub;
  /** The OpenAI/Anthropic-compatible endpoints (src/gateway), null when gateway.enabled is false. */
  gateway: Gateway | null;
  routes: readonly AnyRoute[];
  openapi(): Record<string, unknown>;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function checkBind(host: string, configured: string): void {
  if (isLoopback(host)) return;
  if (host !== configured) {
    throw new KernelError(
      'EPERM',
      `refusing to bind ${host}: it is not a loopback address and config.yaml's server.host does not name it. ` +
        `To serve other machines deliberately, set server.host: "${host}" in config.yaml (and keep the tokens secret).`,
      { details: { host, configured } },
    );
  }
  log.warn('='.repeat(72));
  log.warn(`the API is listening on ${host}, reachable from other machines (server.host in config.yaml).`);
  log.warn(
    'every route but /health and /ready needs a bearer token; put TLS in front of it on untrusted networks.',
  );
  log.warn('='.repeat(72));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A message when `text` (JSON) nests deeper than `max`, scanning brackets outside strings (no recursion). */
function jsonTooDeep(text: string, max: number): string | null {
  let depth = 0;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === 92)
        i++; // backslash: skip the escaped char
      else if (c === 34) inStr = false;
    } else if (c === 34) inStr = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return `request body nests deeper than ${max} levels`;
    } else if (c === 93 || c === 125) depth--;
  }
  return null;
}

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Where in `v` a string (or key) holds a character no database column can store, or null. */
function unstorable(v: unknown, at: string, depth = 0): string | null {
  if (typeof v === 'string') return UNSTORABLE.test(v) ? at : null;
  if (!v || typeof v !== 'object' || depth > 80) return null;
  for (const [k, x] of Object.entries(v)) {
    if (UNSTORABLE.test(k)) return `${at} key`;
    const bad = unstorable(x, `${at}.${k.slice(0, 40)}`, depth + 1);
    if (bad) return bad;
  }
  return null;
}

export async function createServer(kernel: Kernel, opts: ServerOptions = {}): Promise<ApiServer> {
  const cfg = kernel.config.server;
  const host = opts.host ?? cfg.host;
  const port = opts.port ?? cfg.port;
  if (opts.listen !== false) checkBind(host, cfg.host);
  const origins = new Set(opts.corsOrigins ?? cfg.cors_origins);
  const dataDir = resolve(opts.dataDir ?? kernel.config.data_dir);
  const adminTokenFile = join(dataDir, API_TOKEN_FILE);
  const startedAt = Date.now();
  noteBoot(kernel);

  const tokens = new TokenStore(kernel.storage.driver);
  const adminTokenCreated = await ensureAdminToken(tokens, adminTokenFile);
  // The admin token is masked in every log and audit entry, in any encoding the redactor knows.
  if (existsSync(adminTokenFile)) addKnownSecret(readFileSync(adminTokenFile, 'utf8'), 'admin-token');
  protectPaths([adminTokenFile]);

  const app = Fastify({
    logger: false,
    bodyLimit: API_BODY_LIMIT_BYTES,
    forceCloseConnections: true,
    // A client that trickles its request (headers or body) is cut off; responses (SSE) are not limited.
    requestTimeout: API_REQUEST_TIMEOUT_MS,
    connectionTimeout: 0,
    keepAliveTimeout: API_KEEPALIVE_TIMEOUT_MS,
  });
  app.server.headersTimeout = API_HEADERS_TIMEOUT_MS;

  // JSON bodies: an empty body is `{}` (POST /processes/1/suspend needs none), bad JSON is a 400 in our
  // shape; bytes that are not UTF-8 and nesting deeper than API_JSON_MAX_DEPTH are 400s too.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      return done(new KernelError('EINVAL', 'request body is not valid UTF-8'), undefined);
    }
    if (text.trim() === '') return done(null, {});
    const deep = jsonTooDeep(text, API_JSON_MAX_DEPTH);
    if (deep) return done(new KernelError('EINVAL', deep), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new KernelError('EINVAL', `request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });
  // NUL and lone surrogates are refused in every input (path, query, body) before any handler sees them.
  app.addHook('preValidation', async (req) => {
    const bad =
      unstorable(req.params, 'path') ?? unstorable(req.query, 'query') ?? unstorable(req.body, 'body');
    if (bad)
      throw new KernelError(
        'EINVAL',
        `${bad} holds a NUL character or a lone UTF-16 surrogate; send valid text`,
      );
  });

  const corsHeaders = (origin: string | undefined): Record<string, string> => {
    if (!origin || !(origins.has(origin) || origins.has('*'))) return {};
    return {
      'access-control-allow-origin': origin,
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
      'access-control-max-age': '600',
      vary: 'Origin',
    };
  };
  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of Object.entries(corsHeaders(req.headers.origin))) reply.header(k, v);
  });
  app.options('/*', async (req, reply) => {
    if (!Object.keys(corsHeaders(req.headers.origin)).length) {
      throw new HttpError(
        403,
        'EPERM',
        `cross-origin requests from ${req.headers.origin ?? '(no origin)'} are not allowed; list the origin in server.cors_origins`,
      );
    }
    reply.code(204);
    return '';
  });

  app.setErrorHandler((err, req, reply) => {
    if (gateway && isGatewayPath(req.url)) return sendGatewayError(req, reply, err);
    const { status, body } = toHttpError(err);
    if (status >= 500 && status !== 501 && status !== 504)
      log.error(
        `${req.method} ${req.url.split('?')[0]} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({
      error: {
        code: 'ENOTFOUND',
        message: `no route ${req.method} ${req.url.split('?')[0]}; GET /docs lists the API`,
      },
    });
  });

  const hub = new EventHub(kernel);
  const gateway = kernel.config.gateway.enabled ? new Gateway(kernel) : null;
  const routes: AnyRoute[] = [
    ...(gateway ? gatewayApiRoutes(gateway) : []),
    ...systemRoutes(kernel, tokens, startedAt),
    ...pluginRoutes(kernel),
    ...processRoutes(kernel),
    ...traceRoutes(kernel),
    ...conversationRoutes(kernel),
    ...schedulerQueueRoutes(kernel),
    ...ioRoutes(kernel),
    ...learningRoutes({
      learning: kernel.learning,
      optimizer: kernel.profileOptimizer,
      evalDir: resolve(kernel.config.data_dir, 'evals'),
    }),
    ...eventRoutes(hub, corsHeaders),
  ];
  let url = '';
  const openapi = () => buildOpenApi(routes, { version: VERSION, ...(url ? { serverUrl: url } : {}) });
  routes.push(
    route({
      method: 'GET',
      path: '/metrics',
      access: 'viewer',
      tag: 'system',
      summary: 'Prometheus text exposition of the kernel metrics (scheduler, syscalls, tokens, context, …)',
      produces: 'text/plain; version=0.0.4',
      async handler({ reply }) {
        reply.type(kernel.metrics.registry.contentType);
        return kernel.metrics.registry.metrics();
      },
    }),
    route({
      method: 'GET',
      path: '/docs',
      access: 'public',
      tag: 'docs',
      summary: 'A readable index of the API (HTML)',
      produces: 'text/html',
      async handler({ reply }) {
        reply.type('text/html; charset=utf-8');
        return docsPage();
      },
    }),
    route({
      method: 'GET',
      path: '/docs/openapi.json',
      access: 'public',
      tag: 'docs',
      summary: 'This OpenAPI 3.1 document',
      async handler() {
        return openapi();
      },
    }),
  );
  mountRoutes(app, tokens, routes, async (pid) => {
    const live = kernel.procs.get(pid)?.pcb.policy.tenant;
    if (live !== undefined) return typeof live === 'string' ? live : null;
    const t = (await kernel.storage.state.getProcess(pid))?.policy?.tenant;
    return typeof t === 'string' ? t : null;
  });
  if (gateway) mountGateway(app, kernel, gateway, tokens);
  mountDashboard(app, opts.dashboardDir === null ? null : findDashboard(opts.dashboardDir));

  await app.ready();
  if (opts.listen !== false) {
    try {
      await app.listen({ host, port });
    } catch (err) {
      await app.close().catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new KernelError(
          'EEXIST',
          `port ${port} on ${host} is already in use (another "aos start"?); stop it, or set server.port in config.yaml / pass --port`,
          { details: { host, port } },
        );
      }
      throw KernelError.wrap(err, 'EINVAL', `listening on ${host}:${port}`);
    }
    const addr = app.server.address();
    const realPort = addr && typeof addr === 'object' ? addr.port : port;
    url = `http://${host.includes(':') ? `[${host}]` : host}:${realPort}`;
  }

  let closed = false;
  return {
    app,
    get url() {
      return url;
    },
    adminTokenFile,
    adminTokenCreated,
    tokens,
    events: hub,
    gateway,
    routes,
    openapi,
    async close() {
      if (closed) return;
      closed = true;
      hub.closeAll();
      gateway?.close();
      await app.close();
      await tokens.close();
    },
  };
}
