/**
 * `aos shell` (kernel-cli): an interactive prompt over the same client as the other commands, with
 * history kept in <data_dir>/shell_history and tab completion of commands and pids.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { KernelError } from '../../errors.js';
import { CLI_SHELL_HISTORY } from '../../param.js';
import { connect, type KernelClient, parseId } from '../client.js';
import { style } from '../format.js';
import { approvalsTable, decide, decidedLine } from './approvals.js';
import { showLogs } from './logs.js';
import { processTable } from './ps.js';
import { clientOpts, URL_OPTION } from './server-options.js';
import { frame } from './top.js';

const HELP: Array<[string, string]> = [
  ['ps [state]', 'list processes, optionally only those in one state'],
  ['spawn "<task>" [priority] [model]', 'start an agent on a task; prints its pid'],
  ['send <pid> "<text>"', 'a message to an agent (a turn); an exited one continues'],
  ['kill <pid>', 'stop a process'],
  ['suspend <pid>', 'pause a process between steps'],
  ['resume <pid>', 'continue a suspended process'],
  ['approvals', 'tool calls waiting for a human decision'],
  ['approve <id> [reason]', 'approve one (any unique prefix of its id)'],
  ['deny <id> [reason]', 'deny one; the agent sees the reason'],
  ['logs <pid> [-f]', 'its step timeline; -f follows until it exits (Ctrl-C stops following)'],
  ['status', 'kernel summary: processes, tokens, scheduler'],
  ['help', 'this list'],
  ['exit', 'leave the shell (also Ctrl-D)'],
];
const COMMANDS = HELP.map(([c]) => c.split(' ')[0] as string).concat('quit');
const PID_COMMANDS = new Set(['kill', 'suspend', 'resume', 'logs', 'send']);
const APPROVAL_COMMANDS = new Set(['approve', 'deny']);

export function register(program: Command): void {
  program
    .command('shell')
    .description('interactive kernel shell (kernel-cli): ps, spawn, kill, logs, status …')
    .option(...URL_OPTION)
    .action(async (opts: { url?: string }) => {
      const co = clientOpts(program, opts);
      const { config } = loadConfig(co.configPath ? { path: co.configPath } : {});
      const c = await connect(co);
      try {
        await runShell(c, resolve(config.data_dir, 'shell_history'));
      } finally {
        await c.close();
      }
    });
}

/** Splits a command line into words; double or single quotes group words, backslash escapes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:\\.|[^"\\])*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(re))
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3] ?? ''));
  return words;
}

export async function runShell(c: KernelClient, historyFile: string): Promise<void> {
  const out = (s: string) => process.stdout.write(s);
  let pids: string[] = [];
  let approvalIds: string[] = [];
  const history = existsSync(historyFile)
    ? readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).reverse()
    : [];
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    prompt: 'aos> ',
    history,
    historySize: CLI_SHELL_HISTORY,
    removeHistoryDuplicates: true,
    completer: (line: string): [string[], string] => {
      const words = line.split(/\s+/);
      const last = words[words.length - 1] ?? '';
      const first = words[0] ?? '';
      const pool =
        words.length <= 1
          ? COMMANDS
          : PID_COMMANDS.has(first)
            ? pids
            : APPROVAL_COMMANDS.has(first)
              ? approvalIds
              : [];
      const hits = pool.filter((w) => w.startsWith(last));
      return [hits.length ? hits : pool, last];
    },
  });
  // take the line iterator now: lines typed (or piped) before the first await would otherwise be lost
  const lines = rl[Symbol.asyncIterator]();
  let following: AbortController | null = null;
  rl.on('SIGINT', () => {
    if (following) following.abort();
    else {
      out('^C\n');
      rl.prompt();
    }
  });
  const refreshPids = async () => {
    pids = (await c.listProcesses({ limit: 1000 })).items.map((p) => String(p.pid));
    approvalIds = (await c.approvals()).map((a) => a.id.slice(0, 8));
  };
  out(
    `${style.bold('aos shell')} — ${c.mode === 'server' ? `server ${c.target}` : `storage ${c.target} (read-only: no server; \`aos start\` for live commands)`}\n${style.dim('type help for commands, Tab completes, Ctrl-D leaves')}\n`,
  );
  await refreshPids().catch(() => undefined);
  rl.prompt();
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const line = next.value;
    const words = splitWords(line.trim());
    const [cmd, ...args] = words;
    if (!cmd) {
      rl.prompt();
      continue;
    }
    if (cmd === 'exit' || cmd === 'quit') break;
    try {
      switch (cmd) {
        case 'help':
          for (const [u, d] of HELP) out(`  ${u.padEnd(36)}${style.dim(d)}\n`);
          break;
        case 'ps': {
          const page = await c.listProcesses({ ...(args[0] ? { state: args[0] } : {}), limit: 1000 });
          out(processTable(page.items, page.total));
          break;
        }
        case 'spawn': {
          const task = args[0];
          if (!task)
            throw new KernelError('EINVAL', 'spawn needs a task: spawn "what to do" [priority] [model]');
          const pid = await c.spawn({
            name: 'shell',
            task,
            ...(args[1] !== undefined ? { priority: Number(args[1]) } : {}),
            ...(args[2] ? { model: args[2] } : {}),
          });
          out(`spawned pid ${pid}\n`);
          break;
        }
        case 'send': {
          if (!args[0] || !args[1]?.trim())
            throw new KernelError('EINVAL', 'send needs a pid and a message: send <pid> "text"');
          const pid = parseId(args[0]);
          const r = await c.message(pid, args.slice(1).join(' '));
          out(`sent to ${pid}${r.continued ? ' (continued it)' : ''}; follow it with logs ${pid} -f\n`);
          break;
        }
        case 'kill':
        case 'suspend':
        case 'resume': {
          if (!args[0]) throw new KernelError('EINVAL', `${cmd} needs a pid: ${cmd} <pid>`);
          const pid = parseId(args[0]);
          await c.control(pid, cmd);
          out(`${cmd === 'kill' ? 'killed' : `${cmd}d`} ${pid}\n`);
          break;
        }
        case 'approvals':
          out(approvalsTable(await c.approvals(), ''));
          break;
        case 'approve':
        case 'deny': {
          if (!args[0]) throw new KernelError('EINVAL', `${cmd} needs an approval id: ${cmd} <id> [reason]`);
          const reason = args.slice(1).join(' ') || undefined;
          const res = await decide(c, args[0], cmd, reason);
          out(`${decidedLine(res.approval, cmd)}\n`);
          break;
        }
        case 'logs': {
          if (!args[0]) throw new KernelError('EINVAL', 'logs needs a pid: logs <pid> [-f]');
          const pid = parseId(args[0]);
          const follow = args.includes('-f') || args.includes('--follow');
          following = new AbortController();
          try {
            await showLogs(c, pid, { follow, json: false, signal: following.signal }, out);
          } finally {
            following = null;
          }
          break;
        }
        case 'status': {
          const text = await frame(c, process.stdout.columns || 160, 5);
          out(
            `${c.mode === 'server' ? 'server' : 'storage'} ${c.target}\n${text.split('\n').slice(1, 4).join('\n')}\n`,
          );
          break;
        }
        default:
          out(`${style.red('unknown command')} "${cmd}"; type help for the list\n`);
      }
    } catch (err) {
      out(
        `${style.red('error:')} ${err instanceof KernelError ? `${err.code}: ${err.message}` : (err as Error).message}\n`,
      );
    }
    await refreshPids().catch(() => undefined);
    rl.prompt();
  }
  rl.close();
  const kept = (rl as unknown as { history?: string[] }).history ?? [];
  try {
    mkdirSync(dirname(historyFile), { recursive: true });
    writeFileSync(historyFile, `${[...kept].reverse().slice(-CLI_SHELL_HISTORY).join('\n')}\n`);
  } catch {
    // a read-only data dir loses the history, not the session
  }
  out('bye\n');
}
