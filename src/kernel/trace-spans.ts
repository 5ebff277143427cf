/**
 * The spans of model and tool calls (tracing on: telemetry.otlp_endpoint), named and attributed after the
 * OpenTelemetry GenAI semantic conventions: `chat <model>` (gen_ai.request.model, gen_ai.usage.*,
 * gen_ai.response.finish_reasons) and `execute_tool <tool>` (gen_ai.tool.name, gen_ai.tool.call.id). A call
 * inside a step is a child of the step's span; one from outside a step (the API, a lesson at exit) is a
 * root span in the process's trace. The audit entry of the call names the span (`otel: {traceId, spanId}`).
 */
import type { LlmUsage } from '../llm/model.js';
import type { TraceSpan } from '../metrics/tracing.js';
import type { KernelCore } from './core.js';
import type { ProcControl } from './process-table.js';
import type { StepContext, SyscallName } from './syscalls.js';

/** The syscalls that get a span of their own (the step's span covers the others). */
export const TRACED: ReadonlySet<SyscallName> = new Set(['llm.chat', 'io.tool_call']);

export function startCallSpan(
  k: KernelCore,
  pc: ProcControl,
  step: StepContext,
  name: SyscallName,
  args: unknown,
  purpose: string | undefined,
): TraceSpan {
  const p = pc.pcb;
  const common = {
    'aos.pid': p.pid,
    'aos.step_no': step.stepNo,
    'aos.syscall': name,
    'aos.audit.stream': `proc:${p.pid}`,
    'gen_ai.conversation.id': String(p.pid),
    ...(purpose ? { 'aos.purpose': purpose } : {}),
  };
  let span: string;
  let attrs: Record<string, string | number | boolean>;
  if (name === 'llm.chat') {
    span = `chat ${p.model}`;
    attrs = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': p.model,
      'aos.request.messages': (args as { messages: unknown[] }).messages.length,
      ...common,
    };
  } else {
    const call = args as { id?: string; name: string };
    span = `execute_tool ${call.name}`;
    attrs = {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': call.name,
      ...(call.id ? { 'gen_ai.tool.call.id': call.id } : {}),
      ...common,
    };
  }
  return pc.stepSpan
    ? k.tracer.child(pc.stepSpan, span, attrs)
    : k.tracer.call({ pid: p.pid, createdAt: p.createdAt }, span, attrs);
}

export function endCallSpan(span: TraceSpan, name: SyscallName, result: unknown, error?: string): void {
  if (error === undefined && name === 'llm.chat') {
    const r = result as {
      model: string;
      provider: string;
      finishReason: string;
      usage: LlmUsage;
      costUsd: number;
      latencyMs: number;
    };
    span.set({
      'gen_ai.provider.name': r.provider,
      'gen_ai.system': r.provider,
      'gen_ai.response.model': r.model,
      'gen_ai.response.finish_reasons': [r.finishReason],
      'gen_ai.usage.input_tokens': r.usage.input,
      'gen_ai.usage.output_tokens': r.usage.output,
      'gen_ai.usage.cache_read.input_tokens': r.usage.cachedInput,
      'gen_ai.usage.cache_creation.input_tokens': r.usage.cacheWrite,
      'aos.usage.cost_usd': r.costUsd,
    });
  } else if (error === undefined && name === 'io.tool_call') {
    const r = result as { ok: boolean; durationMs: number; error?: { code: string; message: string } };
    span.set({ 'aos.tool.ok': r.ok, 'aos.tool.duration_ms': r.durationMs });
    if (!r.ok) {
      span.end(`${r.error?.code ?? 'ETOOL'}: ${r.error?.message ?? 'the tool call failed'}`);
      return;
    }
  }
  span.end(error);
}
