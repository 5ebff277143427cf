/**
 * The model-call journal's request hash (./call-journal.ts), kept incrementally per process. A ReAct
 * agent's request is its conversation so far plus one turn, so hashing the whole request on every call
 * cost O(conversation) per step (JSON text + sha256 of every message again). The hash is
 * sha256 over one stream — a version tag, the model, each message's JSON text on a line of its own, then
 * the rest of the request (tools, options) — so the state after a prefix of messages can be kept and
 * continued: a call whose messages begin with the previous call's (compared member by member: the same
 * string objects compare in O(1)) hashes only the messages after them. Computed from scratch (a restarted
 * kernel, another node, a compacted context) it gives the same hash: replay after a crash still matches.
 */
import { createHash, type Hash } from 'node:crypto';
import * as P from '../param.js';

const TAG = 'aos-request-v2\n';

interface Memo {
  model: string;
  /**
   * The messages hashed last (a copy of the gate's parsed array, whose messages the kernel does not
   * change; if something did, the hash would only fail to match at replay: the call is made again).
   */
  messages: readonly unknown[];
  /**
   * sha256 states after TAG, the model and the first i messages, for some i: 0, every KEEP_EVERY-th, and
   * the last KEEP_LAST (the prompt-closing cache breakpoint moves on every call, so the previous request's
   * last messages are the ones that differ; a compaction changes older ones).
   */
  states: Map<number, Hash>;
  /** The rest of the last request and its JSON text. */
  rest: unknown;
  restJson: string;
}

const KEEP_EVERY = P.REQUEST_HASH_KEEP_EVERY;
const KEEP_LAST = P.REQUEST_HASH_KEEP_LAST;

const memos = new WeakMap<object, Memo>();

/**
 * The hash of `request` ({ messages, ...rest }) to `model`, continuing a state kept under `owner` (the
 * process) for the longest prefix of messages it shares with the request hashed before.
 */
export function requestHash(
  owner: object,
  model: string,
  request: { messages: readonly unknown[]; [option: string]: unknown },
): string {
  const { messages, ...rest } = request;
  const n = messages.length;
  const memo = memos.get(owner);
  const states = new Map<number, Hash>();
  let from = 0;
  let state: Hash | undefined;
  if (memo && memo.model === model) {
    const same = sharedPrefix(memo.messages, messages);
    for (const [i, h] of memo.states) {
      if (i > same) continue;
      if (i % KEEP_EVERY === 0 || i >= n - KEEP_LAST) states.set(i, h);
      if (i >= from) {
        from = i;
        state = h;
      }
    }
  }
  if (state) state = state.copy();
  else {
    from = 0;
    state = createHash('sha256')
      .update(TAG)
      .update(`${JSON.stringify(model)}\n`);
    states.set(0, state.copy());
  }
  for (let i = from; i < n; i++) {
    state.update(`${JSON.stringify(messages[i]) ?? 'null'}\n`);
    if ((i + 1) % KEEP_EVERY === 0 || i + 1 >= n - KEEP_LAST) states.set(i + 1, state.copy());
  }
  const restJson = memo && sameJson(memo.rest, rest) ? memo.restJson : JSON.stringify(rest);
  memos.set(owner, { model, messages: messages.slice(), states, rest, restJson });
  return state.update(restJson).digest('hex');
}

/** How many leading messages a and b share. */
function sharedPrefix(a: readonly unknown[], b: readonly unknown[]): number {
  const m = Math.min(a.length, b.length);
  let i = 0;
  while (i < m && sameJson(a[i], b[i])) i++;
  return i;
}

/**
 * Whether a and b have the same JSON text: the same members in the same order with the same values. Exact
 * where it says yes; a no (an undefined member on one side only, a NaN) only costs hashing from scratch.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a === 'function' || typeof b === 'function') return false;
  if (a === b) return typeof a !== 'number' || Number.isFinite(a);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.prototype || Object.getPrototypeOf(b) !== Object.prototype)
    return false; // a Date, a class instance: its JSON is its own (toJSON); not compared here
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i] as string;
    if (k !== kb[i]) return false;
    if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
