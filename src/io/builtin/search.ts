/**
 * search: ripgrep over the workspace (or an allowed path), run in the sandbox. The pattern goes after
 * `-e` and the path after `--`, so neither can be read as an rg option.
 */
import { z } from 'zod';
import { KernelError } from '../../errors.js';
import { defineTool } from '../tool.js';
import { runInSandbox } from './exec.js';

export const searchTool = defineTool({
  name: 'search',
  description:
    'Search file contents with ripgrep (regular expression). Returns path:line:text for each match.',
  input: z.object({
    pattern: z.string().min(1).describe('regular expression (Rust regex syntax)'),
    path: z.string().min(1).optional().describe('directory or file to search (default: the workspace)'),
    glob: z.string().optional().describe('only files matching this glob, e.g. "*.ts"'),
    ignore_case: z.boolean().optional(),
    fixed_strings: z.boolean().optional().describe('treat the pattern as a literal string'),
    max_results: z.number().int().positive().max(10_000).optional(),
  }),
  permissions: ['fs.read', 'exec'],
  idempotent: true,
  timeoutMs: 120_000,
  async run(args, ctx) {
    const target = ctx.policy.resolvePath(args.path ?? '.', 'read', ctx.workspace);
    const rg = ['--line-number', '--no-heading', '--color', 'never', '--max-columns', '500'];
    rg.push('--max-count', String(args.max_results ?? 200));
    if (args.ignore_case) rg.push('--ignore-case');
    if (args.fixed_strings) rg.push('--fixed-strings');
    if (args.glob) rg.push('--glob', args.glob);
    rg.push('-e', args.pattern, '--', target);
    const r = await runInSandbox(ctx, 'rg', rg, { network: false });
    if (r.exit_code === 1) return 'no matches';
    if (r.exit_code !== 0)
      throw new KernelError('EINVAL', `ripgrep failed: ${r.stderr.trim() || `exit code ${r.exit_code}`}`);
    const lines = r.stdout.split('\n').filter(Boolean);
    const max = args.max_results ?? 200;
    const shown = lines.slice(0, max).join('\n');
    return lines.length > max
      ? `${shown}\n[${lines.length - max} more matches not shown; narrow the pattern or path]`
      : shown;
  },
});
