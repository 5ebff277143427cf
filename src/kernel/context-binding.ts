/**
 * Binds the context manager (src/context: pages, replacement, rendering) to processes. A program sees its
 * own context through `sys.context` — the process's address space — and keeps the exported page table in
 * its state, so a checkpoint carries its RAM and a restored process pages back in from storage.
 */
import { contextManagerFromConfig } from '../context/from-config.js';
import type { ContextManager } from '../context/manager.js';
import { SqlPageStore } from '../context/sql-page-store.js';
import { ExtractiveSummarizer, type SpanPage, type Summarizer } from '../context/summarizer.js';
import type { ChatMessage, LlmUsage, ToolCall, ToolSpec } from '../llm/model.js';
import { logger } from '../util/log.js';
import type { Kernel } from './kernel.js';
import type { Pcb } from './pcb.js';

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
 * Summarises an evicted span with the process's own model: the call waits for an LLM slot like any other
 * and is charged to the process's budget. The simulator, a failure or a dead process fall back to the
 * extractive summary (the window must never wait on a summary to stay within budget).
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
    const model = this.k.models.resolve(pc.pcb.model);
    const grant = await this.k.cpu.acquire(pc, req, pc.abort.signal);
    let usage = { input: 0, cachedInput: 0, cacheWrite: 0, output: 0, reasoning: 0 };
    const t0 = performance.now();
    try {
      const res = await model.chat({
        ...req,
        signal: pc.abort.signal,
        tags: { pid: pc.pcb.pid, purpose: 'summary' },
      });
      usage = res.usage;
      this.k.account(
        pc,
        {
          tokensIn: usage.input,
          tokensCached: usage.cachedInput,
          tokensOut: usage.output,
          apiCalls: 1,
          cost: res.costUsd,
          llmMs: performance.now() - t0,
        },
        pc.pcb.model,
      );
      return res.content.trim() || this.fallback.summarize(pages, opts);
    } catch (err) {
      log.warn(
        `pid ${pc.pcb.pid}: model summary failed, using the extractive one: ${(err as Error).message}`,
      );
      return this.fallback.summarize(pages, opts);
    } finally {
      this.k.cpu.release(grant, usage, pc.pcb);
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
