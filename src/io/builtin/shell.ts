/**
 * shell: runs a bash command line in the sandbox (cwd = workspace) under the process's resource limits.
 * Returns { exit_code, stdout, stderr, truncated }; a non-zero exit is a normal result the model reads,
 * a resource kill (time, memory, output) is an error naming the limit.
 */
import { z } from 'zod';
import { defineTool } from '../tool.js';
import { runInSandbox } from './exec.js';

export const shellTool = defineTool({
  name: 'shell',
  description:
    'Run a bash command in an isolated sandbox whose working directory is the workspace. Only the workspace (and allowed paths) are visible; network only to allowed hosts. Returns exit_code, stdout, stderr.',
  input: z.object({
    command: z.string().min(1).max(100_000).describe('bash command line'),
    stdin: z.string().optional(),
    timeout_s: z.number().positive().max(3600).optional().describe('wall-clock limit (capped by policy)'),
  }),
  permissions: ['exec'],
  idempotent: false,
  // The sandbox's wall-clock kill (policy max_wall_seconds) is the real limit; this is a backstop.
  timeoutMs: 3_700_000,
  async run(args, ctx) {
    return runInSandbox(ctx, '/bin/bash', ['-c', args.command], {
      ...(args.stdin !== undefined ? { stdin: args.stdin } : {}),
      ...(args.timeout_s ? { timeoutS: args.timeout_s } : {}),
    });
  },
});
