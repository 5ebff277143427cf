/** `aos workspace rm <pid>`: delete an exited process's own workspace (workspaces outlive their process). */
import type { Command } from 'commander';
import { termSafe } from '../format.js';
import { pidCommand } from './server-options.js';

export function register(program: Command): void {
  const ws = program
    .command('workspace')
    .description("a process's workspace (<security.workspace>/proc/<pid>; `aos ps -w` shows each one's)");
  pidCommand(
    ws,
    'rm',
    "delete an exited process's own workspace (a live process's or a shared one is refused)",
    async (c, pid) => {
      const res = await c.removeWorkspace(pid);
      return {
        answer: res,
        line: `${res.removed ? 'removed' : 'nothing to remove at'} ${termSafe(res.path)} (pid ${pid})`,
      };
    },
  );
}
