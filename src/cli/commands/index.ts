/**
 * Every CLI command, in the order `aos --help` lists them: the top-level names a module registers, and how
 * to load it. main.ts loads only the module of the command being run (a command's imports — the kernel,
 * Fastify, the bench — are not paid by another); help and unknown commands load them all.
 */
import type { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

export const COMMANDS: ReadonlyArray<{ names: readonly string[]; load: () => Promise<CommandModule> }> = [
  { names: ['start'], load: () => import('./start.js') },
  { names: ['config'], load: () => import('./config.js') },
  { names: ['run'], load: () => import('./run.js') },
  { names: ['models'], load: () => import('./models.js') },
  { names: ['sim-llm'], load: () => import('./sim-llm.js') },
  { names: ['audit'], load: () => import('./audit.js') },
  { names: ['bench'], load: () => import('./bench.js') },
  { names: ['ps'], load: () => import('./ps.js') },
  { names: ['top'], load: () => import('./top.js') },
  { names: ['nodes'], load: () => import('./nodes.js') },
  { names: ['kill', 'suspend', 'resume'], load: () => import('./proc.js') },
  { names: ['approvals', 'approve', 'deny'], load: () => import('./approvals.js') },
  { names: ['chat', 'send', 'agents'], load: () => import('./chat.js') },
  { names: ['logs'], load: () => import('./logs.js') },
  { names: ['checkpoint', 'restore'], load: () => import('./checkpoint.js') },
  { names: ['workspace'], load: () => import('./workspace.js') },
  { names: ['shell'], load: () => import('./shell.js') },
  { names: ['tools'], load: () => import('./tools.js') },
  { names: ['mcp'], load: () => import('./mcp.js') },
  { names: ['memory'], load: () => import('./memory.js') },
  { names: ['plugins'], load: () => import('./plugins.js') },
  { names: ['trajectories', 'analyze', 'lessons', 'profile', 'eval'], load: () => import('./learning.js') },
];

/** Options of the root command that take a value (so the word after them is not the command name). */
const VALUE_OPTIONS = new Set(['-c', '--config']);

/** The command module(s) argv needs: the named command's alone, or all of them (help, unknown, none). */
export function commandsFor(args: readonly string[]): typeof COMMANDS {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    const hit = COMMANDS.find((c) => c.names.includes(a));
    return hit ? [hit] : COMMANDS;
  }
  return COMMANDS;
}
