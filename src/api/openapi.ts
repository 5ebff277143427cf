/**
 * The OpenAPI 3.1 document, built from the route list (./route.ts) with zod 4's z.toJSONSchema, so every
 * served route is described and nothing described is unserved. `openApiMarkdown` renders the same document
 * as docs/api.md (test/e2e/api-docs.test.ts keeps the committed file current).
 */
import { z } from 'zod';
import { errorBodySchema } from './errors.js';
import type { AnyRoute } from './route.js';

type Json = Record<string, unknown>;

function schema(s: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

function parameters(s: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (!s) return [];
  const js = schema(s, 'input');
  const props = (js.properties ?? {}) as Record<string, Json>;
  const required = new Set((js.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, p]) => {
    const { description, ...rest } = p;
    return {
      name,
      in: where,
      required: where === 'path' || (required.has(name) && !('default' in p)),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

const ERRORS: Record<string, string> = {
  '400': 'invalid input (EINVAL) — the message names the field',
  '401': 'no token, or an unknown/revoked one (EAUTH)',
  '403': "the token's role is too low (EPERM), or a policy/human refused (EDENIED)",
  '404': 'no such process or object (ENOPROC, ENOTFOUND)',
  '409': 'conflicts with the current state (ESTATE, EEXIST, ECONFLICT)',
  '413': 'body above the size limit (EOVERFLOW)',
  '429': 'budget or rate limit (EQUOTA, ERATELIMIT)',
  '501': 'not available in this kernel (EUNSUPPORTED)',
  '504': 'timed out (ETIMEDOUT)',
  '500': 'a kernel failure; the code says which (EBACKEND storage, EPROVIDER model, EINTERNAL other)',
};

export function buildOpenApi(routes: readonly AnyRoute[], o: { version: string; serverUrl?: string }): Json {
  const paths: Record<string, Json> = {};
  const errorRef = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const status = String(r.status ?? 200);
    const op: Json = {
      operationId: `${r.method.toLowerCase()}${path
        .replace(/^\/api\/v1/, '')
        .replace(/[{}]/g, '')
        .replace(/[/.-](\w)/g, (_m, c: string) => c.toUpperCase())}`,
      tags: [r.tag],
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      ...(r.access === 'public' ? { security: [] } : { 'x-required-role': r.access }),
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body
        ? {
            requestBody: {
              required: false,
              content: { 'application/json': { schema: schema(r.body, 'input') } },
            },
          }
        : {}),
      responses: {
        [status]: {
          description: 'success',
          content: r.produces
            ? { [r.produces]: { schema: { type: 'string' } } }
            : r.response
              ? { 'application/json': { schema: schema(r.response, 'output') } }
              : {},
        },
        ...Object.fromEntries(
          Object.entries(ERRORS)
            .filter(([code]) => (r.access === 'public' ? !['401', '403'].includes(code) : true))
            .map(([code, description]) => [code, { description, ...errorRef }]),
        ),
      },
    };
    paths[path] = { ...(paths[path] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'agent-os-kernel API',
      version: o.version,
      description:
        'REST API of agent-os-kernel. Every route except /health and /ready needs `Authorization: Bearer <token>`; ' +
        'roles are viewer (read), operator (act on processes, tools, memory, approvals) and admin (tokens, MCP servers, config). ' +
        'Errors are always `{ "error": { "code", "message", "details"? } }`. Listings take `limit` with `offset` or `after` and answer `{ items, total?, next? }`.',
    },
    ...(o.serverUrl ? { servers: [{ url: o.serverUrl }] } : {}),
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'an API token (aos_…); the first admin token is in <data_dir>/admin.token',
        },
      },
      schemas: { Error: schema(errorBodySchema, 'output') },
    },
    security: [{ bearer: [] }],
    paths,
  };
}

function typeOf(s: Json | undefined): string {
  if (!s) return '';
  if (Array.isArray(s.type)) return (s.type as string[]).join(' \\| ');
  if (typeof s.type === 'string') {
    if (s.type === 'array') return `${typeOf(s.items as Json)}[]`;
    if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ');
    return s.type;
  }
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ');
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).map(typeOf).join(' \\| ');
  return 'any';
}

function fields(s: Json | undefined, depth = 0): string[] {
  const props = (s?.properties ?? {}) as Record<string, Json>;
  const req = new Set((s?.required as string[] | undefined) ?? []);
  const pad = '  '.repeat(depth);
  return Object.entries(props).flatMap(([k, p]) => {
    const bits = [`\`${k}\``, typeOf(p)];
    if (req.has(k) && !('default' in p)) bits.push('required');
    if ('default' in p) bits.push(`default ${JSON.stringify(p.default)}`);
    const d = p.description ? ` — ${String(p.description)}` : '';
    const line = `${pad}- ${bits.join(', ')}${d}`;
    // One level of nesting: the fields of list items and of sub-objects.
    const inner = p.type === 'array' ? (p.items as Json | undefined) : p;
    return depth === 0 && inner?.properties ? [line, ...fields(inner, 1)] : [line];
  });
}

