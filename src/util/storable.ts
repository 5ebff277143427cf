/**
 * Text that PostgreSQL can store. `text` and `jsonb` refuse U+0000, and `jsonb` refuses a lone UTF-16
 * surrogate (what invalid input becomes in a JS string), so one such character in a tool's arguments or
 * output used to fail the whole insert (an audit entry lost, a step not committed). Here they are written
 * as the visible six-character escape `\u0000` / `\udXXX` instead: nothing is dropped, the row is stored.
 * (Invalid UTF-8 bytes never reach a JS string: decoding already made them U+FFFD.)
 */

// U+0000, or a surrogate half that is not part of a pair.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `s` with every unstorable code unit written as its `\uXXXX` escape text. */
export function storableString(s: string): string {
  UNSTORABLE.lastIndex = 0;
  if (!UNSTORABLE.test(s)) return s;
  return s.replace(UNSTORABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// In JSON text: a \u0000 or lone-surrogate escape that is a real escape (odd run of backslashes before u).
const UNSTORABLE_ESCAPE = /(\\+)u(0000|d[89a-f][0-9a-f]{2})/gi;

/** JSON text for a `jsonb` parameter: JSON.stringify, with unstorable characters kept as escape text. */
export function jsonbText(value: unknown): string {
  const text = JSON.stringify(value ?? null) ?? 'null';
  if (!text.includes('\\u')) return text;
  return text.replace(UNSTORABLE_ESCAPE, (m, bs: string, hex: string) =>
    bs.length % 2 === 1 ? `${bs}\\u${hex}` : m,
  );
}
