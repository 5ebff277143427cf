/**
 * Turning a tool's return value into what the model reads: strings pass through, everything else becomes
 * JSON; anything longer than the cap keeps its head and tail (errors and summaries tend to be at the end)
 * with a marker saying how much was cut. Byte-based, never splitting a UTF-8 character.
 */

export function renderValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  try {
    return JSON.stringify(v, null, 2) ?? String(v);
  } catch {
    return String(v);
  }
}

export interface Capped {
  text: string;
  truncated: boolean;
  omittedBytes: number;
}

export function capText(text: string, maxBytes: number, note = ''): Capped {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, truncated: false, omittedBytes: 0 };
  const headBytes = Math.floor(maxBytes * 0.75);
  const tailBytes = maxBytes - headBytes;
  const head = safeSlice(buf, 0, headBytes);
  const tail = safeSlice(buf, buf.length - tailBytes, buf.length);
  const omitted = buf.length - Buffer.byteLength(head) - Buffer.byteLength(tail);
  return {
    text: `${head}\n[… truncated: ${omitted} bytes omitted${note ? `; ${note}` : ''} …]\n${tail}`,
    truncated: true,
    omittedBytes: omitted,
  };
}

/** Slices bytes and drops partial UTF-8 sequences at both edges. */
function safeSlice(buf: Buffer, start: number, end: number): string {
  let s = start;
  let e = end;
  while (s < e && ((buf[s] ?? 0) & 0xc0) === 0x80) s++;
  if (e < buf.length) while (e > s && ((buf[e] ?? 0) & 0xc0) === 0x80) e--;
  return buf.subarray(s, e).toString('utf8');
}
