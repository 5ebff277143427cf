/** `aos bench [suite...] [--quick]`: runs bench suites (src/bench), writes bench/results/*.json, prints tables. */
import type { Command } from 'commander';
import { runBenches } from '../../bench/harness.js';
import { findSuites, SUITES } from '../../bench/index.js';

export function register(program: Command): void {
  program
    .command('bench')
    .description('measure the kernel against baselines; results as JSON in bench/results/')
    .argument('[suites...]', `suites to run (default all: ${SUITES.map((s) => s.name).join(', ')})`)
    .option('-q, --quick', 'small sizes, for CI (writes <suite>.quick.json)')
    .option('-o, --out <dir>', 'results directory', 'bench/results')
    .option('--list', 'list the suites and exit')
    .option('--json', 'print the results as JSON instead of tables')
    .action(
      async (names: string[], opts: { quick?: boolean; out: string; list?: boolean; json?: boolean }) => {
        if (opts.list) {
          for (const s of SUITES) process.stdout.write(`${s.name}\t${s.subsystem}\n`);
          return;
        }
        const results = await runBenches(findSuites(names), {
          quick: opts.quick ?? false,
          outDir: opts.out,
          ...(opts.json ? { out: (l: string) => process.stderr.write(`${l}\n`) } : {}),
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      },
    );
}
