/**
 * Secret redaction applied before anything is logged or written to the audit log. Every mask says what it
 * removed — `[redacted:openai-key]`, `[redacted:field password, 12 chars]` — so redaction can never hide
 * data silently (a reader sees that something was there and what kind). Values that look like API keys or
 * bearer tokens are masked wherever they appear in strings; values under credential-looking keys are
 * masked whole; secrets the kernel knows (provider keys, its admin token: addKnownSecret) are masked as
 * written and in base64 (at any alignment), base64url and hex.
 */

// Keys naming a credential. `token` only as the end of a key (api_token, authToken): token *counts*
// (tokens, tokensIn, maxTokens) are metrics, not secrets.
const SECRET_KEY =
  /(api[_-]?key|secret|password|passwd|token$|authorization|cookie|credential|private[_-]?key)/i;
const SECRET_VALUE: Array<[RegExp, string]> = [
  [/\bsk-ant-[A-Za-z0-9_-]{16,}/g, 'anthropic-key'],
  [/\bsk-[A-Za-z0-9_-]{16,}/g, 'openai-key'], // OpenAI, DeepSeek, Moonshot style
  [/\bBearer\s+[A-Za-z0-9._~+/=-]{12,}/gi, 'bearer-token'],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, 'github-token'],
  [/\bAKIA[0-9A-Z]{16}\b/g, 'aws-access-key'],
  [/\baos_[A-Za-z0-9_-]{40,}/g, 'aos-token'], // our own API tokens (aos_ + 43 chars base64url)
  [/(postgres(?:ql)?:\/\/[^:\s/]+:)[^@\s]+(@)/g, 'postgres-password'], // password in a connection URL
];

/** The mask of one kind of secret. */
export function redactionMark(kind: string): string {
  return `[redacted:${kind}]`;
}

/** Kept for callers that mask a whole configured value (config views). */
export const REDACTED = '[REDACTED]';

/** Known secret values: each written form (plain, base64 at every alignment, base64url, hex) → label. */
const known: Array<{ text: string; label: string }> = [];
const knownSeen = new Set<string>();

function base64Forms(buf: Buffer): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    // The secret at offset k (mod 3) of a longer stream: the characters that depend on it alone.
    const b64 = Buffer.concat([Buffer.alloc(k), buf, Buffer.alloc(3)]).toString('base64');
    const start = Math.ceil((k * 4) / 3);
    const end = Math.floor(((k + buf.length) * 4) / 3);
    const core = b64.slice(start, end);
    if (core.length >= 12) out.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

/** Registers a secret value (≥ 8 characters) so it is masked wherever it appears, in any common encoding. */
export function addKnownSecret(value: string, label: string): void {
  const v = value.trim();
  if (v.length < 8 || knownSeen.has(v)) return;
  knownSeen.add(v);
  const buf = Buffer.from(v, 'utf8');
  const forms = new Set([v, ...base64Forms(buf), buf.toString('hex'), buf.toString('hex').toUpperCase()]);
  for (const text of forms) known.push({ text, label });
  known.sort((a, b) => b.text.length - a.text.length);
}

export function redactString(s: string): string {
  let out = s;
  for (const k of known) if (out.includes(k.text)) out = out.split(k.text).join(redactionMark(k.label));
  for (const [re, kind] of SECRET_VALUE) {
    out = out.replace(re, (_m, a?: string, b?: string) =>
      typeof a === 'string' && typeof b === 'string' ? `${a}${redactionMark(kind)}${b}` : redactionMark(kind),
    );
  }
  return out;
}

/** The mark a secret-named field's value is replaced with. */
export function fieldMark(key: string, v: unknown): string {
  const size = typeof v === 'string' ? `${v.length} chars` : Array.isArray(v) ? 'array' : typeof v;
  return redactionMark(`field ${key}, ${size}`);
}

/** Whether a member named `key` holding `v` is a secret field (masked whole): a secret name, a value set. */
export function secretField(key: string, v: unknown): boolean {
  return SECRET_KEY.test(key) && v !== null && v !== undefined && v !== '';
}

export function redact<T>(value: T, depth = 0): T {
  if (depth > 32) return redactionMark('nested deeper than 32 levels') as unknown as T;
  if (typeof value === 'string') return redactString(value) as unknown as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as unknown as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = secretField(k, v) ? fieldMark(k, v) : redact(v, depth + 1);
  }
  return out as T;
}
