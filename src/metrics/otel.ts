/**
 * OpenTelemetry behind the tracing seam (./tracing.ts), exported over OTLP/HTTP (JSON) by a batch
 * processor. Loaded only when `telemetry.otlp_endpoint` is configured (boot.ts), and it loads the SDK
 * itself by dynamic import: with tracing off no OpenTelemetry module is ever read. The SDK's types are
 * small structural interfaces here (as Kysely does with its clients), so the kernel does not depend on the
 * packages' declarations.
 *
 * A process's spans share one trace id, derived from the process (pid and creation time), so its steps —
 * each a root span — line up in one trace even across kernel restarts and nodes; model and tool calls are
 * children of their step. Attribute names follow the GenAI semantic conventions where they exist
 * (gen_ai.operation.name, gen_ai.request.model, gen_ai.usage.input_tokens, …); the rest are `aos.*`.
 */
import { createHash } from 'node:crypto';
import { OTEL_EXPORT_DELAY_MS } from '../param.js';
import type { KernelTracer, SpanAttributes, TraceSpan } from './tracing.js';

export interface OtelOptions {
  endpoint: string;
  headers: Record<string, string>;
  serviceName: string;
  serviceVersion: string;
  nodeId: string;
}

// ── the parts of the SDK used here ──
type Ctx = unknown;
interface OSpan {
  spanContext(): { traceId: string; spanId: string };
  setAttributes(a: SpanAttributes): unknown;
  setAttribute(k: string, v: string): unknown;
  setStatus(s: { code: number; message?: string }): unknown;
  end(): void;
}
interface OTracer {
  startSpan(name: string, o: { root?: boolean; kind: number; attributes: SpanAttributes }, ctx?: Ctx): OSpan;
}
interface Api {
  context: { active(): Ctx };
  trace: { setSpanContext(ctx: Ctx, sc: { traceId: string; spanId: string; traceFlags: number }): Ctx };
}
interface IdGen {
  generateTraceId(): string;
  generateSpanId(): string;
}
interface SdkTraceBase {
  BasicTracerProvider: new (c: {
    idGenerator: IdGen;
    resource: unknown;
    spanProcessors: unknown[];
  }) => { getTracer(n: string, v: string): OTracer; forceFlush(): Promise<void>; shutdown(): Promise<void> };
  BatchSpanProcessor: new (exporter: unknown, c: { scheduledDelayMillis: number }) => unknown;
  RandomIdGenerator: new () => IdGen;
}
interface Resources {
  resourceFromAttributes(a: Record<string, string>): unknown;
}
interface Exporter {
  OTLPTraceExporter: new (c: { url: string; headers: Record<string, string> }) => unknown;
}

/** OTLP enum values (stable in the API and the wire format), not limits. */
const OTLP = { kindInternal: 0, kindClient: 2, statusError: 2, sampled: 1 } as const;

/** Specifiers in variables: the type checker does not resolve them, node does at run time. */
const PKG = {
  api: '@opentelemetry/api',
  sdk: '@opentelemetry/sdk-trace-base',
  resources: '@opentelemetry/resources',
  exporter: '@opentelemetry/exporter-trace-otlp-http',
};

/** The trace id of a process: stable for its life, distinct between processes (and databases, by time). */
export function processTraceId(pid: number, createdAt: number): string {
  return createHash('sha256').update(`aos:process:${pid}:${createdAt}`).digest('hex').slice(0, 32);
}

function wrap(span: OSpan): TraceSpan {
  const sc = span.spanContext();
  return {
    traceId: sc.traceId,
    spanId: sc.spanId,
    set: (attrs: SpanAttributes) => void span.setAttributes(attrs),
    end(error?: string) {
      if (error !== undefined) {
        span.setStatus({ code: OTLP.statusError, message: error });
        span.setAttribute('error.type', /^E[A-Z]+/.exec(error)?.[0] ?? 'error');
      }
      span.end();
    },
  };
}

export async function createOtelTracer(o: OtelOptions): Promise<KernelTracer> {
  const [api, sdk, res, exp] = (await Promise.all([
    import(PKG.api),
    import(PKG.sdk),
    import(PKG.resources),
    import(PKG.exporter),
  ])) as [Api, SdkTraceBase, Resources, Exporter];
  // Random ids, except that the next root span is given its trace id (the process's).
  const random = new sdk.RandomIdGenerator();
  let nextTraceId: string | null = null;
  const ids: IdGen = {
    generateTraceId() {
      const id = nextTraceId;
      nextTraceId = null;
      return id ?? random.generateTraceId();
    },
    generateSpanId: () => random.generateSpanId(),
  };
  const provider = new sdk.BasicTracerProvider({
    idGenerator: ids,
    resource: res.resourceFromAttributes({
      'service.name': o.serviceName,
      'service.version': o.serviceVersion,
      'service.instance.id': o.nodeId,
    }),
    spanProcessors: [
      new sdk.BatchSpanProcessor(new exp.OTLPTraceExporter({ url: o.endpoint, headers: o.headers }), {
        scheduledDelayMillis: OTEL_EXPORT_DELAY_MS,
      }),
    ],
  });
  const tracer = provider.getTracer('agent-os-kernel', o.serviceVersion);
  const kindOf = (name: string) => (name.startsWith('chat ') ? OTLP.kindClient : OTLP.kindInternal);
  const root = (p: { pid: number; createdAt: number }, name: string, attrs: SpanAttributes) => {
    nextTraceId = processTraceId(p.pid, p.createdAt);
    return wrap(tracer.startSpan(name, { root: true, kind: kindOf(name), attributes: attrs }));
  };
  return {
    enabled: true,
    step: (p, attrs) => root(p, `invoke_agent ${p.name}`, attrs),
    child(parent, name, attrs) {
      // the parent is known by its ids; a span context is all a child needs
      const ctx = api.trace.setSpanContext(api.context.active(), {
        traceId: parent.traceId,
        spanId: parent.spanId,
        traceFlags: OTLP.sampled,
      });
      return wrap(tracer.startSpan(name, { kind: kindOf(name), attributes: attrs }, ctx));
    },
    call: (p, name, attrs) => root(p, name, attrs),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
