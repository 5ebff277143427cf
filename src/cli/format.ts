/** Terminal output helpers: ANSI styles (off when stdout is not a TTY or NO_COLOR is set) and tables. */
const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const wrap = (open: number, close: number) => (s: string) => (color ? `\x1b[${open}m${s}\x1b[${close}m` : s);

export const style = {
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  magenta: wrap(35, 39),
  cyan: wrap(36, 39),
};

// C0 controls but tab and newline, DEL, C1 controls, line/paragraph separators, bidi embeddings/overrides.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const hex = (c: string) => {
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
};

/**
 * Text that came from an agent or a tool, made safe for a terminal: every control character (escape
 * sequences that clear the screen, retitle the window, move the cursor; bidi overrides) is shown as its
 * `\xNN` escape instead of being interpreted. Tabs and newlines stay.
 */
export function termSafe(s: string): string {
  return s.replace(CONTROL, hex);
}

// Our own colour codes (style above): ESC [ digits ; … m, nothing else.
const OWN_SGR =
  /(\x1b\[[0-9;]*m)|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * The last line of defence at the writer: escapes every control character except the colour codes
 * `style` emits, so an agent's text that reached a print unescaped still cannot drive the terminal.
 */
export function termOut(s: string): string {
  return s.replace(OWN_SGR, (m, sgr?: string) => sgr ?? hex(m));
}

/** A stdout writer for human output (`termOut` applied). */
export const writeOut = (s: string): void => {
  process.stdout.write(termOut(s));
};

/** Renders rows as an aligned text table; `--json` callers print the rows themselves. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => termSafe(String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}
