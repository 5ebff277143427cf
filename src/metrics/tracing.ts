/**
 * The tracing seam: what the kernel needs of a tracer, and the tracer it has when none is configured.
 * Spans are per step (`aos.step`), per model call (`chat <model>`) and per tool call
 * (`execute_tool <tool>`); every span of a process is in one trace whose id derives from the process, so
 * a process's steps line up in a trace viewer across restarts and nodes. The OpenTelemetry implementation
 * (./otel.ts) is imported only when `telemetry.otlp_endpoint` is set: with tracing off the kernel loads no
 * OpenTelemetry module and the hot path pays one boolean test per step and per call.
 */

export type SpanAttributes = Record<string, string | number | boolean | string[]>;

export interface TraceSpan {
  /** 32 hex digits; the process's trace. */
  readonly traceId: string;
  /** 16 hex digits. */
  readonly spanId: string;
  set(attrs: SpanAttributes): void;
  /** Ends the span; an error marks its status ERROR with the message. */
  end(error?: string): void;
}

export interface KernelTracer {
  readonly enabled: boolean;
  /** A step of process `pid` (created at `createdAt`, ms): a span in the process's trace. */
  step(p: { pid: number; createdAt: number; name: string }, attrs: SpanAttributes): TraceSpan;
  /** A span inside `parent` (a model or tool call inside its step). */
  child(parent: TraceSpan, name: string, attrs: SpanAttributes): TraceSpan;
  /** A span of a call made outside any step (an API tool call, a lesson at exit), in the process's trace. */
  call(p: { pid: number; createdAt: number }, name: string, attrs: SpanAttributes): TraceSpan;
  /** Sends what is buffered. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

const NO_SPAN: TraceSpan = { traceId: '', spanId: '', set() {}, end() {} };

export const noTracer: KernelTracer = {
  enabled: false,
  step: () => NO_SPAN,
  child: () => NO_SPAN,
  call: () => NO_SPAN,
  flush: async () => undefined,
  shutdown: async () => undefined,
};

/** What an audit entry carries to name its span (correlation: audit entry → span). */
export function spanRef(s: TraceSpan): { traceId: string; spanId: string } {
  return { traceId: s.traceId, spanId: s.spanId };
}
