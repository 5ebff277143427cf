/**
 * `aos plugins [list]`, `aos plugins add <module>`, `aos plugins remove <name>`: the running kernel's
 * plugins, through its server (a plugin lives in the kernel process). Adding and removing need the admin
 * token and are audited; a plugin added here is not written to config.yaml (list it under `plugins:` to
 * load it at every boot). A relative path is taken from the directory you run the command in.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import type { PluginInfo } from '../../kernel/plugin-host.js';
import { type HttpClient, serverClient } from '../client.js';
import { table, termSafe, writeOut } from '../format.js';
import { clientOpts, URL_OPTION } from './server-options.js';

type Opts = { url?: string; json?: boolean };

async function server(program: Command, o: Opts): Promise<HttpClient> {
  const c = await serverClient(clientOpts(program, o));
  if (!c) {
    throw new KernelError(
      'ESTATE',
      'no kernel server answers: plugins live in a running kernel. Start one with `aos start` (or set AOS_URL); to load a plugin at every boot, list it under `plugins:` in config.yaml',
    );
  }
  return c;
}

function line(p: PluginInfo): string {
  return `${termSafe(p.name)} (${termSafe(p.module)}, ${p.source}, ${p.hooks} hook(s))`;
}

export function register(program: Command): void {
  const cmd = program.command('plugins').description('plugins of the running kernel: list, add, remove');
  const list = async (o: Opts) => {
    const c = await server(program, o);
    const { items } = await c.request<{ items: PluginInfo[] }>('GET', '/plugins');
    if (o.json) return writeOut(`${JSON.stringify({ items }, null, 2)}\n`);
    if (!items.length) return writeOut('no plugins loaded\n');
    writeOut(
      `${table(
        ['NAME', 'MODULE', 'SOURCE', 'HOOKS', 'LOADED'],
        items.map((p) => [termSafe(p.name), termSafe(p.module), p.source, p.hooks, p.loadedAt]),
      )}\n`,
    );
  };
  cmd
    .command('list', { isDefault: true })
    .description('loaded plugins, from config or added at run time')
    .option(...URL_OPTION)
    .option('--json', 'print { items } as JSON')
    .action(list);
  cmd
    .command('add')
    .description('load a plugin (a file path or a package name) into the running kernel (admin token)')
    .argument('<module>', 'path to an ES module exporting { name, setup(kernel) }, or a package name')
    .option('-o, --option <key=value...>', 'options handed to setup(kernel, options)')
    .option(...URL_OPTION)
    .option('--json', 'print the plugin as JSON')
    .action(async (module: string, o: Opts & { option?: string[] }) => {
      // a file here (guard.mjs, ./guard.mjs, /abs/guard.mjs) is sent as its absolute path; else a package name
      const file = module.startsWith('.') || isAbsolute(module) || existsSync(resolve(module));
      const options: Record<string, string> = {};
      for (const kv of o.option ?? []) {
        const at = kv.indexOf('=');
        if (at <= 0) throw new KernelError('EINVAL', `--option ${kv}: expected key=value`);
        options[kv.slice(0, at)] = kv.slice(at + 1);
      }
      const c = await server(program, o);
      const p = await c.request<PluginInfo>('POST', '/plugins', {
        module: file ? resolve(module) : module,
        ...(Object.keys(options).length ? { options } : {}),
      });
      writeOut(o.json ? `${JSON.stringify(p)}\n` : `loaded ${line(p)}\n`);
    });
  cmd
    .command('remove')
    .description('unload a plugin: its hooks are unregistered and its teardown runs (admin token)')
    .argument('<name>', 'the plugin name (see `aos plugins`)')
    .option(...URL_OPTION)
    .option('--json', 'print the removed plugin as JSON')
    .action(async (name: string, o: Opts) => {
      const c = await server(program, o);
      const p = await c.request<PluginInfo>('DELETE', `/plugins/${encodeURIComponent(name)}`);
      writeOut(o.json ? `${JSON.stringify(p)}\n` : `removed ${line(p)}\n`);
    });
}
