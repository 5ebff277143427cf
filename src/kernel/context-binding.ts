/**
 * Binds the context manager (src/context: pages, replacement, rendering) to processes. A program sees its
 * own context through `sys.context` — the process's address space — and keeps the exported page table in
 * its state, so a checkpoint carries its RAM and a restored process pages back in from storage.
 */
import { contextManagerFromConfig } from '../context/from-config.js';
import type { ContextManager } from '../context/manager.js';
import { SqlPageStore } from '../context/sql-page-store.js';
import { ExtractiveSummarizer, type SpanPage, type Summarizer } from '../context/summarizer.js';
import { KernelError } from '../errors.js';
import type { ChatMessage, LlmUsage, ToolCall, ToolSpec } from '../llm/model.js';
import { logger } from '../util/log.js';
import type { Kernel } from './kernel.js';
import type { Pcb } from './pcb.js';
import { KilledSignal } from './runner.js';
import { invoke } from './syscall-gate.js';

export interface ContextHandle {
  isOpen(): boolean;
  open(o: { system: string; tools: ToolSpec[]; task: string; pinned?: string[] }): void;
  import(state: unknown): void;
  export(): unknown;
  /** Evicts/compacts with hysteresis and prefetches before a render; `currentStep` drives similarity. */
  prepare(currentStep: string): Promise<void>;
  render(): { messages: ChatMessage[]; tools: ToolSpec[]; tokens: number };
  append(p: { kind: 'user' | 'assistant' | 'note'; content: string; toolCalls?: ToolCall[] }): void;
  appendToolResult(p: { toolCallId: string; name: string; output: string }): void;
  observeUsage(usage: LlmUsage, renderedTokens: number): void;
}

const log = logger('context');

export function createContextManager(k: Kernel): ContextManager {
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

  constructor(private readonly k: Kernel) {}

  async summarize(
    pages: readonly SpanPage[],
    opts: { maxTokens: number; pid: number | string },
  ): Promise<string> {
    const pc = this.k.control(Number(opts.pid));
    if (!pc || this.k.models.describe(pc.pcb.model).simulated) return this.fallback.summarize(pages, opts);
    const span = pages
      .map((p) => `[${p.kind}${p.name ? ` ${p.name}` : ''}] ${p.content}`)
      .join('\n\n')
      .slice(0, 48_000);
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
        : await this.k.syscall(pc.pcb.pid, 'llm.chat', req, caller);
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

export function contextHandle(k: Kernel, pcb: Pcb): ContextHandle {
  const cm = k.context;
  const pid = pcb.pid;
  return {
    isOpen: () => cm.has(pid),
    open(o) {
      const info = k.models.describe(pcb.model);
      cm.open(pid, {
        model: info.id,
        provider: info.provider,
        contextWindow: info.contextWindow,
        system: o.system,
        tools: o.tools,
        task: o.task,
        ...(o.pinned ? { pinned: o.pinned } : {}),
      });
    },
    import: (state) => cm.importState(pid, state),
    export: () => cm.exportState(pid),
    prepare: (currentStep) => cm.prepare(pid, { currentStep }),
    render() {
      const r = cm.render(pid);
      return { messages: r.messages, tools: r.tools, tokens: r.tokens };
    },
    append: (p) => void cm.append(pid, p),
    appendToolResult: (p) => void cm.appendToolResult(pid, p),
    observeUsage: (usage, renderedTokens) => cm.observeUsage(pid, usage, renderedTokens),
  };
}
