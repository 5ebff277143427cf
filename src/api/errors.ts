/**
 * The API's one error shape, `{ error: { code, message, details? } }`, and the mapping from KernelError
 * codes (src/errors.ts) to HTTP statuses. Fastify's own errors (bad JSON, body too large, unknown route)
 * are translated into the same shape so a client only ever parses one thing.
 */
import { z } from 'zod';
import { KernelError, type KernelErrorCode } from '../errors.js';

const STATUS: Partial<Record<KernelErrorCode, number>> = {
  EINVAL: 400,
  ECONFIG: 400,
  EPERM: 403,
  EDENIED: 403,
  ENOPROC: 404,
  ENOTFOUND: 404,
  EEXIST: 409,
  ECONFLICT: 409,
  ESTATE: 409,
  EOVERFLOW: 413,
  EQUOTA: 429,
  ERATELIMIT: 429,
  EUNSUPPORTED: 501,
  ETIMEDOUT: 504,
};

export function httpStatus(code: KernelErrorCode): number {
  return STATUS[code] ?? 500;
}

/** 401 and 403 of the auth layer carry these codes (401 has no KernelError code of its own). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** Any thrown value → status + body. Unknown errors become 500 EINTERNAL without their stack. */
export function toHttpError(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof HttpError) {
    return {
      status: err.status,
      body: {
        error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
      },
    };
  }
  if (err instanceof KernelError) {
    const details = Object.keys(err.details).length ? { details: err.details } : {};
    // SQLSTATE class 22 (data exception: a value out of range, a NUL byte, bad text) or 54 (too deep /
    // complex): the request's data, not the server, is at fault.
    const state = typeof err.details.sqlState === 'string' ? err.details.sqlState : '';
    if (err.code === 'EBACKEND' && (state.startsWith('22') || state.startsWith('54')))
      return {
        status: 400,
        body: {
          error: {
            code: 'EINVAL',
            message: `the request holds a value the database cannot store (SQLSTATE ${state}): ${err.message.split(' while running')[0]}`,
          },
        },
      };
    return {
      status: httpStatus(err.code),
      body: { error: { code: err.code, message: err.message, ...details } },
    };
  }
  const fe = err as { statusCode?: number; code?: string; message?: string };
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Fastify's parser errors: invalid JSON, wrong content type, body too large.
    const code = fe.statusCode === 413 ? 'EOVERFLOW' : fe.statusCode === 415 ? 'EUNSUPPORTED' : 'EINVAL';
    return {
      status: fe.statusCode,
      body: { error: { code, message: fe.message ?? 'bad request', details: { fastify: fe.code } } },
    };
  }
  return {
    status: 500,
    body: { error: { code: 'EINTERNAL', message: 'internal error; the server log has the cause' } },
  };
}

/** Validates request input with a zod schema; the error names the field and what it should be. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: 'body' | 'query' | 'params',
): z.output<S> {
  const r = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    path: [where, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  const first = issues[0];
  throw new KernelError('EINVAL', `invalid ${first ? `${first.path}: ${first.message}` : where}`, {
    details: { issues },
  });
}
