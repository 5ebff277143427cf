/**
 * Helpers every store shares: turning backend errors into KernelErrors (with the SQL state kept in
 * details), running a body in the caller's transaction or a fresh one, and vector literals that work
 * whether the column is pgvector's `vector(N)` or the `real[]` fallback.
 */
import { KernelError } from '../errors.js';
import type { Queryable, StorageDriver } from './driver.js';

/** SQLSTATE of a backend error (pg and PGlite both put it in `.code`), wrapped or not. */
export function sqlState(err: unknown): string | undefined {
  if (err instanceof KernelError) {
    const s = err.details.sqlState;
    return typeof s === 'string' ? s : undefined;
  }
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Wraps a driver error as EBACKEND; the SQL state and constraint go in details so stores can map them. */
export function backendError(err: unknown, location: string, sql?: string): KernelError {
  if (err instanceof KernelError) return err;
  const e = err as { message?: string; code?: string; constraint?: string; detail?: string };
  const state = sqlState(err);
  const head = sql ? ` while running "${sql.replace(/\s+/g, ' ').trim().slice(0, 120)}"` : '';
  return new KernelError(
    'EBACKEND',
    `${location}: ${e?.message ?? String(err)}${state ? ` (SQLSTATE ${state})` : ''}${head}`,
    {
      cause: err,
      details: { sqlState: state, constraint: e?.constraint, detail: e?.detail },
      // serialization failures, deadlocks and lost connections are worth retrying
      retryable: state === '40001' || state === '40P01' || (state?.startsWith('08') ?? false),
    },
  );
}

export const UNIQUE_VIOLATION = '23505';

/** Runs fn on tx when the caller already holds a transaction, else in a new one. */
export function inTx<T>(
  driver: StorageDriver,
  tx: Queryable | undefined,
  fn: (q: Queryable) => Promise<T>,
): Promise<T> {
  return tx ? fn(tx) : driver.transaction(fn);
}

/** Literal for a `vector` parameter (`'[1,2]'::vector`) or a `real[]` parameter (`'{1,2}'::real[]`). */
export function vectorParam(v: readonly number[], pgvector: boolean): string {
  const body = v.map((x) => (Number.isFinite(x) ? String(x) : '0')).join(',');
  return pgvector ? `[${body}]` : `{${body}}`;
}

/** SQL type the embedding parameter is cast to. */
export function vectorType(pgvector: boolean): string {
  return pgvector ? 'vector' : 'real[]';
}

/** Parses an embedding read back from either column type (pgvector text, array text, or a parsed array). */
export function parseVector(v: unknown): number[] | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map(Number);
  if (typeof v === 'string') {
    const body = v.trim().replace(/^[[{]|[\]}]$/g, '');
    return body === '' ? [] : body.split(',').map(Number);
  }
  return null;
}

/** Quotes an identifier (schema names come from config and tests). */
export function ident(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) {
    throw new KernelError('EINVAL', `invalid schema name "${name}": use letters, digits and _ (max 63)`, {
      details: { schema: name },
    });
  }
  return `"${name}"`;
}

/** Number from a bigint column (pg returns int8 as a string, PGlite as a number). */
export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}
