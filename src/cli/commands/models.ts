/** `aos models`: the configured models with provider, context window, prices and whether a key is present. */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { LLMProviderFactory } from '../../llm/factory.js';
import { table } from '../format.js';

const money = (n: number | undefined) => (n === undefined ? '-' : `$${n}`);

export function register(program: Command): void {
  program
    .command('models')
    .description('list configured models: provider, context window, prices per 1M tokens, key present')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const { config } = loadConfig({ path: program.opts().config });
      const reg = LLMProviderFactory.fromConfig(config);
      const list = reg.list();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      const rows = list.map((m) => [
        `${m.name}${m.isDefault ? ' *' : ''}`,
        m.provider,
        m.contextWindow ?? '-',
        money(m.price?.input),
        money(m.price?.cachedInput),
        money(m.price?.output),
        m.keyPresent ? 'yes' : `no (${m.keyEnv ?? '-'})`,
      ]);
      process.stdout.write(
        table(['MODEL', 'PROVIDER', 'CONTEXT', 'IN/1M', 'CACHED/1M', 'OUT/1M', 'KEY'], rows),
      );
      process.stdout.write(
        '* default model. Prices are list prices from the catalogue (src/llm/catalog.ts), dated per entry.\n',
      );
    });
}
