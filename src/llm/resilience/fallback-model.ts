/**
 * A fallback chain (model A → B → …): the first model that answers wins. The next model is tried when the
 * current one is unavailable — circuit open, rate limited past its retries, provider errors, timeouts —
 * but not when the caller aborted or the request itself is invalid (every model would refuse it alike).
 * The response's `model`/`provider` tell which one served; the error of an exhausted chain lists them all.
 * A stream that already yielded moves on only when the request is `restartable` (after a `restart` event).
 */
import { KernelError, type KernelErrorCode } from '../../errors.js';
import type { ChatRequest, ChatResponse, Model, StreamEvent } from '../model.js';

const FALL_THROUGH: ReadonlySet<KernelErrorCode> = new Set([
  'ECIRCUIT',
  'ERATELIMIT',
  'EPROVIDER',
  'ETIMEDOUT',
]);

export class FallbackModel implements Model {
  readonly id: string;
  readonly provider: string;

  constructor(
    readonly chain: readonly Model[],
    private readonly onFallback?: (info: { from: Model; to: Model; error: KernelError }) => void,
  ) {
    if (chain.length === 0) throw new KernelError('EINVAL', 'a fallback chain needs at least one model');
    this.id = chain[0]!.id;
    this.provider = chain[0]!.provider;
  }

  /** The first model's check: a refusal (EUNSUPPORTED, EINVAL) does not fall through to the next. */
  validate(req: ChatRequest): void {
    this.chain[0]!.validate(req);
  }

  private next(i: number, e: unknown, errors: KernelError[]): KernelError | null {
    const err = KernelError.wrap(e, 'EPROVIDER', `${this.chain[i]!.provider}/${this.chain[i]!.id}`);
    errors.push(err);
    if (!FALL_THROUGH.has(err.code) || i === this.chain.length - 1) {
      if (errors.length > 1) {
        err.details.fallbackErrors = errors.map((x) => ({ code: x.code, message: x.message }));
      }
      return err;
    }
    this.onFallback?.({ from: this.chain[i]!, to: this.chain[i + 1]!, error: err });
    return null;
  }

  async chat(req: ChatRequest): Promise<ChatResponse> {
    const errors: KernelError[] = [];
    for (let i = 0; i < this.chain.length; i++) {
      try {
        return await this.chain[i]!.chat(req);
      } catch (e) {
        const fatal = this.next(i, e, errors);
        if (fatal) throw fatal;
      }
    }
    throw new KernelError('EPROVIDER', 'fallback chain exhausted');
  }

  async *stream(req: ChatRequest): AsyncGenerator<StreamEvent> {
    const errors: KernelError[] = [];
    for (let i = 0; i < this.chain.length; i++) {
      let yielded = false;
      try {
        for await (const ev of this.chain[i]!.stream(req)) {
          yielded = true;
          yield ev;
        }
        return;
      } catch (e) {
        if (yielded && !req.restartable) throw e;
        const fatal = this.next(i, e, errors);
        if (fatal) throw fatal;
        // The next model starts over: what this one streamed is void.
        if (yielded) {
          const err = errors[errors.length - 1]!;
          yield { type: 'restart', attempt: 1, error: { code: err.code, message: err.message } };
        }
      }
    }
  }
}
