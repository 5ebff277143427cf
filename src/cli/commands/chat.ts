/**
 * Conversations from the terminal: `aos chat` (an interactive session with one agent: each line is a turn,
 * the agent's answer is printed when its turn ends), `aos send <pid> "…"` (one message to a process, then
 * its answer), and `aos agents` (the profiles of config `agents:`). Over a running server when one answers,
 * else in-process on the configured storage (src/cli/conversation.ts).
 */
import { createInterface, type Interface } from 'node:readline';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { KernelError } from '../../errors.js';
import type { StepRecord } from '../../kernel/program.js';
import { setLogLevel } from '../../util/log.js';
import { isYes, type PromptIo } from '../approval-prompt.js';
import { parseId, serverClient } from '../client.js';
import {
  type ConversationBackend,
  LocalConversation,
  ServerConversation,
  type TurnEnd,
} from '../conversation.js';
import { style, table } from '../format.js';
import { clientOpts, URL_OPTION } from './server-options.js';

interface ChatOpts {
  url?: string;
  agent?: string;
  system?: string;
  model?: string;
  maxSteps?: string;
  name?: string;
}

export function register(program: Command): void {
  program
    .command('chat')
    .description('talk to an agent: each line you type is a turn, its answer follows (/exit leaves)')
    .argument('[pid]', 'continue the conversation with this process (default: start a new agent)')
    .option('-a, --agent <profile>', 'start from a profile in config agents: (see `aos agents`)')
    .option('-s, --system <text>', "the agent's persona / system prompt")
    .option('-m, --model <name>', 'model (default: the profile, else default_model)')
    .option('--name <name>', 'process name (default: the profile name, else "chat")')
    .option('--max-steps <n>', 'step limit per turn', '20')
    .option(...URL_OPTION)
    .action(async (pidArg: string | undefined, opts: ChatOpts) => {
      const pid = pidArg === undefined ? null : parseId(pidArg);
      const backend = await open(program, opts);
      try {
        await chat(backend, pid, opts, aosCommand(program));
      } finally {
        await backend.close();
      }
    });

  program
    .command('send')
    .description('send a message to a process (a conversation turn) and print its answer')
    .argument('<pid>', 'process id (see `aos ps`); an exited agent is continued')
    .argument('<text>', 'the message')
    .option('--no-wait', 'return once the message is delivered, without waiting for the answer')
    .option('--json', 'print { pid, continued, state, result, exitReason } as JSON')
    .option(...URL_OPTION)
    .action(async (pidArg: string, text: string, opts: { wait: boolean; json?: boolean; url?: string }) => {
      const pid = parseId(pidArg);
      if (!text.trim()) throw new KernelError('EINVAL', 'the message is empty');
      const backend = await open(program, opts);
      try {
        process.exitCode = await sendOne(backend, pid, text, opts, aosCommand(program));
      } finally {
        await backend.close();
      }
    });

  program
    .command('agents')
    .description('list the agent profiles of config agents: (spawn one with `aos chat --agent NAME`)')
    .option('--json', 'print the profiles as JSON')
    .action((opts: { json?: boolean }) => {
      const configPath = program.opts().config as string | undefined;
      const { config, file } = loadConfig(configPath ? { path: configPath } : {});
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ items: config.agents }, null, 2)}\n`);
        return;
      }
      if (config.agents.length === 0) {
        process.stdout.write(
          `no agent profiles in ${file ?? 'the configuration'}; add an \`agents:\` list (see config.example.yaml)\n`,
        );
        return;
      }
      process.stdout.write(
        table(
          ['NAME', 'MODEL', 'TOOLS', 'DESCRIPTION'],
          config.agents.map((a) => [
            a.name,
            a.model ?? '(default)',
            a.tools?.join(',') ?? '(policy)',
            a.description ?? '',
          ]),
        ),
      );
    });
}

function aosCommand(program: Command): string {
  const c = program.opts().config as string | undefined;
  return c ? `aos -c ${c}` : 'aos';
}

async function open(program: Command, opts: { url?: string }): Promise<ConversationBackend> {
  const co = clientOpts(program, opts);
  const client = await serverClient(co);
  if (client) return new ServerConversation(client);
  setLogLevel('error');
  const { createKernel } = await import('../../kernel/kernel.js');
  const kernel = await createKernel({
    ...(co.configPath ? { configPath: co.configPath } : {}),
    recover: false,
    plugins: true,
  });
  return new LocalConversation(kernel, kernel.config.storage.url);
}

/** Each finished step as the chat shows it: tool calls and their results, one line each. */
function stepLines(r: StepRecord): string {
  let out = '';
  for (const c of r.toolCalls ?? []) {
    if (c.name === 'final_answer') continue;
    const res = c.output === undefined ? '' : ` → ${oneLine(c.output, 160)}`;
    out += `  ${style.dim('·')} ${style.cyan(c.name)}(${oneLine(c.arguments, 100)})${c.ok === false ? style.red(res) : res}\n`;
  }
  return out;
}

