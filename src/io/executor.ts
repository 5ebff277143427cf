/**
 * Tool execution (definitions are in ./tool.ts). One call goes: resolve → parse JSON → validate (zod) →
 * before-hook → policy → rate limit / circuit → approval (`ask`) → idempotency record → run with timeout →
 * validate output → cap / page the output → record → audit → after-hook. Every failure becomes a ToolResult
 * with ok:false and a message the model can act on; nothing a tool or a model does throws into the kernel —
 * except a failed audit write, which fails the call and its step (no effect without its audit entry).
 */
import type { z } from 'zod';
import { KernelError, type KernelErrorCode } from '../errors.js';
import * as P from '../param.js';
import type { ApprovalGate } from '../security/approvals.js';
import type { ToolLimiter } from '../security/limits.js';
import type { Sandbox } from '../security/sandbox.js';
import type { AuditSink } from '../storage/audit/audit-log.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import { storableString } from '../util/storable.js';
import type { IdempotencyStore } from './idempotency.js';
import { capText, renderValue } from './output.js';
import type { ToolRegistry } from './registry.js';
import { type AnyTool, fullToolName, type ToolContext, type ToolResult } from './tool.js';

export type { AuditSink } from '../storage/audit/audit-log.js';

export interface ToolHookEvent {
  pid: number;
  tool: string;
  args: unknown;
}

export interface ToolHooks {
  /** May veto (`{ veto: reason }` or throw) or replace the arguments (`{ args }`). */
  before?(ev: ToolHookEvent): unknown | Promise<unknown>;
  after?(
    ev: ToolHookEvent & { ok: boolean; output: string; ms: number; result: ToolResult },
  ): unknown | Promise<unknown>;
}

/** Stores an output too large for the context and returns a one-line pointer to it (a page id). */
export type OutputPager = (
  text: string,
  meta: { pid: number; tool: string; idempotencyKey: string },
) => Promise<string>;

export interface ToolExecutorOptions {
  registry: ToolRegistry;
  sandbox: Sandbox;
  audit?: AuditSink;
  approvals?: ApprovalGate;
  hooks?: ToolHooks;
  idempotency?: IdempotencyStore;
  limiter?: ToolLimiter;
  pager?: OutputPager;
  /** Bytes of output the model reads (default TOOL_MODEL_OUTPUT_MAX_BYTES). */
  maxOutputBytes?: number;
  /** Audit stream of a process (default `proc:<pid>`). */
  auditStream?: (pid: number) => string;
}

export interface ToolCallRequest {
  id: string;
  name: string;
  /** Raw JSON text from the model (may be malformed or empty). */
  arguments: string;
}

/**
 * A failure of the kernel's own bookkeeping around a call (its idempotency record, its audit entry), not of
 * the tool: it is never handed to the model as the call's outcome. It leaves `execute` as the storage error
 * it wraps, so the step that made the call does not commit (a storage outage parks the process and the
 * step is redone, replaying whatever the records say happened).
 */
class KernelFault extends Error {
  constructor(readonly fault: unknown) {
    super(fault instanceof Error ? fault.message : String(fault));
  }
}

const kernelSide = <T>(p: Promise<T>): Promise<T> =>
  p.catch((err: unknown) => {
    throw new KernelFault(err);
  });

