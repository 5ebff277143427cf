/** `aos kill|suspend|resume <pid>`: process control through a running server. */
import type { Command } from 'commander';
import { connect, type ProcAction, parseId } from '../client.js';
import { clientOpts } from './ps.js';

const VERBS: Array<{ action: ProcAction; what: string; done: string }> = [
  { action: 'kill', what: 'stop a process (its current step ends cleanly first)', done: 'killed' },
  { action: 'suspend', what: 'pause a process between steps', done: 'suspended' },
  { action: 'resume', what: 'continue a suspended process', done: 'resumed' },
];

export function register(program: Command): void {
  for (const v of VERBS) {
    program
      .command(v.action)
      .description(v.what)
      .argument('<pid>', 'process id (see `aos ps`)')
      .option('--url <url>', 'server URL (default from config, or $AOS_URL)')
      .option('--json', 'print the server answer as JSON')
      .action(async (pidArg: string, opts: { url?: string; json?: boolean }) => {
        const pid = parseId(pidArg);
        const c = await connect({ ...clientOpts(program, opts), requireServer: true });
        try {
          const res = await c.control(pid, v.action);
          if (opts.json) process.stdout.write(`${JSON.stringify(res)}\n`);
          else process.stdout.write(`${v.done} ${pid}\n`);
        } finally {
          await c.close();
        }
      });
  }
}
