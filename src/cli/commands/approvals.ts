/**
 * `aos approvals`, `aos approve <id>`, `aos deny <id>`: the approvals inbox from the command line. Pending
 * approvals live in the running kernel (a tool call is blocked on each), so these go through the server.
 * An id may be abbreviated to any unique prefix — the 8 characters `aos ps` and `aos approvals` show.
 */
import type { Command } from 'commander';
import { type Decision, type KernelClient, matchApproval, type PendingApprovalView } from '../client.js';
import { style, table, termSafe } from '../format.js';
import { printAnswer, URL_OPTION, withServer } from './server-options.js';

/** How many characters of an approval id the CLI shows; any unique prefix is accepted back. */
export const SHORT_ID = 8;

export function register(program: Command): void {
  program
    .command('approvals')
    .description('tool calls waiting for a human decision (approve with `aos approve <id>`)')
    .option(...URL_OPTION)
    .option('--json', 'print the pending approvals as JSON')
    .action(async (opts: { url?: string; json?: boolean }) => {
      await withServer(program, opts, async (c) => {
        const items = await c.approvals();
        if (opts.json) process.stdout.write(`${JSON.stringify({ items }, null, 2)}\n`);
        else process.stdout.write(approvalsTable(items));
      });
    });

  for (const d of ['approve', 'deny'] as const) {
    program
      .command(d)
      .description(
        d === 'approve'
          ? 'approve a pending tool call; the waiting process runs it and continues'
          : 'deny a pending tool call; the agent sees EDENIED with your reason',
      )
      .argument('<id>', 'approval id or a unique prefix of it (see `aos approvals`)')
      .option('-r, --reason <text>', 'why (audited, and shown to the agent on deny)')
      .option(...URL_OPTION)
      .option('--json', 'print the decision as JSON')
      .action(async (id: string, opts: { reason?: string; url?: string; json?: boolean }) => {
        await withServer(program, opts, async (c) => {
          const res = await decide(c, id, d, opts.reason);
          printAnswer(opts, res, decidedLine(res.approval, d));
        });
      });
  }
}

/** Resolves a (possibly abbreviated) id against the pending list, then decides it. */
export async function decide(
  c: KernelClient,
  id: string,
  d: Decision,
  reason?: string,
): Promise<{ approval: PendingApprovalView; decision: string; by: string }> {
  const approval = matchApproval(await c.approvals(), id);
  const res = await c.decide(approval.id, d, reason);
  return { approval, decision: res.decision, by: res.by };
}

export function decidedLine(a: PendingApprovalView, d: Decision): string {
  return `${d === 'approve' ? style.green('approved') : style.red('denied')} ${a.id.slice(0, SHORT_ID)}: ${describeCall(a)} for pid ${a.pid}`;
}

/** `shell: ls -la` — the tool and its most telling argument, on one line. */
export function describeCall(a: { tool: string; args: unknown }, max = 120): string {
  let what: string;
  const args = a.args as Record<string, unknown> | null;
  const strings =
    args && typeof args === 'object' ? Object.values(args).filter((v) => typeof v === 'string') : [];
  if (strings.length === 1 && Object.keys(args ?? {}).length === 1) what = String(strings[0]);
  else what = JSON.stringify(a.args ?? {});
  const one = termSafe(what.replace(/\s+/g, ' ').trim());
  return `${termSafe(a.tool)}: ${one.length > max ? `${one.slice(0, max)}…` : one}`;
}

function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}

/** The inbox as a table; `cmd` prefixes the hint (`aos ` on the command line, nothing in `aos shell`). */
export function approvalsTable(items: PendingApprovalView[], cmd = 'aos '): string {
  if (items.length === 0) return 'nothing is waiting for approval\n';
  const now = Date.now();
  const rows = items.map((a) => [
    a.id.slice(0, SHORT_ID),
    String(a.pid),
    ago(a.createdAt, now),
    `${Math.max(0, Math.round((Date.parse(a.expiresAt) - now) / 1000))}s`,
    describeCall(a, 80),
  ]);
  return `${table(['ID', 'PID', 'WAITING', 'EXPIRES IN', 'CALL'], rows)}${style.dim(`approve with \`${cmd}approve ${items[0]!.id.slice(0, SHORT_ID)}\`, deny with \`${cmd}deny ${items[0]!.id.slice(0, SHORT_ID)}${cmd ? ' --reason' : ''} "…"\`\n`)}`;
}
