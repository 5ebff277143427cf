/**
 * `aos top`: the live process table, full screen, redrawn every second from a running server; `q` quits.
 * Uses the terminal's alternate screen so the shell's scrollback is left as it was.
 */
import type { Command } from 'commander';
import { CLI_TOP_REFRESH_MS } from '../../param.js';
import { connect, type KernelClient, type ProcessInfo, type SchedulerView } from '../client.js';
import { style, table } from '../format.js';
import { clientOpts, fmtTokens, PROCESS_HEADERS, processRows } from './ps.js';

export function register(program: Command): void {
  program
    .command('top')
    .description('live, full-screen process table (q to quit)')
    .option('--url <url>', 'server URL (default from config, or $AOS_URL)')
    .option('--once', 'print one frame and exit (for scripts and dumb terminals)')
    .action(async (opts: { url?: string; once?: boolean }) => {
      const c = await connect({ ...clientOpts(program, opts), requireServer: true });
      try {
        if (opts.once || !process.stdout.isTTY) {
          process.stdout.write(await frame(c, process.stdout.columns || 160, 1_000));
          return;
        }
        await live(c);
      } finally {
        await c.close();
      }
    });
}

const ORDER: Record<string, number> = {
  running: 0,
  waiting: 1,
  ready: 2,
  suspended: 3,
  new: 4,
  zombie: 5,
  terminated: 6,
};

async function live(c: KernelClient): Promise<void> {
  const stdin = process.stdin;
  const out = (s: string) => process.stdout.write(s);
  out('\x1b[?1049h\x1b[?25l'); // alternate screen, hide cursor
  let timer: NodeJS.Timeout | undefined;
  let lastError = '';
  try {
    await new Promise<void>((resolve) => {
      const draw = async () => {
        try {
          const text = await frame(c, process.stdout.columns || 80, (process.stdout.rows || 24) - 1);
          lastError = '';
          out(`\x1b[H\x1b[2J${text}`);
        } catch (err) {
          // a server that went away is shown, not fatal: it may come back
          const msg = err instanceof Error ? err.message : String(err);
          if (msg !== lastError)
            out(
              `\x1b[H\x1b[2J${style.red('aos top: ')}${msg}\n${style.dim('retrying every second · q quit')}\n`,
            );
          lastError = msg;
        }
      };
      const onKey = (buf: Buffer) => {
        const k = buf.toString();
        if (k === 'q' || k === 'Q' || k === '\x03' || k === '\x1b') {
          stdin.off('data', onKey);
          resolve();
        }
      };
      if (stdin.isTTY) stdin.setRawMode(true);
      stdin.resume();
      stdin.on('data', onKey);
      void draw();
      timer = setInterval(() => void draw(), CLI_TOP_REFRESH_MS);
    });
  } finally {
    if (timer) clearInterval(timer);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    out('\x1b[?25h\x1b[?1049l'); // show cursor, back to the main screen
  }
}

/** One screen of `top`: a summary, the scheduler, then as many process rows as fit in `rows`. */
export async function frame(c: KernelClient, cols: number, rows: number): Promise<string> {
  const [page, sched] = await Promise.all([
    c.listProcesses({ limit: 1000 }),
    c.scheduler().catch(() => null),
  ]);
  const procs = [...page.items].sort(
    (a, b) => (ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9) || b.pid - a.pid,
  );
  const lines = [
    `${style.bold('aos top')} — ${c.target}   ${new Date().toLocaleTimeString('en-GB')}   ${style.dim('q quit')}`,
    summary(procs, page.total),
    totals(procs),
    scheduler(sched),
    '',
  ];
  const body = table(PROCESS_HEADERS, processRows(procs)).trimEnd().split('\n');
  const room = Math.max(1, rows - lines.length);
  const shown = body.slice(0, room);
  if (body.length > room) shown[shown.length - 1] = style.dim(`… ${body.length - room + 1} more rows`);
  const clipLine = (l: string) =>
    visibleLength(l) > cols ? l.slice(0, cols + (l.length - visibleLength(l))) : l;
  return `${[...lines, ...shown.map((l, i) => (i === 0 ? style.bold(l) : l))].map(clipLine).join('\n')}\n`;
}

function visibleLength(s: string): number {
  return s.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '').length;
}

function summary(procs: ProcessInfo[], total: number): string {
  const counts = new Map<string, number>();
  for (const p of procs) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  const parts = Object.keys(ORDER)
    .filter((s) => counts.get(s))
    .map((s) => `${s} ${counts.get(s)}`);
  return `processes ${total}: ${parts.join(' · ') || 'none'}`;
}

function totals(procs: ProcessInfo[]): string {
  let tin = 0;
  let tcached = 0;
  let tout = 0;
  let cost = 0;
  let calls = 0;
  let llmMs = 0;
  for (const p of procs) {
    tin += p.usage.tokensIn;
    tcached += p.usage.tokensCached;
    tout += p.usage.tokensOut;
    cost += p.usage.cost;
    calls += p.usage.apiCalls;
    llmMs += p.usage.llmMs;
  }
  const hit = tin > 0 ? `${((tcached / tin) * 100).toFixed(0)}%` : '-';
  const lat = calls > 0 ? `${Math.round(llmMs / calls)} ms` : '-';
  return `tokens in ${fmtTokens(tin)} (cached ${fmtTokens(tcached)}, hit ${hit}) out ${fmtTokens(tout)} · cost $${cost.toFixed(4)} · LLM calls ${calls}, avg ${lat}`;
}

function scheduler(s: SchedulerView | null): string {
  if (!s) return style.dim('scheduler: not available');
  const slots = Object.entries(s.slots ?? {})
    .map(
      ([m, v]) =>
        `${m} ${v.busy}/${v.total}${v.auto ? ` (auto: ${v.auto.basis === 'none' ? 'no rate limit known' : `${v.auto.basis} × ${v.auto.latencyMs ?? '?'} ms`})` : ''}`,
    )
    .join(', ');
  const q = Array.isArray(s.runQueue) ? s.runQueue.length : Number(s.runQueue ?? 0);
  return `scheduler ${s.policy} · run queue ${q} · slots ${slots || '-'} · dispatches ${s.dispatches ?? 0} · preemptions ${s.preemptions ?? 0}`;
}
