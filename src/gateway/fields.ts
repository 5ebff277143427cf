/**
 * The gateway's rule for request fields, shared by the three dialects (./openai-wire.ts,
 * ./responses-wire.ts, ./anthropic-wire.ts): every field a dialect accepts is either forwarded to the
 * provider (through the kernel's ChatRequest, src/llm/model.ts, which each provider adapter maps to its
 * vendor's wire field or refuses), consumed by the kernel itself (model, stream, session hints), or accepted
 * only at the value that changes nothing (`n: 1`, `store: false`, …) — any other value is a 400 naming the
 * field and why. Nothing is accepted and dropped. The helpers below read one field each and throw the
 * dialect's 400 (EINVAL: a bad value; EUNSUPPORTED: a value the gateway cannot honour).
 */
import { KernelError } from '../errors.js';
import type { ResponseFormat } from '../llm/model.js';

type Loose = Record<string, unknown>;

// The inventories: every field each dialect accepts, by what becomes of it. `forwarded`: to the provider
// through ChatRequest; `kernel`: consumed by the kernel; `noopOnly`: accepted only at the no-op value.
// test/e2e/gateway-fields.test.ts checks every entry, so a field added here without a check fails.

/**
 * Every field /v1/chat/completions accepts, by what becomes of it (./fields.ts): forwarded to the provider
 * (through ChatRequest), consumed by the kernel, or accepted only at the value that changes nothing.
 * Nothing is accepted and dropped; any other field is a 400.
 */
export const CHAT_FIELDS = {
  forwarded: [
    'messages',
    'tools',
    'tool_choice',
    'temperature',
    'max_tokens',
    'max_completion_tokens',
    'stop',
    'top_p',
    'frequency_penalty',
    'presence_penalty',
    'seed',
    'reasoning_effort',
    'parallel_tool_calls',
    'user',
    'safety_identifier',
    'response_format',
  ],
  /** model: the configured model; stream/stream_options: the reply's framing; prompt_cache_key: the session's cache key replaces it (and may name the session). */
  kernel: ['model', 'stream', 'stream_options', 'prompt_cache_key'],
  noopOnly: ['n', 'logprobs', 'top_logprobs', 'store', 'metadata', 'service_tier', 'logit_bias', 'verbosity'],
} as const;
/** Every field /v1/responses accepts, by what becomes of it . */
export const RESPONSES_FIELDS = {
  forwarded: [
    'input',
    'instructions',
    'tools',
    'tool_choice',
    'temperature',
    'max_output_tokens',
    'top_p',
    'parallel_tool_calls',
    'reasoning',
    'user',
    'safety_identifier',
    'text',
  ],
  /** As for chat completions; store and previous_response_id: the gateway's stored responses (./response-store.ts). */
  kernel: ['model', 'stream', 'stream_options', 'prompt_cache_key', 'store', 'previous_response_id'],
  noopOnly: [
    'metadata',
    'service_tier',
    'truncation',
    'include',
    'top_logprobs',
    'background',
    'max_tool_calls',
    'conversation',
    'prompt',
  ],
} as const;
/** Every field /v1/messages accepts, by what becomes of it . */
export const MESSAGES_FIELDS = {
  forwarded: [
    'messages',
    'system',
    'tools',
    'tool_choice',
    'temperature',
    'max_tokens',
    'stop_sequences',
    'top_p',
    'top_k',
    'metadata',
    'output_config',
  ],
  kernel: ['model', 'stream'],
  noopOnly: ['thinking', 'service_tier'],
} as const;
/** Every field /v1/embeddings accepts . */
export const EMBEDDING_FIELDS = {
  forwarded: ['input', 'dimensions'],
  /** model: the configured embedding model; encoding_format: the reply's number encoding. */
  kernel: ['model', 'encoding_format'],
  noopOnly: ['user'],
} as const;

const bad = (message: string, param: string) => new KernelError('EINVAL', message, { details: { param } });

/** The field, unless absent or null. */
const present = (body: Loose, key: string): unknown =>
  body[key] === undefined || body[key] === null ? undefined : body[key];

/** A number in [min, max], or undefined when absent. */
export function numberField(body: Loose, key: string, min: number, max: number): number | undefined {
  const v = present(body, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw bad(`${key} must be a number between ${min} and ${max}`, key);
  return v;
}

/** An integer (≥ min), or undefined when absent. */
export function intField(body: Loose, key: string, min = Number.MIN_SAFE_INTEGER): number | undefined {
  const v = present(body, key);
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < min)
    throw bad(`${key} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : ''}`, key);
  return v as number;
}