/** docs/api.md: one section per route, generated; do not edit by hand. */
export function openApiMarkdown(doc: Json): string {
  const info = doc.info as Json;
  const out: string[] = [
    '# HTTP API',
    '',
    '<!-- Generated from the OpenAPI document by test/e2e/api-docs.test.ts (UPDATE_API_DOCS=1 rewrites it). Do not edit by hand. -->',
    '',
    String(info.description),
    '',
    'The live document is served at `GET /docs/openapi.json` (and a readable page at `GET /docs`). Server-sent events are at `GET /api/v1/events`, Prometheus text at `GET /metrics` (viewer token).',
    '',
    '## Using it',
    '',
    '- **Start**: `aos start` (or `npm start`) boots the kernel and serves on `server.host:server.port` (127.0.0.1:7878). It refuses a non-loopback address unless `server.host` in config.yaml names it, and warns loudly when it does.',
    '- **Tokens**: on first start an admin token is written to `<data_dir>/admin.token` (mode 0600; default `./.aos/admin.token`); it is never logged. Send it as `Authorization: Bearer <token>`. Admins create more tokens with `POST /api/v1/tokens` (`viewer`: read; `operator`: also act; `admin`: also tokens, MCP servers, config). Tokens are stored as SHA-256 hashes; delete the token file and restart to get a fresh admin token.',
    '- **Errors**: every error is `{ "error": { "code": "EINVAL", "message": "invalid body.priority: …", "details": { … } } }`; the message names the field or the fix. 401 carries code `EAUTH`, 403 `EPERM`.',
    '- **Pagination**: `limit` (default 50, max 1000) with `offset` (processes, mailbox) or `after` (steps: a step number; audit: an entry id). Answers are `{ items, total?, next? }`; pass `next` back as `offset`/`after` for the next page.',
    '- **Events**: `GET /api/v1/events` is a `text/event-stream`; EventSource cannot set headers, so `?token=` is accepted there. Each event has `id`, `event` (`proc.state`, `proc.step`, `proc.exit`, `tool.after`, `mem.page_fault`, `approval.pending`, `metrics`) and JSON `data`; filter with `?types=a,b` and `?pid=N`. `metrics` (every 2 s) carries the `/api/v1/metrics/summary` body. Idle streams get a comment heartbeat. Streamed model tokens are opt-in with `?deltas=1` (or naming them in `types`): `llm.delta` per fragment as it arrives, before its step commits, and `llm.restart` when a cut stream is made again (drop the partial text). Reconnecting with `Last-Event-ID` (EventSource sends it) or `?after=<id>` replays the kept events after that id; connecting late with deltas on replays the streamed calls in flight from their start; an `events.gap` event says when what was asked for is no longer kept (bounded: 256 KiB per process).',
    '- **CORS** is closed unless `server.cors_origins` lists an origin (or `"*"`). Request bodies above 1 MiB are refused (413).',
    '',
    '## Limits (what is not built)',
    '',
    '- MCP servers added or removed through the API are saved to the config file the kernel started from (`saved_to`); a kernel configured inline keeps them until it stops. All MCP routes answer 501 when a kernel is embedded without an MCP manager.',
    '- No TLS: for access from other machines put a TLS-terminating proxy in front, and set `server.host` deliberately.',
    '- A verified token is cached per node for 5 s: a token revoked through another node stays usable here for up to that long.',
    '- `POST /tools/{name}/call` without `pid` cannot run tools that make syscalls (memory, IPC, spawn); pass the pid of a live process.',
    '- `GET /processes?state=` with a live state (new, ready, running, waiting, suspended) filters in memory over all such processes before paginating.',
    '',
    '## Error codes and statuses',
    '',
    '| status | meaning |',
    '|---|---|',
    ...Object.entries(ERRORS).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '## Routes',
    '',
  ];
  const paths = doc.paths as Record<string, Record<string, Json>>;
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      out.push(`### \`${method.toUpperCase()} ${path}\``, '');
      out.push(`${String(op.summary)}${op.description ? ` ${String(op.description)}` : ''}`, '');
      out.push(`Role: **${String(op['x-required-role'] ?? 'none (public)')}**`, '');
      const params = (op.parameters as Json[]) ?? [];
      if (params.length) {
        out.push('Parameters:', '');
        for (const p of params) {
          const s = p.schema as Json;
          const def = 'default' in s ? `, default ${JSON.stringify(s.default)}` : '';
          out.push(
            `- \`${String(p.name)}\` (${String(p.in)}) ${typeOf(s)}${p.required ? ', required' : ''}${def}${p.description ? ` — ${String(p.description)}` : ''}`,
          );
        }
        out.push('');
      }
      const body = ((op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined)?.[
        'application/json'
      ]?.schema as Json | undefined;
      if (body) out.push('Body (JSON):', '', ...fields(body), '');
      const responses = op.responses as Record<string, Json>;
      const [code, ok] = Object.entries(responses)[0] ?? ['200', {}];
      const content = (ok.content ?? {}) as Record<string, Json>;
      const [ctype, c] = Object.entries(content)[0] ?? [];
      const rs = c?.schema as Json | undefined;
      if (ctype && ctype !== 'application/json') out.push(`Response ${code}: \`${ctype}\``, '');
      else if (rs?.properties) out.push(`Response ${code}:`, '', ...fields(rs), '');
      else out.push(`Response ${code}: ${typeOf(rs)}`, '');
    }
  }
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}
