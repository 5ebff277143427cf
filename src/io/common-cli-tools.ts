/** Ready declarations for common CLIs (git, jq), opt-in: register the ones you want. */
import { z } from 'zod';
import { defineCliTool } from './cli-tool.js';

export const COMMON_CLI_TOOLS = {
  git_log: () =>
    defineCliTool({
      name: 'git_log',
      namespace: 'cli',
      description: 'Show recent commits of the git repository in the workspace',
      command: 'git',
      args: ['log', '--oneline', '--max-count={count}', '--', '{path}'],
      input: z.object({
        count: z.number().int().positive().max(1000).default(20),
        path: z.string().optional(),
      }),
      idempotent: true,
      writes: false,
    }),
  git_status: () =>
    defineCliTool({
      name: 'git_status',
      namespace: 'cli',
      description: 'Show the working-tree status of the git repository in the workspace',
      command: 'git',
      args: ['status', '--short', '--branch'],
      input: z.object({}),
      idempotent: true,
      writes: false,
    }),
  jq: () =>
    defineCliTool({
      name: 'jq',
      namespace: 'cli',
      description: 'Run a jq filter over a JSON document',
      command: 'jq',
      args: ['{filter}'],
      input: z.object({ filter: z.string().min(1), document: z.string() }),
      stdinFrom: 'document',
      idempotent: true,
      writes: false,
    }),
};
