/**
 * `aos mcp list` connects to every server in `mcp.servers` and shows its state and tools;
 * `aos mcp add <name> [--url URL | -- command args…]` appends a server to config.yaml (comments kept).
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { saveMcpServer } from '../../config/edit.js';
import { loadConfig } from '../../config/load.js';
import { KernelError } from '../../errors.js';
import { McpManager } from '../../io/mcp/manager.js';
import { ToolRegistry } from '../../io/registry.js';
import { SecurityPolicy } from '../../security/policy.js';
import { createSandbox } from '../../security/sandbox/select.js';
import { setLogLevel } from '../../util/log.js';
import { style, table } from '../format.js';

export function register(program: Command): void {
  const cmd = program.command('mcp').description('list or add MCP servers (mcp.servers in config.yaml)');
  cmd
    .command('list')
    .description('connect to each configured MCP server and show its state and tools')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      setLogLevel('error');
      const { config, file } = loadConfig({ path: program.opts().config });
      if (config.mcp.servers.length === 0) {
        if (o.json) process.stdout.write('[]\n');
        else
          process.stdout.write(
            `no MCP servers configured in ${file ?? 'config.yaml'}; add one with \`aos mcp add\`\n`,
          );
        return;
      }
      const mgr = new McpManager(new ToolRegistry(), {
        sandbox: createSandbox(config.security.sandbox),
        workspace: ensureDir(resolve(config.security.workspace)),
        limits: new SecurityPolicy(config.security.default_policy).limits,
        dataDir: resolve(config.data_dir),
        ...(file ? { packageRoots: [dirname(file), process.cwd()] } : {}),
      });
      try {
        const st = await mgr.start(config.mcp.servers);
        if (o.json) process.stdout.write(`${JSON.stringify(st)}\n`);
        else
          process.stdout.write(
            table(
              ['SERVER', 'TRANSPORT', 'STATE', 'SANDBOXED', 'TOOLS'],
              st.map((s) => [
                s.name,
                s.transport,
                s.state === 'connected' ? style.green(s.state) : style.red(`${s.state}: ${s.error ?? ''}`),
                s.sandboxed ? 'yes' : 'no',
                s.tools.join(', '),
              ]),
            ),
          );
        if (st.some((s) => s.state !== 'connected')) process.exitCode = 1;
      } finally {
        await mgr.close();
      }
    });
  cmd
    .command('add')
    .description(
      'add a server to config.yaml: `aos mcp add fs -- node server.js ./workspace` or `aos mcp add api --url https://…/mcp`',
    )
    .argument('<name>', 'server name (letters, digits, _ and -); its tools become <name>.<tool>')
    .argument('[command...]', 'stdio: the command line that starts the server')
    .option('--url <url>', 'streamable-HTTP endpoint instead of a command')
    .option('--no-sandbox', 'start the stdio server outside the sandbox')
    .option('--timeout-ms <n>', 'per-call timeout')
    .option(
      '-e, --env <K=V>',
      'environment variable for the server, NAME=value (repeatable)',
      (v: string, acc: string[]) => acc.concat(v),
      [] as string[],
    )
    .action(
      (
        name: string,
        command: string[],
        o: { url?: string; sandbox: boolean; timeoutMs?: string; env: string[] },
      ) => {
        const file = resolve(program.opts().config ?? process.env.AOS_CONFIG ?? 'config.yaml');
        if (!o.url && command.length === 0)
          throw new KernelError('EINVAL', 'give the server command after --, or --url for an HTTP server');
        const entry: Record<string, unknown> = o.url
          ? { name, transport: 'http', url: o.url }
          : {
              name,
              transport: 'stdio',
              command: command[0],
              args: command.slice(1),
              ...(o.sandbox ? {} : { sandbox: false }),
            };
        if (o.timeoutMs) entry.timeout_ms = Number(o.timeoutMs);
        if (o.env.length) entry.env = parseEnv(o.env);
        saveMcpServer(file, entry); // EEXIST when the name is taken; comments kept
        process.stdout.write(`added mcp server ${name} to ${file}; check it with \`aos mcp list\`\n`);
      },
    );
}

/** `K=V` pairs from --env; a malformed one is an error naming it. */
export function parseEnv(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(p);
    if (!m) throw new KernelError('EINVAL', `--env wants NAME=value, got "${p}"`);
    env[m[1]!] = m[2]!;
  }
  return env;
}

function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
