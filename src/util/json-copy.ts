/**
 * A deep copy with JSON's semantics — what `JSON.parse(JSON.stringify(v))` gives — without writing and
 * re-reading the text: objects and arrays are copied, strings are shared (immutable), so a copy costs the
 * value's nodes, not its bytes. An `undefined`, function or symbol member is absent (null in an array), a
 * non-finite number is null, -0 is 0, `toJSON()` is called (a Date becomes its ISO text), a bigint throws
 * like JSON.stringify. A context's page table is copied so on every step (../context/snapshot.ts).
 */

export function jsonCopy<T>(value: T): T {
  const v = copy(value, '');
  return (v === undefined ? undefined : v) as T;
}

function copy(v: unknown, key: string): unknown {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function')
    v = (v as { toJSON: (k: string) => unknown }).toJSON(key);
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? (v === 0 ? 0 : v) : null;
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) {
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) {
          const x = copy(v[i], String(i));
          out[i] = x === undefined ? null : x;
        }
        return out;
      }
      if (v instanceof Number || v instanceof String || v instanceof Boolean) return copy(v.valueOf(), key);
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = copy((v as Record<string, unknown>)[k], k);
        if (x !== undefined) out[k] = x;
      }
      return out;
    }
    default:
      return undefined; // undefined, function, symbol
  }
}
