/**
 * Messages between ./worker-driver.ts (the kernel's thread) and ./worker.ts (the PGlite thread). Values
 * cross by structured clone: params and rows are plain data (Date, Uint8Array for bytea, bigint stays
 * bigint); errors cross as their fields and are rebuilt so callers still match on .code.
 */

export type Request =
  | { t: 'q'; id: number; sql: string; params: readonly unknown[]; tx?: number }
  | { t: 'begin'; id: number; tx: number }
  | { t: 'end'; id: number; tx: number; commit: boolean }
  | { t: 'listen'; id: number; channel: string }
  | { t: 'unlisten'; id: number; listen: number }
  | { t: 'dump'; id: number }
  | { t: 'close'; id: number };

/** id 0 answers the open; id -1 carries a NOTIFY. */
export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: ErrorData }
  | { id: -1; channel: string; payload: string };

export type ErrorData = { name: string; message: string } & Record<string, unknown>;

/** A DatabaseError's (or any error's) fields as plain data: code, position, detail, constraint… */
export function errorData(err: unknown): ErrorData {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const out: ErrorData = { name: err.name, message: err.message };
  for (const [k, v] of Object.entries(err)) {
    if (k === 'cause' || typeof v === 'function') continue;
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
  }
  return out;
}

/** The error again on the caller's side: an Error with the same fields (its stack is the caller's). */
export function rebuildError(e: ErrorData): Error {
  const err = new Error(e.message);
  Object.assign(err, e);
  return err;
}
