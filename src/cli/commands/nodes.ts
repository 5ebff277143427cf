/**
 * `aos nodes`: the kernel nodes sharing this storage (a PostgreSQL server), with health and load, read
 * straight from the nodes table — the cluster's truth, whichever node (if any) serves the API. On PGlite
 * there is one kernel and no nodes table to speak of: it says so.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { BudgetGrantStore } from '../../storage/coordination/budget-grants.js';
import { NodeStore } from '../../storage/state/nodes.js';
import { createStorage } from '../../storage/storage.js';
import { style, table, writeOut } from '../format.js';

export function register(program: Command): void {
  program
    .command('nodes')
    .description('list the kernel nodes on this storage (PostgreSQL server) with their health and load')
    .option('--storage <url>', 'storage URL (default from config)')
    .option('--json', 'print { items } as JSON')
    .action(async (opts: { storage?: string; json?: boolean }) => {
      const { config } = loadConfig({ path: program.opts().config });
      const url = opts.storage ?? config.storage.url;
      const storage = await createStorage(url, { dataDir: config.data_dir });
      try {
        if (storage.driver.kind !== 'postgres') {
          const msg = `${storage.driver.location} is embedded storage: one kernel, no cluster. Multi-node needs a PostgreSQL server URL (storage.url: postgres://…).`;
          if (opts.json) process.stdout.write(`${JSON.stringify({ items: [], note: msg }, null, 2)}\n`);
          else writeOut(`${msg}\n`);
          return;
        }
        const items = await new NodeStore(storage.driver).list();
        // Read from outside any node: reservations count while their node is alive.
        const budgets = await new BudgetGrantStore(storage.driver, '').pools();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ items, budgets }, null, 2)}\n`);
          return;
        }
        const now = Date.now();
        writeOut(
          `${table(
            ['NODE', 'HOST', 'PID', 'HEALTH', 'PROCS', 'HEARTBEAT', 'LEASE', 'STARTED'],
            items.map((n) => [
              n.id,
              n.host,
              n.pid ?? '-',
              n.alive ? style.green('up') : n.state === 'left' ? style.dim('left') : style.red('dead'),
              n.processes,
              `${Math.max(0, Math.round((now - n.heartbeatAt.getTime()) / 1000))}s ago`,
              `${n.leaseMs / 1000}s`,
              n.startedAt.toISOString(),
            ]),
          )}\n${items.length} node(s), ${items.filter((n) => n.alive).length} up\n`,
        );
        if (budgets.length)
          writeOut(
            `\n${table(
              ['BUDGET (all nodes)', 'LIMIT', 'USED', 'SPENT'],
              budgets.map((b) => [
                b.name,
                fmtBudget(b.name, b.limit),
                fmtBudget(b.name, b.used),
                fmtBudget(b.name, b.spent),
              ]),
            )}\n`,
          );
      } finally {
        await storage.close();
      }
    });
}

function fmtBudget(name: string, n: number): string {
  return name.endsWith(':cost') ? `$${n.toFixed(4)}` : String(Math.round(n));
}
