/** `aos workspace rm <pid>`: delete an exited process's own workspace (workspaces outlive their process). */
import type { Command } from 'commander';
import { connect, parseId } from '../client.js';
import { termSafe } from '../format.js';
import { clientOpts } from './ps.js';

export function register(program: Command): void {
  const ws = program
    .command('workspace')
    .description("a process's workspace (<security.workspace>/proc/<pid>; `aos ps -w` shows each one's)");
  ws.command('rm')
    .description("delete an exited process's own workspace (a live process's or a shared one is refused)")
    .argument('<pid>', 'process id (see `aos ps`)')
    .option('--url <url>', 'server URL (default from config, or $AOS_URL)')
    .option('--json', 'print the server answer as JSON')
    .action(async (pidArg: string, opts: { url?: string; json?: boolean }) => {
      const pid = parseId(pidArg);
      const c = await connect({ ...clientOpts(program, opts), requireServer: true });
      try {
        const res = await c.removeWorkspace(pid);
        if (opts.json) process.stdout.write(`${JSON.stringify(res)}\n`);
        else
          process.stdout.write(
            `${res.removed ? 'removed' : 'nothing to remove at'} ${termSafe(res.path)} (pid ${pid})\n`,
          );
      } finally {
        await c.close();
      }
    });
}
