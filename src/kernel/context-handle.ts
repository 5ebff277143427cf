/**
 * What a program sees of its own context through `sys.context` — the process's address space: pages,
 * rendering, paging. A thin handle over the context manager (src/context) bound to one pid.
 */
import type { ContextManager } from '../context/manager.js';
import { toolList } from '../context/tool-list.js';
import type { ChatMessage, LlmUsage, ReasoningBlock, ToolCall, ToolSpec } from '../llm/model.js';
import type { ModelResolver } from './model-resolver.js';
import type { Pcb } from './pcb.js';

export interface ContextHandle {
  isOpen(): boolean;
  open(o: { system: string; tools: ToolSpec[]; task: string; pinned?: string[] }): void;
  import(state: unknown): void;
  export(): unknown;
  /** Evicts/compacts with hysteresis and prefetches before a render; `currentStep` drives similarity. */
  prepare(currentStep: string): Promise<void>;
  render(): { messages: ChatMessage[]; tools: ToolSpec[]; tokens: number };
  append(p: {
    kind: 'user' | 'assistant' | 'note';
    content: string;
    toolCalls?: ToolCall[];
    /** The model's reasoning: kept on the page, checkpointed, sent back where the vendor requires it. */
    reasoning?: string;
    reasoningBlocks?: ReasoningBlock[];
  }): void;
  appendToolResult(p: { toolCallId: string; name: string; output: string; isError?: boolean }): void;
  observeUsage(usage: LlmUsage, renderedTokens: number): void;
}

/**
 * `derivedTools`: the process's tool list as `io.tools` gives it. A context opened with that list keeps only
 * its hash in checkpoints (the list was most of every step's state) and is given it again on import.
 */
export function contextHandle(
  cm: ContextManager,
  models: ModelResolver,
  pcb: Pcb,
  derivedTools: () => ToolSpec[],
): ContextHandle {
  const pid = pcb.pid;
  return {
    isOpen: () => cm.has(pid),
    open(o) {
      const info = models.describe(pcb.model);
      cm.open(pid, {
        model: info.id,
        provider: info.provider,
        contextWindow: info.contextWindow,
        system: o.system,
        tools: o.tools,
        toolsByRef: o.tools.length > 0 && sameTools(o.tools, derivedTools()),
        task: o.task,
        ...(o.pinned ? { pinned: o.pinned } : {}),
      });
    },
    import: (state) => cm.importState(pid, state, { tools: derivedTools() }),
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

function sameTools(a: readonly ToolSpec[], b: readonly ToolSpec[]): boolean {
  return toolList(a).json === toolList(b).json;
}