function oneLine(s: string, n: number): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n)}…` : t;
}

/** Lines from stdin, buffered (piped input arrives before it is asked for); null at end of input. */
class Lines {
  private readonly queue: string[] = [];
  private waiter: ((l: string | null) => void) | null = null;
  private closed = false;
  readonly rl: Interface;

  constructor() {
    this.rl = createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal: process.stdin.isTTY === true,
    });
    this.rl.on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(l);
      } else this.queue.push(l);
    });
    this.rl.on('close', () => {
      this.closed = true;
      this.waiter?.(null);
      this.waiter = null;
    });
  }

  next(prompt: string): Promise<string | null> {
    const tty = process.stdin.isTTY === true;
    if (tty) {
      this.rl.setPrompt(prompt);
      this.rl.prompt();
    } else process.stdout.write(prompt);
    const q = this.queue.shift();
    const line =
      q !== undefined
        ? Promise.resolve(q)
        : this.closed
          ? Promise.resolve(null)
          : new Promise<string | null>((r) => {
              this.waiter = r;
            });
    // piped input is not echoed by a terminal: show it, so the transcript reads as a conversation
    return tty ? line : line.then((l) => (l === null ? l : (process.stdout.write(`${l}\n`), l)));
  }

  close(): void {
    this.rl.close();
  }
}

function answerLine(end: TurnEnd): string {
  return end.ok
    ? `${style.green('agent>')} ${String(end.info.result ?? '')}\n`
    : `${style.red('agent failed:')} ${end.info.exitReason ?? 'unknown reason'}\n`;
}

async function chat(
  b: ConversationBackend,
  pidArg: number | null,
  opts: ChatOpts,
  aos: string,
): Promise<void> {
  const out = (s: string) => process.stdout.write(s);
  const lines = new Lines();
  const who = opts.agent ? `agent ${opts.agent}` : opts.model ? `model ${opts.model}` : 'the default agent';
  out(
    `${style.bold('aos chat')} — ${b.target} · ${pidArg ? `process ${pidArg}` : who} · ${style.dim('/exit or Ctrl-D leaves')}\n`,
  );
  const io: PromptIo = {
    mode: process.stdin.isTTY ? 'ask' : 'print',
    out,
    aos,
    ask: async (q) => isYes((await lines.next(q)) ?? ''),
  };
  let pid = pidArg;
  try {
    for (;;) {
      const line = await lines.next('you> ');
      if (line === null) break;
      const text = line.trim();
      if (!text) continue;
      if (text === '/exit' || text === '/quit') break;
      try {
        if (pid === null) {
          pid = await b.start({
            task: text,
            name: opts.name ?? (opts.agent ? undefined : 'chat'),
            ...(opts.agent ? { agent: opts.agent } : {}),
            ...(opts.system ? { system: opts.system } : {}),
            ...(opts.model ? { model: opts.model } : {}),
            maxSteps: Number(opts.maxSteps ?? 20),
          } as Parameters<ConversationBackend['start']>[0]);
          out(style.dim(`  (pid ${pid})\n`));
        } else await b.send(pid, text);
        const end = await b.turn(pid, (_n, r) => out(stepLines(r)), io);
        out(answerLine(end));
      } catch (err) {
        if (!(err instanceof KernelError)) throw err;
        out(`${style.red('error:')} ${err.code}: ${err.message}\n`);
      }
    }
  } finally {
    lines.close();
  }
  out(pid ? `bye (the conversation is process ${pid}; continue it with \`${aos} chat ${pid}\`)\n` : 'bye\n');
}

async function sendOne(
  b: ConversationBackend,
  pid: number,
  text: string,
  opts: { wait: boolean; json?: boolean },
  aos: string,
): Promise<number> {
  const out = (s: string) => process.stdout.write(s);
  const continued = await b.send(pid, text);
  if (!opts.wait) {
    if (opts.json) out(`${JSON.stringify({ pid, continued })}\n`);
    else out(`sent to ${pid}${continued ? ' (continued it)' : ''}\n`);
    return 0;
  }
  const io: PromptIo = {
    mode: process.stdin.isTTY && process.stdout.isTTY && !opts.json ? 'ask' : 'print',
    json: opts.json === true,
    out,
    aos,
  };
  const end = await b.turn(pid, (_n, r) => (opts.json ? undefined : out(stepLines(r))), io);
  if (opts.json)
    out(
      `${JSON.stringify({ pid, continued, state: end.info.state, result: end.info.result, exitReason: end.info.exitReason })}\n`,
    );
  else out(answerLine(end));
  return end.ok ? 0 : 1;
}
