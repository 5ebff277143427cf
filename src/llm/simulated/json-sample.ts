/**
 * The simulator's structured outputs: a JSON value that validates against a caller's JSON Schema, built from
 * the schema alone (a model constrained to the schema, minus the intelligence). Covers what response-format
 * schemas use — object/properties/required, arrays with min/maxItems, enum/const, string formats and lengths,
 * number bounds, type lists, anyOf/oneOf/allOf, local $ref ($defs / definitions) — and answers `null` where
 * the schema allows nothing simpler. Deterministic: the same schema gives the same value.
 */

import { SIM_JSON_FULL_DEPTH, SIM_JSON_MAX_DEPTH } from '../../param.js';

type Schema = Record<string, unknown>;

/** Values for the string formats response schemas use (zod's .email(), .datetime(), .uuid(), …). */
const FORMATS: Record<string, string> = {
  'date-time': '2026-01-01T00:00:00Z',
  date: '2026-01-01',
  time: '00:00:00Z',
  duration: 'P1D',
  email: 'sim@example.com',
  hostname: 'example.com',
  uri: 'https://example.com/',
  url: 'https://example.com/',
  ipv4: '127.0.0.1',
  ipv6: '::1',
  uuid: '00000000-0000-4000-8000-000000000000',
};

/**
 * Past MAX_DEPTH only what the schema requires is produced (the fewest items, null where allowed, no
 * optional properties), so a recursive schema ends; past HARD_DEPTH a schema that requires more gets null.
 */
const MAX_DEPTH = SIM_JSON_FULL_DEPTH;
const HARD_DEPTH = SIM_JSON_MAX_DEPTH;

/** A JSON value valid against `schema`; `root` resolves local $refs. */
export function sampleJson(schema: unknown, root: unknown = schema): unknown {
  return sample(schema, root as Schema, 'value', 0);
}

function resolve(ref: string, root: Schema): Schema | undefined {
  if (!ref.startsWith('#')) return undefined;
  let at: unknown = root;
  for (const raw of ref.slice(1).split('/').filter(Boolean)) {
    const key = decodeURIComponent(raw.replace(/~1/g, '/').replace(/~0/g, '~'));
    at = (at as Schema | undefined)?.[key];
  }
  return at && typeof at === 'object' ? (at as Schema) : undefined;
}

function sample(schema: unknown, root: Schema, key: string, depth: number): unknown {
  if (schema === true || schema === undefined || schema === null) return `${key} (simulated)`;
  if (typeof schema !== 'object') return null;
  const s = schema as Schema;
  if (typeof s.$ref === 'string') {
    const target = resolve(s.$ref, root);
    return target && depth < HARD_DEPTH ? sample(target, root, key, depth + 1) : null;
  }
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  const branches = (Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : null) as
    | unknown[]
    | null;
  if (branches?.length) {
    // The first branch that is not null (a nullable field gets a value), unless too deep: then null if allowed.
    const isNull = (b: unknown) => (b as Schema | undefined)?.type === 'null';
    const pick =
      depth >= MAX_DEPTH
        ? (branches.find(isNull) ?? branches[0])
        : (branches.find((b) => !isNull(b)) ?? branches[0]);
    return sample(pick, root, key, depth + 1);
  }
  if (Array.isArray(s.allOf) && s.allOf.length) {
    const merged: Schema = {};
    for (const part of s.allOf as Schema[]) {
      const p = typeof part?.$ref === 'string' ? (resolve(part.$ref, root) ?? {}) : part;
      Object.assign(merged, p, {
        properties: { ...(merged.properties as Schema), ...(p.properties as Schema) },
        required: [...((merged.required as string[]) ?? []), ...((p.required as string[]) ?? [])],
      });
    }
    return sample(merged, root, key, depth + 1);
  }
  const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : [];
  const type =
    (depth >= MAX_DEPTH && types.includes('null') ? 'null' : types.find((t) => t !== 'null')) ??
    types[0] ??
    (s.properties ? 'object' : s.items ? 'array' : 'string');
  switch (type) {
    case 'null':
      return null;
    case 'boolean':
      return true;
    case 'integer':
    case 'number':
      return number(s, type === 'integer');
    case 'string':
      return string(s, key);
    case 'array': {
      const min = typeof s.minItems === 'number' ? s.minItems : 0;
      const max = typeof s.maxItems === 'number' ? s.maxItems : Number.POSITIVE_INFINITY;
      const n = depth >= MAX_DEPTH ? min : Math.min(max, Math.max(min, 1));
      const prefix = Array.isArray(s.prefixItems) ? (s.prefixItems as unknown[]) : [];
      return Array.from({ length: Math.max(n, prefix.length) }, (_, i) =>
        sample(i < prefix.length ? prefix[i] : s.items, root, `${key} ${i + 1}`, depth + 1),
      );
    }
    default: {
      const props = (s.properties ?? {}) as Schema;
      const required = new Set((s.required as string[] | undefined) ?? []);
      const out: Record<string, unknown> = {};
      // Every property, optional ones too (a model fills in what it is shown), except below the depth limit.
      for (const [k, sub] of Object.entries(props))
        if (depth < MAX_DEPTH || required.has(k)) out[k] = sample(sub, root, k, depth + 1);
      for (const k of required) if (!(k in out)) out[k] = `${k} (simulated)`;
      return out;
    }
  }
}

function number(s: Schema, integer: boolean): number {
  const lo =
    typeof s.minimum === 'number'
      ? s.minimum
      : typeof s.exclusiveMinimum === 'number'
        ? s.exclusiveMinimum + (integer ? 1 : 0.5)
        : undefined;
  const hi =
    typeof s.maximum === 'number'
      ? s.maximum
      : typeof s.exclusiveMaximum === 'number'
        ? s.exclusiveMaximum - (integer ? 1 : 0.5)
        : undefined;
  let v = lo ?? (hi !== undefined ? Math.min(1, hi) : 1);
  if (integer) v = Math.ceil(v);
  const step = typeof s.multipleOf === 'number' && s.multipleOf > 0 ? s.multipleOf : undefined;
  if (step) v = Math.ceil(v / step) * step;
  return v;
}

function string(s: Schema, key: string): string {
  const format = typeof s.format === 'string' ? FORMATS[s.format] : undefined;
  let v = format ?? `${key} (simulated)`;
  const min = typeof s.minLength === 'number' ? s.minLength : 0;
  const max = typeof s.maxLength === 'number' ? s.maxLength : Number.POSITIVE_INFINITY;
  if (!format && v.length > max) v = v.slice(0, max);
  if (v.length < min) v = v.padEnd(min, 'x');
  return v;
}
