/**
 * Streamed model calls of process steps (the `llm.chat` syscall's streaming half, ./services.ts).
 */
import { KernelError } from '../errors.js';
import type { ChatRequest, ChatResponse, Model } from '../llm/model.js';
import { logger } from '../util/log.js';
import type { KernelCore } from './core.js';

const log = logger('kernel');

/**
 * A streamed call: every delta goes out on the hook bus (`llm.delta`) as it arrives, time to first token
 * is measured, and the assembled response is the result — the step commits only what a finished stream
 * said. A cut stream that is retried as a whole (ResilientModel, `restartable`) is announced with
 * `llm.restart` so watchers drop what they showed; one whose error goes up (the step is then parked or
 * failed, never committed) is announced the same way, with `final: true`.
 */
export async function streamedCall(
  k: Pick<KernelCore, 'hooks' | 'metrics'>,
  model: Model,
  req: ChatRequest,
  at: { pid: number; stepNo: number; model: string; t0: number },
): Promise<ChatResponse> {
  const { pid, stepNo, model: modelName, t0 } = at;
  let first = true;
  let attempt = 1;
  let shown = false;
  try {
    for await (const ev of model.stream(req)) {
      if (ev.type === 'done') return ev.response;
      if (ev.type === 'restart') {
        attempt = ev.attempt + 1;
        shown = false;
        k.metrics.streamRestarts.inc({ model: modelName });
        log.warn(`pid ${pid} step ${stepNo}: stream cut, making the call again (${ev.error.message})`);
        k.hooks.emit('llm.restart', { pid, stepNo, attempt, reason: ev.error.message, final: false });
        continue;
      }
      if (first) {
        first = false;
        k.metrics.ttft.observe({ model: modelName }, (performance.now() - t0) / 1000);
      }
      shown = true;
      if (k.hooks.has('llm.delta')) k.hooks.emit('llm.delta', { pid, stepNo, attempt, delta: ev });
    }
  } catch (err) {
    if (shown) {
      const reason = err instanceof Error ? err.message : String(err);
      k.hooks.emit('llm.restart', { pid, stepNo, attempt, reason, final: true });
    }
    throw err;
  }
  throw new KernelError('EPROVIDER', `model ${model.id}: the stream ended without a final response`);
}
