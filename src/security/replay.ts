/**
 * Replay of a process's actions from the audit log. `processTimeline()` reads the `proc:<pid>` stream in
 * order and returns what the process did (syscalls, tool calls with their policy decisions, approvals,
 * exit). `replayToolCalls()` re-runs the recorded tool calls through an executor — by default only tools
 * marked idempotent, so replay never repeats a side effect — and reports where today's outputs diverge.
 */
/**
 * What replay needs of a tool executor (src/io/executor.ts's ToolExecutor is one): resolve a tool to learn
 * whether it is idempotent, and run a call. Structural, so security does not depend on io.
 */
export interface ReplayExecutor<C extends { idempotencyKey: string }> {
  readonly registry: { resolve(name: string): { idempotent?: boolean | undefined } | undefined };
  execute(
    call: { id: string; name: string; arguments: string },
    ctx: C,
  ): Promise<{ ok: boolean; output: string }>;
}

export interface AuditReader {
  list(opts: { stream?: string; after?: number; limit?: number }): Promise<
    Array<{
      id: number;
      stream: string;
      seq: number;
      ts: Date;
      kind: string;
      actor: string;
      payload: unknown;
    }>
  >;
}

export interface TimelineEntry {
  seq: number;
  ts: string;
  kind: string;
  actor: string;
  summary: string;
  payload: unknown;
}

export async function processTimeline(audit: AuditReader, pid: number): Promise<TimelineEntry[]> {
  const out: TimelineEntry[] = [];
  let after = 0;
  for (;;) {
    const page = await audit.list({ stream: `proc:${pid}`, after, limit: 1000 });
    for (const e of page) {
      out.push({
        seq: e.seq,
        ts: e.ts.toISOString(),
        kind: e.kind,
        actor: e.actor,
        summary: summarise(e.kind, e.payload),
        payload: e.payload,
      });
    }
    if (page.length < 1000) break;
    after = (page[page.length - 1] as { id: number }).id;
  }
  return out;
}

function summarise(kind: string, payload: unknown): string {
  const p = (payload ?? {}) as Record<string, unknown>;
  if (kind === 'io.tool_call' || kind === 'io.tool_error') {
    const err = p.error as { code?: string } | null | undefined;
    return `${String(p.tool)}(${JSON.stringify(p.args ?? {}).slice(0, 120)}) → ${p.ok ? 'ok' : `error ${err?.code ?? ''}`} [${String(p.decision ?? '')}]`;
  }
  if (kind.startsWith('approval.'))
    return `${kind.slice(9)} ${String(p.tool ?? '')}${p.by ? ` by ${String(p.by)}` : ''}`;
  if (kind === 'proc.exit')
    return `exit ${String(p.outcome ?? '')}${p.reason ? `: ${String(p.reason)}` : ''}`;
  return JSON.stringify(payload).slice(0, 160);
}

export interface ReplayReport {
  replayed: number;
  skipped: number;
  matches: number;
  divergences: Array<{ seq: number; tool: string; recorded: string; now: string }>;
}

export async function replayToolCalls<C extends { idempotencyKey: string }>(
  audit: AuditReader,
  pid: number,
  executor: ReplayExecutor<C>,
  ctxFor: (entry: { stepNo: number; callIndex: number }) => C,
  opts: { includeSideEffects?: boolean } = {},
): Promise<ReplayReport> {
  const report: ReplayReport = { replayed: 0, skipped: 0, matches: 0, divergences: [] };
  for (const e of await processTimeline(audit, pid)) {
    if (e.kind !== 'io.tool_call' && e.kind !== 'io.tool_error') continue;
    const p = e.payload as {
      tool: string;
      args: unknown;
      ok: boolean;
      output: string;
      stepNo: number;
      callIndex: number;
    };
    const tool = executor.registry.resolve(p.tool);
    if (!tool || (!tool.idempotent && !opts.includeSideEffects) || p.args === null) {
      report.skipped++;
      continue;
    }
    const ctx = ctxFor({ stepNo: p.stepNo, callIndex: p.callIndex });
    const r = await executor.execute(
      { id: `replay-${e.seq}`, name: p.tool, arguments: JSON.stringify(p.args) },
      { ...ctx, idempotencyKey: `replay:${ctx.idempotencyKey}` },
    );
    report.replayed++;
    const now = r.output.slice(0, 4096);
    const recorded = String(p.output ?? '');
    if (r.ok === p.ok && (now === recorded || recorded.startsWith(now.slice(0, 3000)))) report.matches++;
    else
      report.divergences.push({
        seq: e.seq,
        tool: p.tool,
        recorded: recorded.slice(0, 200),
        now: now.slice(0, 200),
      });
  }
  return report;
}
