/**
 * `aos workspace path <pid>`: where a process's files are; `aos workspace rm <pid>`: delete an exited
 * process's own workspace (workspaces outlive their process).
 */
import type { Command } from 'commander';
import { termSafe } from '../format.js';
import { pidCommand } from './server-options.js';

export function register(program: Command): void {
  const ws = program
    .command('workspace')
    .description("a process's workspace (<security.workspace>/proc/<pid>; `aos ps -w` shows each one's)");
  pidCommand(
    ws,
    'path',
    'print the directory process <pid>\'s tools work in (its files: `cd "$(aos workspace path 3)"`)',
    async (c, pid) => {
      const p = await c.getProcess(pid);
      return { answer: { pid, workspace: p.workspace }, line: termSafe(p.workspace) };
    },
  );
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