export function boolField(body: Loose, key: string): boolean | undefined {
  const v = present(body, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw bad(`${key} must be a boolean`, key);
  return v;
}

export function stringField(body: Loose, key: string): string | undefined {
  const v = present(body, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw bad(`${key} must be a non-empty string`, key);
  return v;
}

/** Stop sequences: a string or a list (OpenAI `stop`, at most `max`) or a list (Anthropic `stop_sequences`). */
export function stopField(
  body: Loose,
  key: string,
  o: { max?: number; string: boolean },
): string[] | undefined {
  const v = present(body, key);
  if (v === undefined) return undefined;
  const list = o.string && typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x !== ''))
    throw bad(`${key} must be ${o.string ? 'a string or ' : ''}a list of non-empty strings`, key);
  if (o.max !== undefined && list.length > o.max) throw bad(`${key} takes at most ${o.max} sequences`, key);
  return list.length ? (list as string[]) : undefined;
}

export const EFFORTS = ['minimal', 'low', 'medium', 'high'] as const;
export type Effort = (typeof EFFORTS)[number];

export function effortOf(v: unknown, key: string): Effort | undefined {
  if (v === undefined || v === null) return undefined;
  if (!EFFORTS.includes(v as Effort)) throw bad(`${key} must be one of ${EFFORTS.join(', ')}`, key);
  return v as Effort;
}

/**
 * A field accepted only at a value that changes nothing (absent, null, or one of `noop`); any other value
 * is refused with `why` (what the gateway cannot do, and what to do instead).
 */
export function noopOnly(body: Loose, key: string, noop: readonly unknown[], why: string): void {
  const v = present(body, key);
  if (v === undefined) return;
  const same = noop.some((n) =>
    n !== null && typeof n === 'object' ? JSON.stringify(n) === JSON.stringify(v) : n === v,
  );
  if (!same)
    throw new KernelError('EUNSUPPORTED', `${key}: ${why}`, {
      details: { param: key },
    });
}

/** Refuses a key outside `known` with the dialect's own wording. */
export function onlyKnown(body: Loose, known: ReadonlySet<string>, message: (k: string) => string): void {
  for (const k of Object.keys(body)) if (!known.has(k)) throw bad(message(k), k);
}

/**
 * A response format in any dialect's shape → ChatRequest.responseFormat (undefined for text):
 * `chat` — `response_format` {type, json_schema: {name, schema, strict?, description?}}; `responses` —
 * `text.format` {type, name, schema, strict?, description?}; `messages` — Anthropic `output_config.format`
 * {type: 'json_schema', schema} (no name on the wire: 'output'). `param` names the field in errors.
 */
export function responseFormatField(
  v: unknown,
  param: string,
  shape: 'chat' | 'responses' | 'messages',
): ResponseFormat | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(`${param} must be an object`, param);
  const o = v as Loose;
  const types = shape === 'messages' ? ['json_schema'] : ['text', 'json_object', 'json_schema'];
  if (!types.includes(o.type as string))
    throw bad(`${param}.type must be ${types.map((t) => `'${t}'`).join(' or ')}`, `${param}.type`);
  if (o.type === 'text') return undefined;
  if (o.type === 'json_object') return { type: 'json_object' };
  const js = (shape === 'chat' ? o.json_schema : o) as Loose | undefined;
  const at = shape === 'chat' ? `${param}.json_schema` : param;
  if (!js || typeof js !== 'object' || Array.isArray(js))
    throw bad(`${at} is required for type 'json_schema'`, at);
  const name = shape === 'messages' ? 'output' : js.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(name))
    throw bad(`${at}.name must be 1-64 letters, digits, underscores or dashes`, `${at}.name`);
  const schema = js.schema;
  if (!schema || typeof schema !== 'object' || Array.isArray(schema))
    throw bad(
      `${at}.schema must be a JSON Schema object (the gateway forwards a schema, not JSON mode: use type 'json_object' for any object)`,
      `${at}.schema`,
    );
  if (js.strict !== undefined && js.strict !== null && typeof js.strict !== 'boolean')
    throw bad(`${at}.strict must be a boolean`, `${at}.strict`);
  if (js.description !== undefined && js.description !== null && typeof js.description !== 'string')
    throw bad(`${at}.description must be a string`, `${at}.description`);
  return {
    type: 'json_schema',
    name,
    schema: schema as Record<string, unknown>,
    ...(typeof js.strict === 'boolean' ? { strict: js.strict } : {}),
    ...(typeof js.description === 'string' ? { description: js.description } : {}),
  };
}

/** `{ [key]: v }`, or nothing when v is undefined (exactOptionalPropertyTypes). */
export function defined<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}
