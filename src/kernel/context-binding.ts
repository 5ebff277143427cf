/**
 * Binds the context manager (src/context: pages, replacement, rendering) to the kernel: pages swap to
 * SQL, and evicted spans are summarised by the process's own model through the syscall gate. A program
 * sees its context through `sys.context` (./context-handle.ts) and keeps the exported page table in its
 * state, so a checkpoint carries its RAM and a restored process pages back in from storage.
 */
import { contextManagerFromConfig } from '../context/from-config.js';
import type { ContextManager } from '../context/manager.js';
import { SqlPageStore } from '../context/sql-page-store.js';
import { ExtractiveSummarizer, type SpanPage, type Summarizer, spanLine } from '../context/summarizer.js';
import { KernelError } from '../errors.js';
import { CTX_SUMMARY_SPAN_MAX_CHARS } from '../param.js';
import { logger } from '../util/log.js';
import type { KernelCore } from './core.js';
import { KilledSignal } from './lifecycle.js';
import { invoke, invokeOutside } from './syscall-gate.js';

const log = logger('context');

export function createContextManager(k: KernelCore): ContextManager {
  const summarizer =
    k.config.context.summarizer === 'model' ? new ModelSummarizer(k) : new ExtractiveSummarizer();
  return contextManagerFromConfig(k.config.context, {
    store: new SqlPageStore(k.storage.driver),
    summarizer,
  });
}

/**
 * Summarises an evicted span with the process's own model, through the syscall gate as `llm.chat` with
 * `purpose: 'summary'`: it waits for an LLM slot like any other call, is charged to the process, fires the
 * hooks and leaves an audit entry (in the current step's commit, or its own when no step runs). The
 * simulator, a failure or a dead process fall back to the extractive summary (the window must never wait on
 * a summary to stay within budget); a kill unwinds the step as usual.
 */
export class ModelSummarizer implements Summarizer {
  readonly name = 'model';
  private readonly fallback = new ExtractiveSummarizer();

  constructor(private readonly k: KernelCore) {}

  async summarize(
    pages: readonly SpanPage[],
    opts: { maxTokens: number; pid: number | string },
  ): Promise<string> {
    const pc = this.k.procs.get(Number(opts.pid));
    if (!pc || this.k.models.describe(pc.pcb.model).simulated) return this.fallback.summarize(pages, opts);
    const span = pages.map(spanLine).join('\n\n').slice(0, CTX_SUMMARY_SPAN_MAX_CHARS);
    const req = {
      messages: [
        {
          role: 'system' as const,
          content: `Summarise this part of an agent's working memory in at most ${opts.maxTokens} tokens. Keep facts, numbers, file paths, decisions and open questions; drop pleasantries.`,
        },
        { role: 'user' as const, content: span },
      ],
      maxOutputTokens: opts.maxTokens,
    };
    const caller = { purpose: 'summary' };
    try {
      const res = pc.step
        ? await invoke(this.k, pc, pc.step, 'llm.chat', req, caller)
        : await invokeOutside(this.k, pc.pcb.pid, 'llm.chat', req, caller);
      return res.content.trim() || this.fallback.summarize(pages, opts);
    } catch (err) {
      if (err instanceof KilledSignal || KernelError.is(err, 'EABORTED')) throw err;
      log.warn(
        `pid ${pc.pcb.pid}: model summary failed, using the extractive one: ${(err as Error).message}`,
      );
      return this.fallback.summarize(pages, opts);
    }
  }
}
