/**
 * `aos top`: the live process table, full screen, kept current by the server's event stream; `q` quits.
 * It fits any terminal width (columns shrink, then the least useful ones go), and uses the terminal's
 * alternate screen so the shell's scrollback is left as it was.
 */
import type { Command } from 'commander';
import { CLI_TOP_COALESCE_MS, CLI_TOP_REFRESH_MS, CLI_TOP_RESYNC_MS } from '../../param.js';

import type { KernelClient, ProcessInfo, SchedulerView } from '../client.js';
import { style } from '../format.js';
import { fmtTokens, PROCESS_HEADERS, processRows } from './ps.js';
import { URL_OPTION, withServer } from './server-options.js';

export function register(program: Command): void {
  program
    .command('top')
    .description('live, full-screen process table (q to quit)')
    .option(...URL_OPTION)
    .option('--once', 'print one frame and exit (for scripts and dumb terminals)')
    .action(async (opts: { url?: string; once?: boolean }) => {
      await withServer(program, opts, async (c) => {
        if (opts.once || !process.stdout.isTTY) {
          process.stdout.write(await frame(c, process.stdout.columns || 160, 1_000));
          return;
        }
        await live(c);
      });
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

/**
 * The live view is driven by the server's event stream: a process event refetches that one process, a
 * `metrics` tick (every few seconds) the scheduler line; redraws are coalesced. A full resync runs at
 * start, on resize, and every CLI_TOP_RESYNC_MS as a backstop for a dropped stream.
 */
async function live(c: KernelClient): Promise<void> {
  const stdin = process.stdin;
  // Once q is pressed nothing more is painted: a fetch still in flight must not draw a frame on the main
  // screen after the alternate one was left.
  let closed = false;
  const out = (s: string) => {
    if (!closed) process.stdout.write(s);
  };
  const view: TopView = { procs: new Map(), total: 0, sched: null };
  const ac = new AbortController();
  const dirty = new Set<number>();
  let schedDirty = false;
  let resyncDue = true;
  let flushing: Promise<void> | null = null;
  let queued = false;
  let lastError = '';
  const draw = () =>
    out(
      `\x1b[H\x1b[2J${render(c.target, view, process.stdout.columns || 80, (process.stdout.rows || 24) - 1)}`,
    );
  const flush = async (): Promise<void> => {
    try {
      if (resyncDue) {
        resyncDue = false;
        dirty.clear();
        const [page, sched] = await Promise.all([
          c.listProcesses({ limit: 1000 }),
          c.scheduler().catch(() => null),
        ]);
        view.procs = new Map(page.items.map((p) => [p.pid, p]));
        view.total = page.total;
        view.sched = sched;
      } else {
        const pids = [...dirty];
        dirty.clear();
        const got = await Promise.all(pids.map((pid) => c.getProcess(pid).catch(() => null)));
        for (const p of got) {
          if (!p) continue;
          if (!view.procs.has(p.pid)) view.total += 1;
          view.procs.set(p.pid, p);
        }
        if (schedDirty || pids.length) view.sched = await c.scheduler().catch(() => view.sched);
      }
      schedDirty = false;
      lastError = '';
      draw();
    } catch (err) {
      // a server that went away is shown, not fatal: it may come back
      const msg = err instanceof Error ? err.message : String(err);
      if (msg !== lastError)
        out(`\x1b[H\x1b[2J${style.red('aos top: ')}${msg}\n${style.dim('retrying · q quit')}\n`);
      lastError = msg;
      resyncDue = true;
    }
  };
  /** Coalesces bursts of events into one fetch + redraw at a time. */
  const kick = () => {
    if (flushing) {
      queued = true;
      return;
    }
    flushing = (async () => {
      await new Promise((r) => setTimeout(r, CLI_TOP_COALESCE_MS));
      await flush();
      flushing = null;
      if (queued) {
        queued = false;
        kick();
      }
    })();
  };
  const stream = c
    .events((e) => {
      const pid = Number(e.data.pid);
      if (e.event === 'metrics') schedDirty = true;
      else if (Number.isInteger(pid) && pid > 0) dirty.add(pid);
      else return;
      kick();
    }, ac.signal)
    .catch(() => {
      resyncDue = true;
    });
  const onResize = () => draw();
  out('\x1b[?1049h\x1b[?25l'); // alternate screen, hide cursor
  const backstop = setInterval(() => {
    resyncDue = true;
    kick();
  }, CLI_TOP_RESYNC_MS);
  const clock = setInterval(draw, CLI_TOP_REFRESH_MS); // the clock and waiting times move without events
  try {
    await new Promise<void>((resolve) => {
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
      process.stdout.on('resize', onResize);
      kick();
    });
  } finally {
    closed = true;
    clearInterval(backstop);
    clearInterval(clock);
    process.stdout.off('resize', onResize);
    ac.abort();
    await stream;
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    process.stdout.write('\x1b[?25h\x1b[?1049l'); // show cursor, back to the main screen
  }
}

interface TopView {
  procs: Map<number, ProcessInfo>;
  total: number;
  sched: SchedulerView | null;
}

/** One screen of `top`: a summary, the scheduler, then as many process rows as fit in `rows`. */
export async function frame(c: KernelClient, cols: number, rows: number): Promise<string> {
  const [page, sched] = await Promise.all([
    c.listProcesses({ limit: 1000 }),
    c.scheduler().catch(() => null),
  ]);
  return render(
    c.target,
    { procs: new Map(page.items.map((p) => [p.pid, p])), total: page.total, sched },
    cols,
    rows,
  );
}

/** The frame as text, every line at most `cols` visible characters (a wrapped line would shift the rows). */
export function render(target: string, v: TopView, cols: number, rows: number): string {
  const procs = [...v.procs.values()].sort(
    (a, b) => (ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9) || b.pid - a.pid,
  );
  const lines = [
    `${style.bold('aos top')} — ${target}   ${new Date().toLocaleTimeString('en-GB')}   ${style.dim('q quit')}`,
    summary(procs, v.total),
    totals(procs),
    scheduler(v.sched),
    '',
  ];
  const body = fitTable(PROCESS_HEADERS, processRows(procs), cols);
  const room = Math.max(1, rows - lines.length);
  const shown = body.slice(0, room);
  if (body.length > room) shown[shown.length - 1] = style.dim(`… ${body.length - room + 1} more rows`);
  return `${[...lines.map((l) => clipVisible(l, cols)), ...shown.map((l, i) => (i === 0 ? style.bold(l) : l))].join('\n')}\n`;
}

/** Columns dropped first when the terminal is narrow, and those that may shrink (with a floor). */
const DROP_ORDER = ['PPID', 'CACHED', 'COST', 'MODEL', 'PRI', 'STEP', 'TOKENS'];
const SHRINK: Record<string, number> = { RESULT: 12, NAME: 8, STATE: 10, MODEL: 8 };

/** An aligned table no wider than `cols`: shrink RESULT/NAME/…, then drop the least useful columns. */
export function fitTable(headers: string[], rows: string[][], cols: number): string[] {
  let keep = headers.map((_, i) => i);
  const natural = (i: number) => Math.max(headers[i]!.length, ...rows.map((r) => (r[i] ?? '').length));
  const widths = new Map(keep.map((i) => [i, natural(i)]));
  const total = () => keep.reduce((s, i) => s + widths.get(i)!, 0) + 2 * (keep.length - 1);
  const shrink = () => {
    for (const name of ['RESULT', 'NAME', 'MODEL', 'STATE']) {
      const i = headers.indexOf(name);
      if (!keep.includes(i)) continue;
      const over = total() - cols;
      if (over <= 0) return;
      const floor = Math.max(SHRINK[name] ?? 8, headers[i]!.length);
      widths.set(i, Math.max(floor, widths.get(i)! - over));
    }
  };
  shrink();
  for (const name of DROP_ORDER) {
    if (total() <= cols) break;
    keep = keep.filter((i) => headers[i] !== name);
    shrink();
  }
  const cell = (s: string, w: number) => (s.length > w ? `${s.slice(0, Math.max(0, w - 1))}…` : s.padEnd(w));
  const line = (r: string[]) =>
    clipVisible(
      keep
        .map((i) => cell(r[i] ?? '', widths.get(i)!))
        .join('  ')
        .trimEnd(),
      cols,
    );
  return [line(headers), ...rows.map(line)];
}

/** Cuts `s` to `cols` visible characters, keeping ANSI sequences whole and closing any style left open. */
export function clipVisible(s: string, cols: number): string {
  let out = '';
  let seen = 0;
  let styled = false;
  for (let i = 0; i < s.length; ) {
    const m = /^\x1b\[[0-9;?]*[a-zA-Z]/.exec(s.slice(i));
    if (m) {
      out += m[0];
      styled = true;
      i += m[0].length;
      continue;
    }
    if (seen >= cols) return styled ? `${out}\x1b[0m` : out;
    out += s[i];
    seen += 1;
    i += 1;
  }
  return out;
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
