/**
 * One error type for the whole kernel. Every failure a caller can see is a KernelError with a code
 * (errno-style) and a message that says what to do about it. Broken invariants use panic().
 */

export const ERROR_CODES = {
  EPERM: 'operation not permitted by policy',
  EDENIED: 'denied by a human approver or a hook',
  EQUOTA: 'budget or quota exhausted',
  ERATELIMIT: 'rate limit reached',
  ENOPROC: 'no such process',
  ENOTFOUND: 'no such object',
  EEXIST: 'already exists',
  ETIMEDOUT: 'timed out',
  EABORTED: 'aborted by the caller',
  EBACKEND: 'storage backend failure',
  EPROVIDER: 'model provider failure',
  ECIRCUIT: 'circuit breaker open',
  EINVAL: 'invalid argument',
  ECONFIG: 'invalid configuration',
  ELOCKED: 'resource locked by another holder',
  EFENCED: 'stale lease epoch (fenced off)',
  ECONFLICT: 'concurrent modification',
  EINTEGRITY: 'integrity check failed',
  EOVERFLOW: 'does not fit',
  ESANDBOX: 'sandbox failure',
  ETOOL: 'a tool failed while running',
  EINTERRUPTED: 'interrupted by a crash; outcome unknown',
  ESTATE: 'illegal state for this operation',
  EUNSUPPORTED: 'not supported by this backend',
} as const;

export type KernelErrorCode = keyof typeof ERROR_CODES;

export interface KernelErrorOptions {
  /** Structured facts a caller needs to act or resume (pid, key path, retry-after, …). */
  details?: Record<string, unknown>;
  /** True when retrying the same call later may succeed. */
  retryable?: boolean;
  cause?: unknown;
}

export class KernelError extends Error {
  override readonly name = 'KernelError';
  readonly code: KernelErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: KernelErrorCode, message: string, opts: KernelErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.details = opts.details ?? {};
    this.retryable = opts.retryable ?? false;
  }

  toJSON(): { code: KernelErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }

  static is(err: unknown, code?: KernelErrorCode): err is KernelError {
    return err instanceof KernelError && (code === undefined || err.code === code);
  }

  /** Wraps any thrown value; KernelErrors pass through unchanged. */
  static wrap(err: unknown, code: KernelErrorCode, context: string): KernelError {
    if (err instanceof KernelError) return err;
    const msg = err instanceof Error ? err.message : String(err);
    return new KernelError(code, `${context}: ${msg}`, { cause: err });
  }
}

/** Thrown when an invariant the kernel relies on is broken. Never caught to continue quietly. */
export class KernelPanic extends Error {
  override readonly name = 'KernelPanic';
}

export function panic(message: string): never {
  throw new KernelPanic(`panic: ${message}`);
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) panic(message);
}
