/**
 * How a CLI command reaches the server: the `--url` option, the connect() options it makes with
 * `--config`, a client of a running server closed after use, and the `--json`-or-one-line answer.
 * Commands that act on one process (`aos kill 7`, `aos checkpoint 7`) are built by pidCommand().
 */
import type { Command } from 'commander';
import { type KernelClient, parseId, withClient } from '../client.js';

/** `.option(...URL_OPTION)`: the server a client command talks to. */
export const URL_OPTION = ['--url <url>', 'server URL (default from config, or $AOS_URL)'] as const;

/** Options every client command passes to connect(). */
export function clientOpts(program: Command, opts: { url?: string }) {
  const configPath = program.opts().config as string | undefined;
  return { ...(configPath ? { configPath } : {}), ...(opts.url ? { url: opts.url } : {}) };
}

/**
 * Runs fn with a client of the running server — no read-only fallback to storage, since these commands
 * change or watch live state — and closes it after, also when fn throws.
 */
export function withServer<T>(
  program: Command,
  opts: { url?: string },
  fn: (c: KernelClient) => Promise<T>,
): Promise<T> {
  return withClient({ ...clientOpts(program, opts), requireServer: true }, fn);
}

/** Prints a command's answer: the server's JSON with --json, else the one line for a person. */
export function printAnswer(opts: { json?: boolean }, answer: unknown, line: string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(answer)}\n` : `${line}\n`);
}

export type PidCommandOpts = { url?: string; json?: boolean };

/**
 * `aos <name> <pid> [--url] [--json]` under parent (the program or a command group): runs act with the
 * pid (checked by parseId) and a client of the running server, and prints what act returns through
 * printAnswer().
 */
export function pidCommand(
  parent: Command,
  name: string,
  description: string,
  act: (c: KernelClient, pid: number) => Promise<{ answer: unknown; line: string }>,
): Command {
  return parent
    .command(name)
    .description(description)
    .argument('<pid>', 'process id (see `aos ps`)')
    .option(...URL_OPTION)
    .option('--json', 'print the server answer as JSON')
    .action(async (pidArg: string, opts: PidCommandOpts) => {
      let program = parent;
      while (program.parent) program = program.parent; // --config is the root's option
      const pid = parseId(pidArg);
      await withServer(program, opts, async (c) => {
        const { answer, line } = await act(c, pid);
        printAnswer(opts, answer, line);
      });
    });
}
