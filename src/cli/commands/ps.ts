/** `aos ps`: the process table, from a running server or (read-only) straight from storage. */
import type { Command } from 'commander';
import { type ProcessInfo, parseId, withClient } from '../client.js';
import { style, table, writeOut } from '../format.js';
import { clientOpts, URL_OPTION } from './server-options.js';

const STATES = ['new', 'ready', 'running', 'waiting', 'suspended', 'zombie', 'terminated'];

export function register(program: Command): void {
  program
    .command('ps')
    .description('list processes (from a running server, else from storage)')
    .option('-s, --state <state>', `only processes in this state (${STATES.join(', ')})`)
    .option('-n, --limit <n>', 'at most this many rows', '100')
    .option(...URL_OPTION)
    .option('-w, --workspace', "add a WORKSPACE column: the directory each process's tools work in")
    .option('--json', 'print { items, total } as JSON')
    .action(
      async (opts: { state?: string; limit: string; url?: string; json?: boolean; workspace?: boolean }) => {
        if (opts.state && !STATES.includes(opts.state)) {
          const { KernelError } = await import('../../errors.js');
          throw new KernelError('EINVAL', `--state must be one of ${STATES.join(', ')}, got "${opts.state}"`);
        }
        const limit = parseId(opts.limit, '--limit');
        await withClient(clientOpts(program, opts), async (c) => {
          const page = await c.listProcesses({ ...(opts.state ? { state: opts.state } : {}), limit });
          if (opts.json) process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
          else writeOut(processTable(page.items, page.total, { workspace: opts.workspace === true }));
        });
      },
    );
}

export function colorState(s: string): string {
  if (s === 'running') return style.green(s);
  if (s === 'waiting' || s === 'suspended') return style.yellow(s);
  if (s === 'zombie') return style.red(s);
  if (s === 'terminated') return style.dim(s);
  return s;
}

export function fmtTokens(n: number): string {
  return n >= 1_000_000
    ? `${(n / 1_000_000).toFixed(1)}M`
    : n >= 10_000
      ? `${(n / 1000).toFixed(1)}k`
      : String(n);
}

/** How a process ended: done (answered), failed or killed; null while it is live. */
export function outcomeOf(p: Pick<ProcessInfo, 'state' | 'exitReason'>): 'done' | 'failed' | 'killed' | null {
  if (p.state !== 'zombie' && p.state !== 'terminated') return null;
  if (p.exitReason === null) return 'done';
  return p.exitReason.startsWith('killed') ? 'killed' : 'failed';
}

/** `waiting(approval 3f2a1b2c)`: the state and what it waits on, ids cut to what `aos approve` takes. */
export function stateText(p: Pick<ProcessInfo, 'state' | 'waitOn'>): string {
  if (!p.waitOn) return p.state;
  const [on, ...rest] = p.waitOn.split(':');
  // provider waits carry the reason after ' — ' (aos logs shows it); the table keeps provider, model, time.
  const what = on === 'provider' ? rest.join(':').split(' — ')[0]! : rest.join(':');
  return `${p.state}(${on}${what ? ` ${on === 'approval' ? what.slice(0, 8) : what}` : ''})`;
}

/** The RESULT column: the outcome word first (never colour alone), then the answer or the reason. */
export function resultText(p: ProcessInfo, width = 40): string {
  const o = outcomeOf(p);
  if (!o) return '-';
  const detail =
    o === 'done'
      ? typeof p.result === 'string'
        ? p.result
        : JSON.stringify(p.result ?? null)
      : (p.exitReason ?? '').replace(/^(failed|killed):\s*/, '');
  const one = detail.replace(/\s+/g, ' ').trim();
  const text = `${o}${one ? `: ${one}` : ''}`;
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

export function processRows(items: ProcessInfo[]): string[][] {
  return items.map((p) => [
    String(p.pid),
    p.parentPid === null ? '-' : String(p.parentPid),
    stateText(p),
    String(p.priority),
    String(p.stepNo),
    fmtTokens(p.usage.tokensIn + p.usage.tokensOut),
    fmtTokens(p.usage.tokensCached),
    `$${p.usage.cost.toFixed(4)}`,
    p.model,
    p.name,
    resultText(p),
  ]);
}

export const PROCESS_HEADERS = [
  'PID',
  'PPID',
  'STATE',
  'PRI',
  'STEP',
  'TOKENS',
  'CACHED',
  'COST',
  'MODEL',
  'NAME',
  'RESULT',
];

export function processTable(items: ProcessInfo[], total: number, o: { workspace?: boolean } = {}): string {
  if (items.length === 0) return 'no processes (spawn one with `aos run "<task>"` or from `aos shell`)\n';
  const more = total > items.length ? style.dim(`… ${total - items.length} more (use --limit)\n`) : '';
  if (!o.workspace) return table(PROCESS_HEADERS, processRows(items)) + more;
  const rows = processRows(items).map((r, i) => [...r.slice(0, -1), items[i]!.workspace, r.at(-1)!]);
  return table([...PROCESS_HEADERS.slice(0, -1), 'WORKSPACE', 'RESULT'], rows) + more;
}
