/**
 * Turning provider failures into KernelErrors, and the per-call abort/timeout signal. Both SDKs (openai,
 * @anthropic-ai/sdk) throw errors of the same generated shape (`status`, `headers`, `error`), so one
 * structural mapper serves them; whether a failure was the caller's abort or our timeout is decided from
 * our own signals, never guessed from an error message.
 */
import { KernelError } from '../errors.js';
import { redactString } from '../util/redact.js';

export interface CallSignal {
  signal: AbortSignal;
  userAborted(): boolean;
  timedOut(): boolean;
  dispose(): void;
}

/** One signal that fires on the caller's abort or after `timeoutMs`; `dispose()` clears the timer. */
export function callSignal(user: AbortSignal | undefined, timeoutMs: number): CallSignal {
  const ctl = new AbortController();
  let timedOut = false;
  const onAbort = () => ctl.abort(user?.reason);
  if (user?.aborted) ctl.abort(user.reason);
  else user?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort(new Error(`timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  timer.unref?.();
  return {
    signal: ctl.signal,
    userAborted: () => user?.aborted === true,
    timedOut: () => timedOut && user?.aborted !== true,
    dispose: () => {
      clearTimeout(timer);
      user?.removeEventListener('abort', onAbort);
    },
  };
}

interface HeaderBag {
  get(name: string): string | null;
}

/** Milliseconds from `retry-after-ms` (OpenAI) or `retry-after` (seconds or an HTTP date). */
export function parseRetryAfter(headers: HeaderBag | undefined | null, now = Date.now()): number | undefined {
  if (!headers || typeof headers.get !== 'function') return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (ra === null || ra === '') return undefined;
  if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

export interface ErrorContext {
  provider: string;
  model: string;
  call: CallSignal;
  timeoutMs: number;
  /** Named in the message on 401/403 so the user knows which variable to fix. */
  envKey?: string;
  /** The endpoint, named in errors a user must fix (4xx). */
  baseUrl?: string;
}

function providerMessage(err: Record<string, unknown>): string {
  const body = err.error as Record<string, unknown> | undefined;
  const inner =
    body && typeof body === 'object' ? (body.error as Record<string, unknown> | undefined) : undefined;
  const m = inner?.message ?? body?.message ?? err.message;
  // Vendors echo the key they refused ("Incorrect API key provided: sk-…"): the message travels to logs,
  // the audit log and API callers, so it never carries a secret the kernel knows or one that looks like a key.
  return typeof m === 'string' ? redactString(m) : 'no message';
}

/** Any failure of one provider call → KernelError (EABORTED, ETIMEDOUT, ERATELIMIT, EPROVIDER). */
export function toKernelError(err: unknown, ctx: ErrorContext): KernelError {
  const where = `${ctx.provider}/${ctx.model}`;
  if (ctx.call.userAborted()) {
    return new KernelError('EABORTED', `${where}: request aborted by the caller`, {
      cause: err,
      details: { provider: ctx.provider, model: ctx.model },
    });
  }
  if (ctx.call.timedOut()) {
    return new KernelError(
      'ETIMEDOUT',
      `${where}: no complete answer within ${ctx.timeoutMs} ms; raise timeoutMs or check the endpoint`,
      {
        cause: err,
        retryable: true,
        details: { provider: ctx.provider, model: ctx.model, timeoutMs: ctx.timeoutMs },
      },
    );
  }
  if (err instanceof KernelError) return err;
  const e = (err ?? {}) as Record<string, unknown>;
  const status = typeof e.status === 'number' ? e.status : undefined;
  const msg = providerMessage(e);
  const details: Record<string, unknown> = {
    provider: ctx.provider,
    model: ctx.model,
    status,
    providerMessage: msg,
  };
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(e.headers as HeaderBag | undefined);
    return new KernelError(
      'ERATELIMIT',
      `${where}: rate limited (429)${retryAfterMs !== undefined ? `, retry after ${retryAfterMs} ms` : ''}: ${msg}`,
      {
        cause: err,
        retryable: true,
        details: { ...details, retryAfterMs },
      },
    );
  }
  if (status === undefined) {
    return new KernelError('EPROVIDER', `${where}: connection failed: ${msg}`, {
      cause: err,
      retryable: true,
      details,
    });
  }
  const retryable = status === 408 || status === 409 || status >= 500;
  let hint = '';
  const at = ctx.baseUrl ? ` at ${ctx.baseUrl}` : '';
  if (status === 401 || status === 403)
    hint = ctx.envKey
      ? ` (check the API key: set ${ctx.envKey} or api_keys.${ctx.provider} in config.yaml)`
      : ' (check the API key)';
  else if (status === 404)
    hint = ` (check the model id "${ctx.model}" under llms.models[].name and llms.models[].base_url)`;
  else if (!retryable && status === 400) hint = ' (the provider refused the request as sent)';
  return new KernelError('EPROVIDER', `${where}: HTTP ${status}${retryable ? '' : at}${hint}: ${msg}`, {
    cause: err,
    retryable,
    details,
  });
}