class Refusal extends Error {
  constructor(
    readonly code: KernelErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/**
 * The way to get an executor outside src/io/: a kernel builds exactly one (src/kernel/device-binding.ts) and
 * every tool call of the kernel — a process's step, the API's `POST /tools/:name/call` — goes through it;
 * a harness or bench builds its own standalone one here. test/architecture.test.ts holds that line.
 */
export function createToolExecutor(opts: ToolExecutorOptions): ToolExecutor {
  return new ToolExecutor(opts);
}

export class ToolExecutor {
  readonly registry: ToolRegistry;
  readonly sandbox: Sandbox;
  private readonly o: ToolExecutorOptions;

  constructor(opts: ToolExecutorOptions) {
    this.o = opts;
    this.registry = opts.registry;
    this.sandbox = opts.sandbox;
  }

  async execute(call: ToolCallRequest, ctx: ToolContext): Promise<ToolResult> {
    const started = performance.now();
    const key = ctx.idempotencyKey;
    let decision = 'allow';
    let approval: unknown;
    let toolName = call.name;
    let args: unknown;
    let result: ToolResult;
    let tool: AnyTool | undefined;
    let ran = false;
    let rerun = 0;
    let planned = false;
    try {
      tool = this.registry.resolve(call.name);
      if (!tool) {
        throw new Refusal(
          'ENOTFOUND',
          `unknown tool "${call.name}". Available tools: ${this.registry.names().join(', ')}`,
        );
      }
      toolName = fullToolName(tool);
      args = parseArguments(call.arguments, tool);
      if (this.o.hooks?.before) {
        const r = await this.o.hooks.before({ pid: ctx.pid, tool: toolName, args });
        if (r && typeof r === 'object' && 'veto' in r)
          throw new Refusal('EDENIED', `vetoed by a hook: ${String((r as { veto: unknown }).veto)}`);
        if (r && typeof r === 'object' && 'args' in r) args = validate(tool, (r as { args: unknown }).args);
      }
      const verdict = ctx.policy.checkTool(toolName, tool.permissions);
      decision = verdict.decision;
      if (verdict.decision === 'deny') throw new Refusal('EPERM', verdict.reason, { rule: 'policy' });
      this.o.limiter?.acquire(ctx.pid, toolName);
      const argsHash = sha256Hex(canonicalJson({ tool: toolName, args }));
      // Kernel-effect tools are exactly-once at the syscall layer; every other call keeps a record.
      const records = tool.kernelEffects ? undefined : this.o.idempotency;
      const prev = records && !ctx.fresh ? await kernelSide(records.lookup(key)) : undefined;
      if (prev && (prev.tool !== toolName || prev.argsHash !== argsHash)) {
        throw new Refusal(
          'ECONFLICT',
          `idempotency key ${key} already ran ${prev.tool} with different arguments; the retried step diverged from the recorded one`,
          { previousTool: prev.tool },
        );
      }
      if (prev?.state === 'done') {
        result = { ...prev.result, replayed: true, durationMs: performance.now() - started };
        await kernelSide(this.finish(ctx, toolName, args, result, { decision, replayed: true }));
        return result;
      }
      if (prev?.state === 'intent' && !tool.idempotent) {
        // Started before a crash, never finished: it may or may not have had its effect. Never repeat it.
        result = interrupted(toolName, key, prev.attempts, started);
        await kernelSide(records!.put({ key, tool: toolName, argsHash, result }));
        await kernelSide(this.finish(ctx, toolName, args, result, { decision, interrupted: true }));
        return result;
      }
      if (verdict.decision === 'ask') {
        if (!this.o.approvals) {
          throw new Refusal('EDENIED', `${verdict.reason}, but no approver is configured, so it is denied`);
        }
        const d = await this.o.approvals.request(
          { pid: ctx.pid, tool: toolName, args, reason: verdict.reason, idempotencyKey: key },
          ctx.signal,
        );
        approval = d;
        if (d.decision !== 'approved') {
          decision = 'denied';
          throw new Refusal(
            'EDENIED',
            `a human denied ${toolName}${d.by ? ` (${d.by})` : ''}${d.reason ? `: ${d.reason}` : ''}`,
          );
        }
        decision = 'approved';
      }
      // The intent is durable before the effect starts; an idempotent tool records it only with a plan.
      const intent = {
        key,
        tool: toolName,
        argsHash,
        pid: ctx.pid,
        stepNo: ctx.stepNo,
        callIndex: ctx.callIndex,
      };
      // A call with an effect starts only while the caller may make it (a node: under its lease, with a
      // margin), checked before its intent is written and again after: the intent's answer may come late.
      const guard = tool.pure || tool.kernelEffects ? undefined : ctx.beforeEffect;
      if (guard) await kernelSide(guard());
      if (records && !tool.idempotent) await kernelSide(records.intend(intent));
      if (guard && records && !tool.idempotent) await kernelSide(guard());
      const runCtx: ToolContext = {
        ...this.withAudit(ctx, toolName),
        ...(records
          ? {
              recordPlan: async (plan: unknown) => {
                if (tool!.idempotent && !planned) await kernelSide(records.intend(intent));
                planned = true;
                await kernelSide(records.plan(key, plan));
                if (guard) await kernelSide(guard());
              },
            }
          : {}),
        ...(prev?.state === 'intent' ? { priorPlan: prev.plan } : {}),
      };
      if (prev?.state === 'intent') rerun = prev.attempts;
      ran = true;
      const data = await runWithTimeout(tool, args, runCtx);
      const out = tool.output ? checkOutput(tool, data) : data;
      result = await this.shape(ctx, toolName, out, started);
      if (records && (!tool.idempotent || planned))
        await kernelSide(records.put({ key, tool: toolName, argsHash, result }));
    } catch (err) {
      if (err instanceof KernelFault) throw err.fault;
      result = failure(err, key, started);
      if (
        ran &&
        tool &&
        this.o.idempotency &&
        !tool.kernelEffects &&
        (!tool.idempotent || planned) &&
        result.error?.code !== 'EABORTED'
      ) {
        // A definite failure (or a timeout the model is told about) is recorded too: the retried step sees
        // the same outcome. An abort (a kill) leaves the intent: the outcome is unknown.
        await this.o.idempotency
          .put({ key, tool: toolName, argsHash: sha256Hex(canonicalJson({ tool: toolName, args })), result })
          .catch(() => {});
      }
    }
    if (ran && this.o.limiter) this.o.limiter.record(toolName, result.ok);
    // A path or host the tool itself refused (EPERM) is a denial, whatever the tool-level verdict was.
    if (ran && result.error?.code === 'EPERM') decision = 'deny';
    await this.finish(
      ctx,
      toolName,
      args,
      result,
      {
        decision,
        ...(approval ? { approval } : {}),
        // a re-run after a crash is audited as such, never as a second original
        ...(rerun ? { rerun: true, attempt: rerun + 1 } : {}),
      },
      tool?.pure === true,
    );
    return result;
  }

  /** The context a tool runs with: `audit()` appends to the process's stream, naming the tool. */
  private withAudit(ctx: ToolContext, tool: string): ToolContext {
    const sink = this.o.audit;
    if (!sink) return ctx;
    const stream = this.o.auditStream?.(ctx.pid) ?? `proc:${ctx.pid}`;
    return {
      ...ctx,
      audit: async (kind, payload) => {
        await sink.append({
          stream,
          kind,
          actor: ctx.actor ?? `pid:${ctx.pid}`,
          payload: { tool, stepNo: ctx.stepNo, ...payload },
        });
      },
    };
  }

  private async shape(ctx: ToolContext, tool: string, data: unknown, started: number): Promise<ToolResult> {
    const max = this.o.maxOutputBytes ?? P.TOOL_MODEL_OUTPUT_MAX_BYTES;
    // NUL and lone surrogates (binary output) become escape text: the model, pages and the audit store it.
    const text = storableString(renderValue(data));
    let note = '';
    if (Buffer.byteLength(text) > max && this.o.pager) {
      note = await this.o.pager(text, { pid: ctx.pid, tool, idempotencyKey: ctx.idempotencyKey });
    }
    const capped = capText(text, max, note);
    const innerTruncated =
      typeof data === 'object' && data !== null && (data as { truncated?: unknown }).truncated === true;
    return {
      ok: true,
      output: capped.text,
      data,
      truncated: capped.truncated || innerTruncated,
      durationMs: performance.now() - started,
      idempotencyKey: ctx.idempotencyKey,
    };
  }

  private async finish(
    ctx: ToolContext,
    tool: string,
    args: unknown,
    result: ToolResult,
    extra: Record<string, unknown>,
    pure = false,
  ): Promise<void> {
    if (this.o.audit) {
      const stream = this.o.auditStream?.(ctx.pid) ?? `proc:${ctx.pid}`;
      const kind = result.ok ? 'io.tool_call' : 'io.tool_error';
      const payload = {
        tool,
        args: args ?? null,
        stepNo: ctx.stepNo,
        callIndex: ctx.callIndex,
        idempotencyKey: ctx.idempotencyKey,
        ok: result.ok,
        output: capText(result.output, 4096).text,
        truncated: result.truncated,
        error: result.error ?? null,
        durationMs: Math.round(result.durationMs * 1000) / 1000,
        sandbox: this.sandbox.name,
        ...extra,
        ...ctx.auditTags,
      };
      // A pure tool had no effect to audit before its step commits: the entry is committed with the step.
      if (pure && ctx.stepAudit && !ctx.actor) ctx.stepAudit({ kind, payload });
      else
        await this.o.audit
          .append({ stream, kind, actor: ctx.actor ?? `pid:${ctx.pid}`, payload })
          .catch((err: unknown) => {
            // No effect without its entry: when the entry cannot be written the call fails, and so does the
            // step that made it (it is not committed; a retry replays the recorded result and audits it).
            throw new KernelError(
              'EBACKEND',
              `the audit entry of ${tool} could not be written (${(err as Error).message}); the call is failed so it cannot pass unaudited`,
              { cause: err, details: { tool, rule: 'audit' } },
            );
          });
    }
    if (this.o.hooks?.after) {
      try {
        await this.o.hooks.after({
          pid: ctx.pid,
          tool,
          args,
          ok: result.ok,
          output: result.output,
          ms: result.durationMs,
          result,
        });
      } catch {
        // after-hooks observe; they cannot change a result that already happened
      }
    }
  }
}

function parseArguments(raw: string, tool: AnyTool): unknown {
  let parsed: unknown;
  const text = raw.trim() === '' ? '{}' : raw;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Refusal(
      'EINVAL',
      `arguments for ${fullToolName(tool)} are not valid JSON (${(err as Error).message}); send a JSON object matching the tool's parameters`,
    );
  }
  return validate(tool, parsed);
}

function validate(tool: AnyTool, value: unknown): unknown {
  const res = (tool.input as z.ZodType).safeParse(value);
  if (res.success) return res.data;
  const issues = res.error.issues.map((i) => ({
    field: i.path.length ? i.path.map(String).join('.') : '(arguments)',
    problem: i.message,
    ...('expected' in i && i.expected !== undefined ? { expected: String(i.expected) } : {}),
  }));
  const lines = issues.map(
    (i) => `- ${i.field}: ${i.problem}${i.expected ? ` (expected ${i.expected})` : ''}`,
  );
  throw new Refusal(
    'EINVAL',
    `invalid arguments for ${fullToolName(tool)}:\n${lines.join('\n')}\nFix these fields and call the tool again.`,
    {
      issues,
    },
  );
}

function checkOutput(tool: AnyTool, data: unknown): unknown {
  const res = (tool.output as z.ZodType).safeParse(data);
  if (res.success) return res.data;
  throw new KernelError(
    'ETOOL',
    `${fullToolName(tool)} returned output that does not match its schema: ${res.error.issues[0]?.message ?? ''}`,
  );
}

async function runWithTimeout(tool: AnyTool, args: unknown, ctx: ToolContext): Promise<unknown> {
  const timeoutMs = tool.timeoutMs ?? P.TOOL_TIMEOUT_MS;
  const ac = new AbortController();
  const onAbort = () => ac.abort(ctx.signal.reason);
  if (ctx.signal.aborted)
    throw new KernelError('EABORTED', `${fullToolName(tool)} was not started: the step was aborted`);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      tool.run(args, { ...ctx, signal: ac.signal }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          ac.abort(new KernelError('ETIMEDOUT', 'tool timeout'));
          reject(
            new KernelError(
              'ETIMEDOUT',
              `${fullToolName(tool)} did not finish within ${timeoutMs} ms and was stopped`,
              { retryable: true },
            ),
          );
        }, timeoutMs);
      }),
      new Promise<never>((_, reject) => {
        ac.signal.addEventListener('abort', () => {
          if (ctx.signal.aborted)
            reject(new KernelError('EABORTED', `${fullToolName(tool)} was aborted with its step`));
        });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

function interrupted(tool: string, key: string, attempts: number, started: number): ToolResult {
  const message =
    `${tool} was interrupted (the kernel stopped while it ran, ${attempts} attempt${attempts > 1 ? 's' : ''}); ` +
    'its outcome is unknown: it may or may not have taken effect. It was not run again because it is not ' +
    'idempotent. Check its effect before deciding whether to call it again.';
  return {
    ok: false,
    output: `error EINTERRUPTED: ${message}`,
    error: { code: 'EINTERRUPTED', message, details: { outcome: 'unknown', attempts } },
    truncated: false,
    durationMs: performance.now() - started,
    idempotencyKey: key,
  };
}

function failure(err: unknown, key: string, started: number): ToolResult {
  let code: KernelErrorCode;
  let message: string;
  let details: Record<string, unknown> | undefined;
  if (err instanceof Refusal) {
    code = err.code;
    message = err.message;
    details = err.details;
  } else if (err instanceof KernelError) {
    code = err.code;
    message = err.message;
    details = Object.keys(err.details).length ? err.details : undefined;
  } else {
    code = 'ETOOL';
    message = err instanceof Error ? err.message : String(err);
  }
  message = storableString(message);
  return {
    ok: false,
    output: `error ${code}: ${message}`,
    error: { code, message, ...(details ? { details } : {}) },
    truncated: false,
    durationMs: performance.now() - started,
    idempotencyKey: key,
  };
}
