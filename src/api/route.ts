/**
 * A route is data: method, path, the role it needs, zod schemas of its inputs (and of its output, for the
 * OpenAPI document) and a handler that receives parsed input. `mountRoutes` registers them on Fastify with
 * the same order of checks everywhere — authenticate, authorise, validate, handle — so no route can forget
 * one; ./openapi.ts reads the same list, so the document cannot drift from what is served.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { type Principal, presentedToken, type Role, roleAllows, type TokenStore } from './auth.js';
import { HttpError, parseInput } from './errors.js';

export type Access = Role | 'public';

export interface RouteCtx<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  req: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  method: 'GET' | 'POST' | 'DELETE';
  /** Fastify path syntax (`/api/v1/processes/:pid`). */
  path: string;
  access: Access;
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  response?: z.ZodType;
  /** Success status (default 200). */
  status?: number;
  /** Content type of the success response when it is not JSON. */
  produces?: string;
  /** Accept the token as `?token=` too (EventSource cannot set headers). */
  tokenInQuery?: boolean;
  /**
   * Open to tenant tokens (gateway keys). A tenant token may use only these routes, and on a route with
   * `:pid` only that tenant's processes (anything else is "no process", so existence does not leak).
   */
  tenantScoped?: boolean;
  handler(ctx: RouteCtx<P, Q, B>): Promise<unknown>;
}

/** Keeps the handler's argument types inferred from the schemas. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  def: RouteDef<P, Q, B>,
): RouteDef<P, Q, B> {
  return def;
}

// biome-ignore lint/suspicious/noExplicitAny: a route list holds routes of every input type
export type AnyRoute = RouteDef<any, any, any>;

const ANONYMOUS: Principal = { id: 'anonymous', name: 'anonymous', role: 'viewer' };

export async function authenticate(
  tokens: TokenStore,
  req: FastifyRequest,
  access: Access,
  tokenInQuery = false,
): Promise<Principal> {
  if (access === 'public') return ANONYMOUS;
  const token = presentedToken(req.headers as Record<string, unknown>, req.query, tokenInQuery);
  if (!token) {
    throw new HttpError(
      401,
      'EAUTH',
      'this route needs a bearer token: send "Authorization: Bearer <token>" (the admin token is in <data_dir>/admin.token)',
    );
  }
  const principal = await tokens.verify(token);
  if (!principal) throw new HttpError(401, 'EAUTH', 'the bearer token is unknown or revoked');
  if (!roleAllows(principal.role, access)) {
    throw new HttpError(
      403,
      'EPERM',
      `this route needs role ${access}; token "${principal.name}" has role ${principal.role}`,
      {
        need: access,
        have: principal.role,
      },
    );
  }
  return principal;
}

/** The largest id or cursor the API accepts (PostgreSQL integer). */
const INT_MAX = 2_147_483_647;

/** The zod type name under optional/default/nullable wrappers. */
function baseType(t: unknown): string | undefined {
  let z = t as { _zod?: { def?: { type?: string; innerType?: unknown; in?: unknown } } } | undefined;
  for (let i = 0; i < 8 && z?._zod?.def; i++) {
    const d = z._zod.def;
    if (d.type === 'optional' || d.type === 'default' || d.type === 'nullable' || d.type === 'prefault')
      z = d.innerType as typeof z;
    else if (d.type === 'pipe') z = d.in as typeof z;
    else return d.type;
  }
  return undefined;
}

/**
 * Numbers in a path or query string are decimal integers in range: `0x10`, `1e3`, ` 7` and 2^31 are a
 * 400 naming the field, never coerced into some other id (z.coerce would read `0x10` as 16).
 */
function strictNumbers(schema: unknown, raw: unknown, where: string): void {
  const shape = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
  if (!shape || !raw || typeof raw !== 'object') return;
  for (const [k, t] of Object.entries(shape)) {
    const v = (raw as Record<string, unknown>)[k];
    if (typeof v !== 'string' || baseType(t) !== 'number') continue;
    const n = /^-?(0|[1-9][0-9]{0,15})$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || Math.abs(n) > INT_MAX)
      throw new HttpError(
        400,
        'EINVAL',
        `${where}.${k} must be a decimal integer between ${-INT_MAX} and ${INT_MAX}, got "${v.slice(0, 40)}"`,
        { field: `${where}.${k}` },
      );
  }
}

/** Which tenant owns a process (null: none, or no such process). */
export type TenantOf = (pid: number) => Promise<string | null>;

/** The tenant confinement of gateway keys, checked in one place for every route. */
export async function confineTenant(
  def: AnyRoute,
  principal: Principal,
  params: unknown,
  tenantOf: TenantOf | undefined,
): Promise<void> {
  const tenant = principal.tenant;
  if (!tenant) return;
  if (!def.tenantScoped)
    throw new HttpError(
      403,
      'EPERM',
      `token "${principal.name}" belongs to tenant ${tenant}: it may call the gateway (/v1/...) and see its own sessions (/api/v1/processes) only`,
      { tenant },
    );
  const pid = (params as { pid?: unknown } | undefined)?.pid;
  if (typeof pid === 'number' && (!tenantOf || (await tenantOf(pid)) !== tenant))
    throw new HttpError(404, 'ENOPROC', `no process ${pid}; GET /api/v1/processes lists them`, { pid });
}

export function mountRoutes(
  app: FastifyInstance,
  tokens: TokenStore,
  routes: readonly AnyRoute[],
  tenantOf?: TenantOf,
): void {
  for (const def of routes) {
    const principals = new WeakMap<FastifyRequest, Principal>();
    app.route({
      method: def.method,
      url: def.path,
      // Authentication runs before the body is read: an unauthenticated client cannot make us parse it.
      onRequest: async (req) => {
        principals.set(req, await authenticate(tokens, req, def.access, def.tokenInQuery));
      },
      handler: async (req, reply) => {
        const principal =
          principals.get(req) ?? (await authenticate(tokens, req, def.access, def.tokenInQuery));
        strictNumbers(def.params, req.params, 'params');
        strictNumbers(def.query, req.query, 'query');
        const params = def.params ? parseInput(def.params, req.params, 'params') : req.params;
        await confineTenant(def, principal, params, tenantOf);
        const query = def.query ? parseInput(def.query, req.query, 'query') : {};
        const body = def.body ? parseInput(def.body, req.body ?? {}, 'body') : undefined;
        const out = await def.handler({ params, query, body, principal, req, reply });
        if (reply.sent) return reply;
        reply.code(def.status ?? 200);
        return out;
      },
    });
  }
}
