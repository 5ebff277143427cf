/**
 * Checkpoint form of a process's page table: plain JSON (embeddings quantised to int8, base64), stored in
 * the process's checkpoint by the kernel — on every step, so nothing derivable is in it (the canonical tools
 * JSON and the system text are rebuilt on import). A tool list the kernel derives for the process
 * (`toolsByRef`, the ReAct agent's `io.tools`) is referenced by its hash only — it was most of every step's
 * state — and importContext is given the list again; states that carry `tools` (written before, or by a
 * program with its own list) import as they are. Text already written to the page store is referenced by
 * id only; text still in the write-behind queue travels in the state, so a restore loses nothing.
 */
import { KernelError } from '../errors.js';
import type { ToolSpec } from '../llm/model.js';
import { jsonCopy } from '../util/json-copy.js';
import { logger } from '../util/log.js';
import { type CacheTotals, PromptCacheModel } from './cache-model.js';
import type { Page } from './page.js';
import { systemText } from './render.js';
import type { StoredPage } from './store.js';
import type { StubEntry } from './summarizer.js';
import {
  type CacheRule,
  type Counters,
  type Entry,
  makeStub,
  type Price,
  type ProcContext,
  type SwappedInfo,
} from './table.js';
import { toolList, toolsHashOf } from './tool-list.js';

const log = logger('context');

type SwappedJson = Omit<SwappedInfo, 'embedding'> & { e: string };
type EntryJson =
  | { t: 'unit'; key: number; pages: Page[] }
  | { t: 'stub'; key: number; entries: StubEntry[]; summary: string };

interface ContextStateV1 {
  v: 1;
  pid: number | string;
  window: number;
  reserve: number;
  budget: number;
  /** Absent when the list is referenced by toolsHash (the kernel derives it; importState is given it). */
  tools?: ToolSpec[];
  /** sha256 (32 hex) of the canonical tools JSON: the reference when `tools` is absent. */
  toolsHash?: string;
  /** How many tools the reference stands for (describes a state without its list). */
  toolsCount?: number;
  toolsTokens: number;
  system: Page | null;
  task: Page | null;
  pinned: Page[];
  history: EntryJson[];
  seq: number;
  step: number;
  calibration: number;
  swapped: SwappedJson[];
  pending: Omit<StoredPage, 'embedding'>[];
  prefetched: string[];
  cache: { last: { hashes: string[]; cum: number[]; bps: number[] } | null; totals: CacheTotals };
  cacheRule: CacheRule;
  price: Price | null;
  counters: Counters;
  /** The process's model (absent in states written before context metrics went per model). */
  model?: string | null;
  /** Absent since the hot-path pass: both are derived (canonical tools, system + pinned), not stored. */
  systemText?: string;
  systemTokens: number;
  systemHash: string;
  toolsJson?: string;
}

function q8(v: Float32Array): string {
  const b = new Int8Array(v.length);
  for (let i = 0; i < v.length; i++) b[i] = Math.max(-127, Math.min(127, Math.round((v[i] ?? 0) * 127)));
  return Buffer.from(b.buffer).toString('base64');
}

function unq8(s: string): Float32Array {
  const b = new Int8Array(Buffer.from(s, 'base64'));
  const v = new Float32Array(b.length);
  for (let i = 0; i < b.length; i++) v[i] = (b[i] ?? 0) / 127;
  return v;
}

// A plain-JSON copy (no text round trip): the state shares no object with the live page table.
const clone = jsonCopy;

export function exportContext(ctx: ProcContext): ContextStateV1 {
  return clone({
    v: 1,
    pid: ctx.pid,
    window: ctx.window,
    reserve: ctx.reserve,
    budget: ctx.budget,
    ...(ctx.toolsByRef && ctx.tools.length
      ? { toolsHash: ctx.toolsHash, toolsCount: ctx.tools.length }
      : { tools: ctx.tools }),
    toolsTokens: ctx.toolsTokens,
    system: ctx.system,
    task: ctx.task,
    pinned: ctx.pinned,
    systemTokens: ctx.systemTokens,
    systemHash: ctx.systemHash,
    history: ctx.history.map(
      (e): EntryJson =>
        e.t === 'unit'
          ? { t: 'unit', key: e.unit.key, pages: e.unit.pages }
          : { t: 'stub', key: e.stub.key, entries: e.stub.entries, summary: e.stub.summary },
    ),
    seq: ctx.seq,
    step: ctx.step,
    calibration: ctx.calibration,
    swapped: [...ctx.swapped.values()].map(
      ({ embedding, ...rest }): SwappedJson => ({ ...rest, e: q8(embedding) }),
    ),
    pending: [...ctx.pending.values()].map(({ embedding: _e, ...rest }) => rest),
    prefetched: [...ctx.prefetched],
    cache: ctx.cache.exportState(),
    cacheRule: ctx.cacheRule,
    price: ctx.price,
    counters: ctx.counters,
    model: ctx.model,
  } satisfies ContextStateV1);
}

/**
 * `derivedTools`: the tool list the kernel derives for the process now. A state that refers to its list by
 * hash takes it (a different list — the configuration changed since — is taken too, with a warning: the
 * offered tools must be the ones that run); a state carrying the same list switches to the reference.
 * `view`: the context is only described (src/api/context-view.ts), a reference may stay without its list.
 */
