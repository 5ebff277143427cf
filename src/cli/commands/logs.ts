/**
 * `aos logs <pid> [-f]`: a process's step timeline (thoughts, tool calls, results). With -f it follows the
 * server's event stream: tokens print as the model streams them (./live-tokens.ts), each `proc.step` for
 * the pid fetches the new steps, `proc.exit` ends the follow.
 */
import type { Command } from 'commander';
import { connect, type KernelClient, type ProcessInfo, parseId, type StepItem } from '../client.js';
import { style, termSafe, writeOut } from '../format.js';
import { type DeltaEvent, LiveTokens, type RestartEvent } from '../live-tokens.js';
import { describeCall, SHORT_ID } from './approvals.js';
import { colorState } from './ps.js';
import { clientOpts, URL_OPTION } from './server-options.js';

export function register(program: Command): void {
  program
    .command('logs')
    .description("a process's step timeline; -f follows it live until the process exits")
    .argument('<pid>', 'process id (see `aos ps`)')
    .option('-f, --follow', 'keep printing new steps as they happen (needs `aos start`)')
    .option(...URL_OPTION)
    .option('--json', 'one JSON step per line')
    .action(async (pidArg: string, opts: { follow?: boolean; url?: string; json?: boolean }) => {
      const pid = parseId(pidArg);
      const c = await connect({ ...clientOpts(program, opts), requireServer: opts.follow === true });
      try {
        await showLogs(c, pid, { follow: opts.follow === true, json: opts.json === true }, writeOut);
      } finally {
        await c.close();
      }
    });
}

const LIVE = new Set(['new', 'ready', 'running', 'waiting', 'suspended']);

export async function showLogs(
  c: KernelClient,
  pid: number,
  o: { follow: boolean; json: boolean; signal?: AbortSignal },
  out: (s: string) => void,
): Promise<void> {
  const info = await c.getProcess(pid);
  if (!o.json) out(`${header(info)}\n`);
  let last = 0;
  const live = new LiveTokens(out);
  const flush = async () => {
    for (const s of await c.steps(pid)) {
      if (s.stepNo <= last) continue;
      last = s.stepNo;
      live.end();
      out(o.json ? `${JSON.stringify(s)}\n` : renderStepItem(s));
    }
  };
  await flush();
  // What a live process is blocked on, said once per change, with the command that unblocks it.
  let lastWait = '';
  const showWait = async (state: string, waitOn: string) => {
    // a running tool is shown by its call line; the others are waits a user may need to act on
    const blocked = state === 'suspended' || (state === 'waiting' && !waitOn.startsWith('tool'));
    const key = blocked ? `${state}:${waitOn}` : '';
    if (key === lastWait) return;
    lastWait = key;
    if (!key || o.json) return;
    const line = await waitLine(c, pid, state, waitOn);
    live.end();
    out(`${line}\n`);
  };
  if (LIVE.has(info.state)) await showWait(info.state, info.waitOn);
  if (!o.follow || !LIVE.has(info.state)) {
    if (!o.json) out(`${footer(info)}\n`);
    return;
  }
  const ac = new AbortController();
  o.signal?.addEventListener('abort', () => ac.abort(), { once: true });
  let busy = Promise.resolve();
  // serialise fetches so steps print once and in order, however events and ticks interleave
  const refresh = (final: boolean) => {
    busy = busy.then(async () => {
      if (ac.signal.aborted) return;
      await flush();
      const now = await c.getProcess(pid);
      if (LIVE.has(now.state)) await showWait(now.state, now.waitOn);
      if (final || !LIVE.has(now.state)) {
        live.end();
        if (!o.json) out(`${footer(now)}\n`);
        ac.abort();
      }
    });
    return busy;
  };
  // the stream can miss an exit that happens before it connects; a slow tick closes that gap
  const tick = setInterval(() => void refresh(false).catch(() => undefined), 2_000);
  try {
    await c.events(
      (e) => {
        if (Number(e.data.pid) !== pid) return;
        if (!o.json && e.event === 'llm.delta') return live.delta(e.data as unknown as DeltaEvent);
        if (!o.json && e.event === 'llm.restart') return live.restart(e.data as unknown as RestartEvent);
        if (
          e.event === 'proc.step' ||
          e.event === 'proc.exit' ||
          e.event === 'proc.state' ||
          e.event === 'approval.pending'
        )
          void refresh(false).catch(() => undefined);
      },
      ac.signal,
      { deltas: !o.json, pid },
    );
    await busy;
  } finally {
    clearInterval(tick);
  }
}

/** One line saying what a blocked process waits for; for an approval, the call and how to decide it. */
export async function waitLine(c: KernelClient, pid: number, state: string, waitOn: string): Promise<string> {
  if (state === 'suspended') return `  ${style.yellow('suspended')} (\`aos resume ${pid}\` continues it)`;
  if (waitOn.startsWith('approval')) {
    const a = (await c.approvals().catch(() => [])).find((x) => x.pid === pid);
    if (a) {
      const short = a.id.slice(0, SHORT_ID);
      return `  ${style.yellow('waiting')} for approval ${short}: ${describeCall(a, 200)} — \`aos approve ${short}\` or \`aos deny ${short}\``;
    }
  }
  return `  ${style.yellow('waiting')} for ${waitOn || 'something'}`;
}

function header(p: ProcessInfo): string {
  return (
    style.bold(`pid ${p.pid} ${termSafe(p.name)}`) +
    style.dim(` · ${termSafe(String(p.model))} · ${termSafe(p.task.replace(/\s+/g, ' ').slice(0, 100))}`)
  );
}

function footer(p: ProcessInfo): string {
  const u = p.usage;
  const line = style.dim(
    `── ${colorState(p.state)} · ${p.stepNo} steps · tokens in ${u.tokensIn} (cached ${u.tokensCached}) out ${u.tokensOut} · $${u.cost.toFixed(6)}`,
  );
  if (p.exitReason) return `${line}\n${style.red('failed:')} ${termSafe(String(p.exitReason))}`;
  if (p.state === 'terminated' || p.state === 'zombie')
    return `${line}\n${style.green('answer:')} ${termSafe(String(p.result))}`;
  return line;
}

function clip(s: string, n = 300): string {
  const one = termSafe(s.replace(/\s+/g, ' ').trim());
  return one.length > n ? `${one.slice(0, n)}…` : one;
}

export function renderStepItem(s: StepItem): string {
  const r = s.record ?? {};
  const lines = [`${style.bold(`[step ${s.stepNo}]`)} ${style.dim(r.kind ?? s.kind)}`];
  if (r.thought) lines.push(`  ${style.magenta('thought')} ${clip(r.thought)}`);
  for (const call of r.toolCalls ?? []) {
    lines.push(`  ${style.cyan('call')}    ${termSafe(call.name)}(${clip(call.arguments ?? '', 200)})`);
    if (call.output !== undefined)
      lines.push(`  ${call.ok === false ? style.red('error') : style.green('result')}  ${clip(call.output)}`);
  }
  if (r.text && !(r.toolCalls ?? []).some((c) => c.output === r.text))
    lines.push(`  ${style.dim(r.kind === 'answer' ? 'answer' : 'text')}    ${clip(r.text)}`);
  return `${lines.join('\n')}\n`;
}
