/** `aos checkpoint <pid>` and `aos restore <id>`: explicit snapshots and new processes started from them. */
import type { Command } from 'commander';
import { connect, parseId } from '../client.js';
import { clientOpts } from './ps.js';

export function register(program: Command): void {
  program
    .command('checkpoint')
    .description("snapshot a process's committed state; prints the checkpoint id")
    .argument('<pid>', 'process id (see `aos ps`)')
    .option('--url <url>', 'server URL (default from config, or $AOS_URL)')
    .option('--json', 'print the server answer as JSON')
    .action(async (pidArg: string, opts: { url?: string; json?: boolean }) => {
      const pid = parseId(pidArg);
      const c = await connect({ ...clientOpts(program, opts), requireServer: true });
      try {
        const res = await c.control(pid, 'checkpoint');
        const id = res.checkpointId ?? res.id;
        if (opts.json) process.stdout.write(`${JSON.stringify(res)}\n`);
        else
          process.stdout.write(
            `checkpoint ${String(id)} of pid ${pid} (restore with \`aos restore ${String(id)}\`)\n`,
          );
      } finally {
        await c.close();
      }
    });

  program
    .command('restore')
    .description(
      'start a process from a checkpoint (a new pid, or --same-pid to rewind an exited one); prints its pid',
    )
    .argument('<id>', 'checkpoint id (from `aos checkpoint`)')
    .option(
      '--same-pid',
      "rewind the checkpoint's own process (it must have exited) instead of starting a new one",
    )
    .option('--name <name>', 'name of the new process (default: <name>@<id>)')
    .option('--url <url>', 'server URL (default from config, or $AOS_URL)')
    .option('--json', 'print { pid } as JSON')
    .action(
      async (idArg: string, opts: { url?: string; json?: boolean; samePid?: boolean; name?: string }) => {
        const id = parseId(idArg, 'checkpoint id');
        const c = await connect({ ...clientOpts(program, opts), requireServer: true });
        try {
          const pid = await c.restore(id, {
            ...(opts.samePid ? { into: 'same' as const } : {}),
            ...(opts.name ? { name: opts.name } : {}),
          });
          process.stdout.write(
            opts.json ? `${JSON.stringify({ pid })}\n` : `restored checkpoint ${id} as pid ${pid}\n`,
          );
        } finally {
          await c.close();
        }
      },
    );
}