export function importContext(
  pid: number | string,
  state: unknown,
  derivedTools?: readonly ToolSpec[],
  opts: { view?: boolean } = {},
): ProcContext {
  const s = state as Partial<ContextStateV1> | null;
  if (
    !s ||
    typeof s !== 'object' ||
    s.v !== 1 ||
    !Array.isArray(s.history) ||
    !Array.isArray(s.swapped) ||
    typeof s.budget !== 'number'
  ) {
    throw new KernelError(
      'EINVAL',
      `importState(${String(pid)}): not a context state of version 1 (was it produced by exportState?)`,
    );
  }
  if (String(s.pid) !== String(pid)) {
    throw new KernelError(
      'EINVAL',
      `importState(${String(pid)}): the state belongs to process ${String(s.pid)}`,
    );
  }
  if (!s.tools && typeof s.toolsHash !== 'string') {
    throw new KernelError(
      'EINVAL',
      `importState(${String(pid)}): the state has neither a tool list nor a toolsHash (was it produced by exportState?)`,
    );
  }
  if (!s.tools && !derivedTools && !opts.view) {
    throw new KernelError(
      'EINVAL',
      `importState(${String(pid)}): the state refers to its tool list by hash ${String(s.toolsHash)}; pass the process's tools (importState(pid, state, { tools }), the io.tools list)`,
    );
  }
  const st = clone(s as ContextStateV1);
  const tools = resolveTools(pid, st, derivedTools);
  const cache = new PromptCacheModel();
  cache.importState(st.cache);
  const swapped = new Map(
    st.swapped.map(({ e, ...rest }): [string, SwappedInfo] => [rest.id, { ...rest, embedding: unq8(e) }]),
  );
  const history: Entry[] = st.history.map((e) =>
    e.t === 'unit'
      ? { t: 'unit', unit: { key: e.key, pages: e.pages } }
      : { t: 'stub', stub: makeStub(e.key, e.entries, e.summary) },
  );
  return {
    pid: st.pid,
    model: st.model ?? null,
    window: st.window,
    reserve: st.reserve,
    budget: st.budget,
    ...tools,
    system: st.system,
    task: st.task,
    pinned: st.pinned,
    systemText: st.systemText ?? systemText(st.system, st.pinned),
    systemTokens: st.systemTokens,
    systemHash: st.systemHash,
    history,
    seq: st.seq,
    step: st.step,
    calibration: st.calibration,
    swapped,
    pending: new Map(
      st.pending.map((p) => [
        p.pageId,
        {
          ...p,
          ...(swapped.get(p.pageId) ? { embedding: swapped.get(p.pageId)?.embedding } : {}),
        } as StoredPage,
      ]),
    ),
    prefetched: new Set(st.prefetched),
    cache,
    cacheRule: st.cacheRule,
    price: st.price,
    counters: st.counters,
    order: null,
    busy: false,
  };
}

function resolveTools(
  pid: number | string,
  st: ContextStateV1,
  derived: readonly ToolSpec[] | undefined,
): Pick<ProcContext, 'tools' | 'toolsJson' | 'toolsHash' | 'toolsByRef' | 'toolsTokens'> {
  if (!st.tools && !derived) {
    // Described only (the API's memory map): the reference stands in for the list it names.
    return {
      tools: [],
      toolsJson: '',
      toolsHash: st.toolsHash ?? '',
      toolsByRef: true,
      toolsTokens: st.toolsTokens,
    };
  }
  const mineList = derived ? toolList(derived) : null;
  const mine = mineList?.tools ?? null;
  const mineJson = mineList?.json ?? '';
  if (st.tools) {
    // Canonical again: a JSONB column hands the schemas back with its own key order, and the objects are
    // what the model is sent — the bytes of the cached prefix.
    const storedList = toolList(st.tools);
    const stored = storedList.tools;
    const toolsJson = st.toolsJson ?? storedList.json;
    const toolsHash = st.toolsJson === undefined ? storedList.hash : toolsHashOf(toolsJson);
    const byRef = mine !== null && toolsJson !== '' && mineJson === toolsJson;
    return { tools: stored, toolsJson, toolsHash, toolsByRef: byRef, toolsTokens: st.toolsTokens };
  }
  const tools = mine ?? [];
  const toolsHash = mineList?.hash ?? '';
  if (toolsHash === st.toolsHash)
    return { tools, toolsJson: mineJson, toolsHash, toolsByRef: true, toolsTokens: st.toolsTokens };
  log.warn(
    `importState(${String(pid)}): the process's tools changed since its checkpoint (${st.toolsCount ?? '?'} tools, ${st.toolsHash} → ${tools.length} tools, ${toolsHash || 'none'}); it continues with the current list, so its prompt-cache prefix changes once`,
  );
  return {
    tools,
    toolsJson: mineJson,
    toolsHash,
    toolsByRef: true,
    toolsTokens: mineList?.tokens ?? 0,
  };
}

/**
 * Rewrites every exported context inside a program state (found by its shape, wherever the program keeps
 * it) from one pid to another: a checkpoint restored as a new process reads its pages from the copy the
 * restore made under the new pid. Returns a new value; the input is not modified.
 */
export function rebindContextStates(
  state: unknown,
  fromPid: number | string,
  toPid: number | string,
): unknown {
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object' || depth > 32) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const o = v as Record<string, unknown>;
    if (
      o.v === 1 &&
      Array.isArray(o.history) &&
      Array.isArray(o.swapped) &&
      String(o.pid) === String(fromPid)
    ) {
      return { ...o, pid: typeof o.pid === 'number' ? Number(toPid) : String(toPid) };
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = walk(x, depth + 1);
    return out;
  };
  return walk(state, 0);
}
