/**
 * Program-state deltas: what a step changed in a process's state, not the whole state again. The process
 * row holds the state as of `state_step` (a full write: spawn, every SNAPSHOT_EVERY_STEPS-th step, exit,
 * checkpoint, restore); each step after it stores the ops that turn its predecessor's state into its own
 * in its step row (`steps.state_delta`), committed with it. Reading a process applies them in step order
 * (rows.ts toProcess), so every reader — recovery, takeover, park reload, the API — sees the same state a
 * full write would have stored. A ReAct agent's state is mostly its context's page table, which grows by
 * appending: its delta is the new pages, not the history before them.
 *
 * The diff has JSON's semantics (what `jsonb` stores): an `undefined` or function member is absent, in an
 * array it is null, a non-finite number is null, `toJSON()` (a Date) is called; anything else is compared
 * member by member. The base it diffs against must be the state as stored (JSON-parsed), never an object
 * the program may still mutate.
 */

import { KernelError } from '../../errors.js';
import { jsonbText } from '../../util/storable.js';

/** A path of object keys and array indices from the state's root. */
export type DeltaPath = Array<string | number>;

/** One change: set the value at `p`, append `a` to the array at `p`, or delete the member at `p`. */
export type DeltaOp = { p: DeltaPath; s: unknown } | { p: DeltaPath; a: unknown[] } | { p: DeltaPath; d: 1 };

const isRecord = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === 'object' && !Array.isArray(x);

/** A member JSON.stringify leaves out of an object (and writes as null in an array). */
const omitted = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * The ops that turn `base` (a stored state, plain JSON) into `next`, or null when `next` replaces it at the
 * root (a different kind of value): write it whole.
 */
export function diffState(base: unknown, next: unknown): DeltaOp[] | null {
  const ops: DeltaOp[] = [];
  const n = jsonish(next);
  // One path stack for the whole walk, copied only into an op: the walk allocates nothing per unchanged
  // member (a path array per member was most of the diff's cost on a big, mostly unchanged state).
  const path: DeltaPath = [];
  if (isRecord(base) && isRecord(n)) diffObject(base, n, path, ops);
  else if (Array.isArray(base) && Array.isArray(n)) diffArray(base, n, path, ops);
  else return null;
  return ops;
}

/** `next` as JSON.stringify sees it at this level: toJSON() applied. */
function jsonish(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function')
    return (v as { toJSON: () => unknown }).toJSON();
  return v;
}

/** `path` (the walk's stack) as it is now, for an op to keep. */
const at = (path: DeltaPath): DeltaPath => path.slice();

function diffValue(base: unknown, next: unknown, path: DeltaPath, ops: DeltaOp[]): void {
  const n = jsonish(next);
  if (n === base) return;
  if (Array.isArray(n)) {
    if (Array.isArray(base)) diffArray(base, n, path, ops);
    else ops.push({ p: at(path), s: n });
    return;
  }
  if (isRecord(n)) {
    if (isRecord(base)) diffObject(base, n, path, ops);
    else ops.push({ p: at(path), s: n });
    return;
  }
  if (typeof n === 'number' && !Number.isFinite(n)) {
    if (base !== null) ops.push({ p: at(path), s: null });
    return;
  }
  if (omitted(n)) {
    if (base !== null) ops.push({ p: at(path), s: null });
    return;
  }
  // a primitive that differs (=== failed), or a bigint/other that stringify will judge
  ops.push({ p: at(path), s: n });
}

function diffObject(
  base: Record<string, unknown>,
  next: Record<string, unknown>,
  path: DeltaPath,
  ops: DeltaOp[],
): void {
  let shared = 0;
  for (const k in next) {
    if (!Object.hasOwn(next, k)) continue;
    const v = next[k];
    if (omitted(v)) continue;
    path.push(k);
    if (!Object.hasOwn(base, k)) ops.push({ p: at(path), s: jsonish(v) });
    else {
      shared++;
      diffValue(base[k], v, path, ops);
    }
    path.pop();
  }
  // Every member of base was met above unless base has more members than the ones next kept.
  let baseKeys = 0;
  for (const k in base) if (Object.hasOwn(base, k)) baseKeys++;
  if (baseKeys === shared) return;
  for (const k of Object.keys(base)) {
    if (!Object.hasOwn(next, k) || omitted(next[k])) ops.push({ p: [...path, k], d: 1 });
  }
}

function diffArray(base: unknown[], next: unknown[], path: DeltaPath, ops: DeltaOp[]): void {
  if (next.length < base.length) {
    ops.push({ p: at(path), s: next });
    return;
  }
  for (let i = 0; i < base.length; i++) {
    path.push(i);
    diffValue(base[i], next[i], path, ops);
    path.pop();
  }
  if (next.length > base.length) ops.push({ p: at(path), a: next.slice(base.length) });
}

/**
 * Applies ops (parsed from their stored JSON) to a state, in place where it can; returns the new state.
 * The state must be the one the ops were diffed against (a missing path is a broken invariant: throws).
 */
export function applyDelta(state: unknown, ops: readonly DeltaOp[]): unknown {
  let root = state;
  for (const op of ops) {
    if (op.p.length === 0) {
      if ('s' in op) root = op.s;
      else if ('a' in op) (root as unknown[]).push(...op.a);
      continue;
    }
    let parent = root as Record<string | number, unknown>;
    for (let i = 0; i < op.p.length - 1; i++) {
      parent = parent?.[op.p[i]!] as Record<string | number, unknown>;
    }
    const key = op.p[op.p.length - 1]!;
    if (parent === null || typeof parent !== 'object') {
      throw broken(op.p.slice(0, -1), 'no value');
    }
    if ('s' in op) parent[key] = op.s;
    else if ('a' in op) {
      const arr = parent[key];
      if (!Array.isArray(arr)) throw broken(op.p, 'no array');
      arr.push(...op.a);
    } else delete parent[key];
  }
  return root;
}

/** Applies each step's ops in order (`steps.state_delta` aggregated in step order). */
export function applyDeltas(state: unknown, deltas: readonly (readonly DeltaOp[])[]): unknown {
  let s = state;
  for (const d of deltas) s = applyDelta(s, d);
  return s;
}

function broken(path: DeltaPath, what: string): KernelError {
  return new KernelError(
    'EINTEGRITY',
    `program state delta: ${what} at ${JSON.stringify(path)} — a step's delta does not fit the state before ` +
      'it (the stored base or a step row was changed outside the kernel); restore the process from a checkpoint',
    { details: { path } },
  );
}

/** A state as storage holds it: JSON text parsed back (a deep copy the program cannot touch). */
export function storedCopy(state: unknown): unknown {
  return JSON.parse(jsonbText(state ?? null));
}
