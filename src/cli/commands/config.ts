/** `aos config init|show|check`. */
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { CONFIG_TEMPLATE } from '../../config/template.js';
import { KernelError } from '../../errors.js';
import { redact } from '../../util/redact.js';

export function register(program: Command): void {
  const cmd = program.command('config').description('create, show or check config.yaml');
  cmd
    .command('init')
    .description('write a commented config.yaml in the current directory')
    .option('-o, --output <file>', 'where to write it', 'config.yaml')
    .option('-f, --force', 'overwrite an existing file')
    .action((opts: { output: string; force?: boolean }) => {
      const file = resolve(opts.output);
      if (existsSync(file) && !opts.force) {
        throw new KernelError('EEXIST', `${file} already exists; pass --force to overwrite it`);
      }
      writeFileSync(file, CONFIG_TEMPLATE, { mode: 0o600 });
      process.stdout.write(`wrote ${file}\n`);
    });
  cmd
    .command('show')
    .description('print the effective configuration (secrets redacted)')
    .action(() => {
      const { config, file } = loadConfig({ path: program.opts().config });
      process.stdout.write(
        `# ${file ?? 'defaults (no config.yaml)'}\n${JSON.stringify(redact(config), null, 2)}\n`,
      );
    });
  cmd
    .command('check')
    .description('validate the configuration and report unset environment variables')
    .action(() => {
      const { file, unsetEnv } = loadConfig({ path: program.opts().config });
      process.stdout.write(`ok: ${file ?? 'defaults (no config.yaml)'}\n`);
      if (unsetEnv.length) process.stdout.write(`unset environment variables: ${unsetEnv.join(', ')}\n`);
    });
}
