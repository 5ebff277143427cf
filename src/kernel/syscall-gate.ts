/**
 * The syscall gate: what a step function's `sys.call(name, args)` goes through. Validation (zod), the
 * before-hooks (veto or rewrite: `syscall.before`, then the one named after the syscall — ./syscall-hooks.ts
 * says which fire at their mechanism instead), the mechanism, accounting, the audit entry (buffered into the step's
 * commit) and the preemption points before and after. Mechanisms live in ./services.ts.
 */
import { addUsage, type ProcessUsage } from '../abi.js';
import { KernelError } from '../errors.js';
import { spanRef } from '../metrics/tracing.js';
import { PREVIEW_MAX_CHARS } from '../param.js';
import { commit } from './commit.js';
import { contextHandle } from './context-handle.js';
import type { KernelCore } from './core.js';
import { holdsCalls, writeHeld } from './held-calls.js';
import { preemptionPoint } from './lifecycle.js';
import type { Pcb } from './pcb.js';
import type { ProcControl } from './process-table.js';
import { MECHANISM_HOOKED } from './syscall-hooks.js';
import {
  BLOCKING,
  parseSyscallArgs,
  type StepContext,
  type Sys,
  type SyscallName,
  type SyscallResults,
} from './syscalls.js';
import { endCallSpan, startCallSpan, TRACED } from './trace-spans.js';

/**
 * Who is asking, when it is not the process's own program: an internal caller (the context summariser,
 * learning) names its purpose, and accounting, audit and hooks show it.
 */
export interface Caller {
  purpose?: string;
  /** Cancels this call only (Sys.call's opts.signal); the step's own signal still applies. */
  signal?: AbortSignal;
  /** Fields the mechanism's own audit entries carry (the call's span ids, tracing on). */
  auditTags?: Record<string, unknown>;
}

export function makeSys(k: KernelCore, pc: ProcControl, step: StepContext): Sys {
  return {
    pid: pc.pcb.pid,
    stepNo: step.stepNo,
    signal: step.signal,
    context: contextHandle(k.context, k.models, pc.pcb, () => k.tools.specsFor(pc.pcb)),
    get userMessages() {
      return pc.userMail;
    },
    call: (name, rawArgs, opts) =>
      invoke(k, pc, step, name, rawArgs, opts?.signal ? { signal: opts.signal } : {}),
  };
}

/** The one door: validate → before-hook → mechanism → account → audit (buffered into `step`'s commit). */
export async function invoke<K extends SyscallName>(
  k: KernelCore,
  pc: ProcControl,
  step: StepContext,
  name: K,
  rawArgs: unknown,
  caller: Caller = {},
): Promise<SyscallResults[K]> {
  await preemptionPoint(k, pc);
  const purpose = caller.purpose ? { purpose: caller.purpose } : {};
  let args = parseSyscallArgs(name, rawArgs);
  // A model answer's journal row the step holds is durable before anything else the step does could act
  // on it: only another model call or a pure tool's (no effect) may run before the step's commit writes it.
  if (holdsCalls(step) && !effectless(k, name, args)) await writeHeld(step);
  const gateHooked = !MECHANISM_HOOKED.has(name);
  const handler = k.services[name] as (p: Pcb, s: StepContext, a: unknown, c: Caller) => Promise<unknown>;
  let t0 = performance.now();
  // tracing on: the call's span, named in its audit entry (and in the executor's, for a tool call)
  const span =
    k.tracer.enabled && TRACED.has(name) ? startCallSpan(k, pc, step, name, rawArgs, caller.purpose) : null;
  const tags = span ? { otel: spanRef(span) } : null;
  if (tags) caller = { ...caller, auditTags: tags };
  try {
    // A veto is a refused syscall: audited and seen by the after-hooks like any other failure.
    if (k.hooks.has('syscall.before')) {
      const ev = await k.hooks.before('syscall.before', { pid: pc.pcb.pid, name, args, ...purpose });
      args = parseSyscallArgs(name, ev.args);
    }
    if (gateHooked && named(k).has(`${name}.before`)) {
      const ev = await named(k).before(`${name}.before`, { pid: pc.pcb.pid, name, args, ...purpose });
      args = parseSyscallArgs(name, ev.args);
    }
    t0 = performance.now();
    const result = await handler(pc.pcb, step, args, caller);
    const ms = performance.now() - t0;
    k.metrics.syscalls.inc({ name, outcome: 'ok' });
    k.metrics.syscallSeconds.observe({ name }, ms / 1000);
    // Tool calls are audited by the executor (policy decision, approval, output) when they happen.
    if (name !== 'io.tool_call') {
      step.auditEntries.push({
        kind: name,
        payload: {
          ...purpose,
          stepNo: step.stepNo,
          args: auditArgs(name, args),
          ok: true,
          ms: Math.round(ms * 100) / 100,
          result: auditResult(name, result),
          ...tags,
        },
      });
    }
    if (span) endCallSpan(span, name, result);
    k.hooks.emit('syscall.after', { pid: pc.pcb.pid, name, args, result, ms, ...purpose });
    if (gateHooked) named(k).emit(`${name}.after`, { pid: pc.pcb.pid, name, args, result, ms, ...purpose });
    if (!BLOCKING.has(name)) await preemptionPoint(k, pc);
    return result as SyscallResults[K];
  } catch (err) {
    const ms = performance.now() - t0;
    const kerr = KernelError.wrap(err, 'EINVAL', name);
    k.metrics.syscalls.inc({ name, outcome: kerr.code });
    step.auditEntries.push({
      kind: name,
      payload: {
        ...purpose,
        stepNo: step.stepNo,
        args: auditArgs(name, args),
        ok: false,
        ms: Math.round(ms * 100) / 100,
        error: kerr.toJSON(),
        ...tags,
      },
    });
    if (span) endCallSpan(span, name, undefined, `${kerr.code}: ${kerr.message}`);
    k.hooks.emit('syscall.after', { pid: pc.pcb.pid, name, args, error: kerr, ms, ...purpose });
    if (gateHooked)
      named(k).emit(`${name}.after`, { pid: pc.pcb.pid, name, args, error: kerr, ms, ...purpose });
    throw err;
  }
}

