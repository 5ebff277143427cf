#!/usr/bin/env node
/**
 * `aos` / `kernel-cli`: the command-line face of the kernel. Each command lives in ./commands/<name>.ts and
 * exports `register(program)`; this file only wires them up and turns errors into messages that name a fix.
 * Only the module of the command being run is imported (./commands/index.ts), so start-up stays small.
 */
import { Command } from 'commander';
import { KernelError } from '../errors.js';
import { commandsFor } from './commands/index.js';

export async function main(argv = process.argv): Promise<void> {
  const program = new Command('aos')
    .description('agent-os-kernel: an operating-system kernel for AI agents')
    .version('0.1.0')
    .option('-c, --config <file>', 'config file (default ./config.yaml, or $AOS_CONFIG)')
    .showHelpAfterError('(run `aos --help` for usage)');
  program.configureOutput({ outputError: (s, write) => write(s) });
  const modules = await Promise.all(commandsFor(argv.slice(2)).map((c) => c.load()));
  for (const m of modules) m.register(program);
  await program.parseAsync(argv);
}

export function reportError(err: unknown): number {
  if (err instanceof KernelError) {
    process.stderr.write(`aos: ${err.code}: ${err.message}\n`);
    return err.code === 'EINVAL' || err.code === 'ECONFIG' ? 2 : 1;
  }
  process.stderr.write(`aos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

main().catch((err) => {
  process.exitCode = reportError(err);
});
