/** `aos kill|suspend|resume <pid>`: process control through a running server. */
import type { Command } from 'commander';
import type { ProcAction } from '../client.js';
import { pidCommand } from './server-options.js';

const VERBS: Array<{ action: ProcAction; what: string; done: string }> = [
  { action: 'kill', what: 'stop a process (its current step ends cleanly first)', done: 'killed' },
  { action: 'suspend', what: 'pause a process between steps', done: 'suspended' },
  { action: 'resume', what: 'continue a suspended process', done: 'resumed' },
];

export function register(program: Command): void {
  for (const v of VERBS) {
    pidCommand(program, v.action, v.what, async (c, pid) => ({
      answer: await c.control(pid, v.action),
      line: `${v.done} ${pid}`,
    }));
  }
}
