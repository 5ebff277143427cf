/**
 * A tool list in its prompt form, once per distinct list: the canonical (name-sorted, key-sorted) specs,
 * their JSON text, its hash and its token count. Every process of a policy is given the same list, so
 * opening a context, checking it against the derived list and importing a checkpoint used to sort, stringify,
 * hash and tokenize the same ~10 KB of schemas each time (0.8 MiB allocated and ~2 ms per spawn). The specs
 * are frozen: contexts share them.
 */
import type { ToolSpec } from '../llm/model.js';
import * as P from '../param.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import { safeCountTokens } from './page.js';

export interface ToolList {
  /** Name-sorted specs with key-sorted schemas (deep-frozen, shared). */
  tools: ToolSpec[];
  /** canonicalJson(tools), '' for no tools. */
  json: string;
  /** sha256 of json (32 hex), '' for no tools. */
  hash: string;
  tokens: number;
}

const lists = new Map<string, ToolList>();

/** The prompt form of `tools` (see the file comment); `toolList(a).json === toolList(b).json` is "same tools". */
export function toolList(tools: readonly ToolSpec[]): ToolList {
  let key: string | null;
  try {
    key = JSON.stringify(tools);
  } catch {
    key = null; // not plain JSON (a bigint in a schema): canonicalJson copes, the cache does not
  }
  const hit = key === null ? undefined : lists.get(key);
  if (hit) return hit;
  const canonical = canonicalTools(tools);
  const json = canonical.length ? canonicalJson(canonical) : '';
  const list: ToolList = {
    tools: deepFreeze(canonical),
    json,
    hash: toolsHashOf(json),
    tokens: json ? safeCountTokens(json) : 0,
  };
  if (key !== null) {
    if (lists.size >= P.CTX_TOOL_LISTS_CACHED) lists.delete(lists.keys().next().value as string);
    lists.set(key, list);
  }
  return list;
}

/** The tool list's reference in checkpoints and its prompt segment's hash ('' for no tools). */
export function toolsHashOf(toolsJson: string): string {
  return toolsJson ? sha256Hex(toolsJson).slice(0, 32) : '';
}

/** Tools in a stable order with canonical (key-sorted) schemas, so their bytes never drift. */
export function canonicalTools(tools: readonly ToolSpec[]): ToolSpec[] {
  return [...tools]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((t) => ({
      name: t.name,
      description: t.description,
      parameters: JSON.parse(canonicalJson(t.parameters ?? {})),
    }));
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
