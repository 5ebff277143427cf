/**
 * Plugin loader: `plugins:` in config lists ESM modules exporting `{ name, setup(kernel, options) }`
 * (default or named `plugin` export). Paths resolve against the config file's directory.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KernelError } from '../errors.js';

export interface KernelPlugin<K = unknown> {
  name: string;
  setup(kernel: K, options: Record<string, unknown>): void | Promise<void> | (() => void | Promise<void>);
}

export type PluginSpec = string | { module: string; options?: Record<string, unknown> };

let fresh = 0;

/**
 * `fresh`: import a file module anew (a plugin added at run time after its file changed; ESM caches by
 * URL, so the URL gets a version query). Package names are imported as they are.
 */
export async function loadPlugins<K>(
  specs: PluginSpec[],
  kernel: K,
  baseDir: string,
  opts: { fresh?: boolean } = {},
): Promise<Array<{ name: string; teardown?: () => void | Promise<void> }>> {
  const loaded: Array<{ name: string; teardown?: () => void | Promise<void> }> = [];
  for (const spec of specs) {
    const mod = typeof spec === 'string' ? spec : spec.module;
    const options = typeof spec === 'string' ? {} : (spec.options ?? {});
    const file = mod.startsWith('.') || mod.startsWith('/');
    const target = file
      ? `${pathToFileURL(resolve(baseDir, mod)).href}${opts.fresh ? `?v=${Date.now()}-${++fresh}` : ''}`
      : mod;
    let ns: Record<string, unknown>;
    try {
      ns = (await import(target)) as Record<string, unknown>;
    } catch (err) {
      throw new KernelError('ECONFIG', `plugin '${mod}' could not be loaded: ${(err as Error).message}`, {
        details: { plugin: mod },
        cause: err,
      });
    }
    const plugin = (ns.default ?? ns.plugin) as KernelPlugin<K> | undefined;
    if (!plugin || typeof plugin.setup !== 'function' || typeof plugin.name !== 'string') {
      throw new KernelError(
        'ECONFIG',
        `plugin '${mod}' must export { name: string, setup(kernel) } as its default export or as 'plugin'`,
      );
    }
    const teardown = await plugin.setup(kernel, options);
    loaded.push(typeof teardown === 'function' ? { name: plugin.name, teardown } : { name: plugin.name });
  }
  return loaded;
}
