/**
 * Secret redaction applied before anything is logged or written to the audit log.
 * Keys that look like credentials are masked whole; values that look like API keys or bearer tokens
 * are masked wherever they appear in strings.
 */

// Keys naming a credential. `token` only as the end of a key (api_token, authToken): token *counts*
// (tokens, tokensIn, maxTokens) are metrics, not secrets.
const SECRET_KEY =
  /(api[_-]?key|secret|password|passwd|token$|authorization|cookie|credential|private[_-]?key)/i;
const SECRET_VALUE = [
  /\bsk-[A-Za-z0-9_-]{16,}/g, // OpenAI, DeepSeek, Moonshot style
  /\bsk-ant-[A-Za-z0-9_-]{16,}/g, // Anthropic
  /\bBearer\s+[A-Za-z0-9._~+/=-]{12,}/gi,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key id
  /\baos_[A-Za-z0-9_-]{40,}/g, // our own API tokens (aos_ + 43 chars base64url)
  /(postgres(?:ql)?:\/\/[^:\s/]+:)[^@\s]+(@)/g, // password in a connection URL
];

export const REDACTED = '[REDACTED]';

export function redactString(s: string): string {
  let out = s;
  for (const re of SECRET_VALUE) {
    out = out.replace(re, (_m, a?: string, b?: string) =>
      typeof a === 'string' && typeof b === 'string' ? `${a}${REDACTED}${b}` : REDACTED,
    );
  }
  return out;
}

export function redact<T>(value: T, depth = 0): T {
  if (depth > 32) return REDACTED as unknown as T;
  if (typeof value === 'string') return redactString(value) as unknown as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as unknown as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] =
      SECRET_KEY.test(k) && v !== null && v !== undefined && v !== '' ? REDACTED : redact(v, depth + 1);
  }
  return out as T;
}