/** A model call, or a call of a tool that declares no effect (Tool.pure): nothing a held row must precede. */
function effectless(k: KernelCore, name: SyscallName, args: unknown): boolean {
  if (name === 'llm.chat') return true;
  if (name !== 'io.tool_call') return false;
  return k.tools.registry.resolve((args as { name: string }).name)?.pure === true;
}

/**
 * A syscall on behalf of a live process from outside its step (the API, an internal caller between
 * steps): the same gate, its effects committed at once in their own transaction (./commit.ts).
 */
export async function invokeOutside<K extends SyscallName>(
  k: KernelCore,
  pid: number,
  name: K,
  args: unknown,
  caller: Caller = {},
): Promise<SyscallResults[K]> {
  const pc = k.procs.live(pid);
  const step: StepContext = {
    stepNo: pc.pcb.stepNo,
    signal: pc.abort.signal,
    callIndex: 0,
    outbox: [],
    acks: [],
    auditEntries: [],
  };
  const res = await invoke(k, pc, step, name, args, caller);
  await commit(k, pc, { effects: step });
  return res;
}

/** The bus as the gate addresses a syscall's own hooks: by a name computed from the syscall's. */
function named(k: KernelCore): {
  has(name: string): boolean;
  before(name: string, ev: unknown): Promise<{ args: unknown }>;
  emit(name: string, ev: unknown): void;
} {
  return k.hooks as never;
}

/**
 * Accounts one call's usage to the process, the step being built, its time slice and the metrics. One
 * token vocabulary everywhere (CLI, API, dashboard, Prometheus): input is every prompt token, cached or
 * not; cached is the subset of input the provider served from its cache; output. `purpose` names an
 * internal caller (summary, lesson, …); a process's own calls are `agent`.
 */
export function account(
  k: Pick<KernelCore, 'metrics'>,
  pc: ProcControl,
  d: Partial<ProcessUsage>,
  model: string,
  purpose = 'agent',
): void {
  addUsage(pc.pcb.usage, d);
  addUsage(pc.stepUsage, d);
  pc.slice.tokens += (d.tokensIn ?? 0) + (d.tokensOut ?? 0);
  if (d.tokensIn !== undefined || d.tokensOut !== undefined) {
    k.metrics.tokens.inc({ kind: 'input', model, purpose }, d.tokensIn ?? 0);
    k.metrics.tokens.inc({ kind: 'cached', model, purpose }, d.tokensCached ?? 0);
    k.metrics.tokens.inc({ kind: 'output', model, purpose }, d.tokensOut ?? 0);
  }
  if (d.cost) k.metrics.costUsd.inc({ model }, d.cost);
}

/** Keeps audit entries small: message bodies and prompts are summarised, not copied whole. */
function auditArgs(name: SyscallName, args: unknown): unknown {
  if (name === 'llm.chat') {
    const a = args as { messages: unknown[]; tools?: unknown[] };
    return { messages: a.messages.length, tools: a.tools?.length ?? 0 };
  }
  if (name === 'llm.embed') {
    const a = args as { model: string; input: string[]; dimensions?: number };
    return { model: a.model, inputs: a.input.length, ...(a.dimensions ? { dimensions: a.dimensions } : {}) };
  }
  return truncateDeep(args);
}

export function auditResult(name: SyscallName, result: unknown): unknown {
  if (name === 'llm.chat') {
    const r = result as {
      content: string;
      toolCalls: unknown[];
      usage: unknown;
      model: string;
      finishReason: string;
      reasoning?: string;
    };
    return {
      model: r.model,
      finish: r.finishReason,
      content: truncateDeep(r.content),
      reasoning: truncateDeep(r.reasoning),
      toolCalls: truncateDeep(r.toolCalls),
      usage: r.usage,
    };
  }
  if (name === 'llm.embed') {
    // The vectors themselves are data, not a record of what happened: their count, size and usage are.
    const r = result as { model: string; vectors: number[][]; tokens: number; costUsd: number };
    return {
      model: r.model,
      vectors: r.vectors.length,
      dimensions: r.vectors[0]?.length ?? 0,
      tokens: r.tokens,
    };
  }
  return truncateDeep(result);
}

function truncateDeep(v: unknown, depth = 0): unknown {
  if (typeof v === 'string')
    return v.length > PREVIEW_MAX_CHARS
      ? `${v.slice(0, PREVIEW_MAX_CHARS)}… [${v.length - PREVIEW_MAX_CHARS} more chars]`
      : v;
  if (v === null || typeof v !== 'object' || depth > 6) return v;
  if (Array.isArray(v)) return v.slice(0, 50).map((x) => truncateDeep(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = truncateDeep(x, depth + 1);
  return out;
}
