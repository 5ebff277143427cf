/** `aos checkpoint <pid>` and `aos restore <id>`: explicit snapshots and new processes started from them. */
import type { Command } from 'commander';
import { parseId } from '../client.js';
import { pidCommand, printAnswer, URL_OPTION, withServer } from './server-options.js';

export function register(program: Command): void {
  pidCommand(
    program,
    'checkpoint',
    "snapshot a process's committed state; prints the checkpoint id",
    async (c, pid) => {
      const res = await c.control(pid, 'checkpoint');
      const id = String(res.checkpointId ?? res.id);
      return { answer: res, line: `checkpoint ${id} of pid ${pid} (restore with \`aos restore ${id}\`)` };
    },
  );

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
    .option(...URL_OPTION)
    .option('--json', 'print { pid } as JSON')
    .action(
      async (idArg: string, opts: { url?: string; json?: boolean; samePid?: boolean; name?: string }) => {
        const id = parseId(idArg, 'checkpoint id');
        await withServer(program, opts, async (c) => {
          const pid = await c.restore(id, {
            ...(opts.samePid ? { into: 'same' as const } : {}),
            ...(opts.name ? { name: opts.name } : {}),
          });
          printAnswer(opts, { pid }, `restored checkpoint ${id} as pid ${pid}`);
        });
      },
    );
}
