/** `aos tools [--json] [--no-mcp]`: every tool a process can be offered — built-ins and MCP servers' tools. */

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { builtinTools } from '../../io/builtin/index.js';
import { McpManager } from '../../io/mcp/manager.js';
import { ToolRegistry, toWireName } from '../../io/registry.js';
import { fullToolName } from '../../io/tool.js';
import { SecurityPolicy } from '../../security/policy.js';
import { createSandbox } from '../../security/sandbox/select.js';
import { setLogLevel } from '../../util/log.js';
import { table } from '../format.js';

export function register(program: Command): void {
  program
    .command('tools')
    .description('list the tools agents can use (built-ins and configured MCP servers)')
    .option('--json', 'machine-readable output (with JSON Schemas)')
    .option('--no-mcp', 'do not start the configured MCP servers')
    .action(async (o: { json?: boolean; mcp: boolean }) => {
      setLogLevel('error');
      const { config } = loadConfig({ path: program.opts().config });
      const registry = new ToolRegistry().registerAll(builtinTools());
      const policy = new SecurityPolicy(config.security.default_policy);
      let mcp: McpManager | null = null;
      if (o.mcp && config.mcp.servers.length) {
        mcp = new McpManager(registry, {
          sandbox: createSandbox(config.security.sandbox),
          workspace: ensureDir(resolve(config.security.workspace)),
          limits: policy.limits,
        });
        await mcp.start(config.mcp.servers);
      }
      try {
        const rows = registry.list().map((t) => {
          const full = fullToolName(t);
          return {
            name: full,
            wire: toWireName(full),
            permissions: t.permissions,
            idempotent: t.idempotent === true,
            decision: policy.checkTool(full, t.permissions).decision,
            description: t.description,
            parameters: registry.jsonSchema(t),
          };
        });
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ tools: rows, mcp: mcp?.status() ?? [] })}\n`);
          return;
        }
        process.stdout.write(
          table(
            ['TOOL', 'PERMISSIONS', 'DEFAULT POLICY', 'DESCRIPTION'],
            rows.map((r) => [
              r.name,
              r.permissions.join(',') || '-',
              r.decision,
              r.description.split('\n')[0]!.slice(0, 70),
            ]),
          ),
        );
        for (const s of mcp?.status() ?? []) {
          if (s.state !== 'connected')
            process.stdout.write(`mcp server ${s.name}: ${s.state}${s.error ? ` (${s.error})` : ''}\n`);
        }
      } finally {
        await mcp?.close();
      }
    });
}

function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
