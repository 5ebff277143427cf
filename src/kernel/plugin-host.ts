/**
 * The plugins of a running kernel: those config's `plugins:` lists (loaded at boot) and those an admin adds
 * or removes at run time (`kernel.plugins`, `POST/DELETE /api/v1/plugins`, `aos plugins`). A plugin gets
 * the kernel with a hook bus of its own: every handler it registers is tracked, so removing it takes its
 * hooks away even when it returns no teardown. Adding and removing are audited in the `kernel` stream —
 * a plugin is code the kernel runs with its own rights, so the API lets only admins do it.
 */
import { isAbsolute, resolve } from 'node:path';
import { KernelError } from '../errors.js';
import type { HookBus, HookName } from '../hooks/bus.js';
import { loadPlugins, type PluginSpec } from '../hooks/plugins.js';
import { protectPaths } from '../security/secrets.js';
import type { AuditSink } from '../storage/audit/audit-log.js';
import { logger } from '../util/log.js';

const log = logger('kernel');

export interface PluginInfo {
  name: string;
  module: string;
  /** `config`: listed in config.yaml (loaded at boot); `runtime`: added while the kernel runs. */
  source: 'config' | 'runtime';
  loadedAt: string;
  /** Hook handlers it has registered (and that removing it unregisters). */
  hooks: number;
}

interface Loaded extends PluginInfo {
  offs: Array<() => void>;
  teardown?: () => void | Promise<void>;
}

export class PluginHost<K extends { hooks: HookBus }> {
  private readonly loaded = new Map<string, Loaded>();

  constructor(
    private readonly kernel: K,
    private readonly baseDir: string,
    private readonly audit: () => AuditSink | undefined,
  ) {}

  list(): PluginInfo[] {
    return [...this.loaded.values()].map(({ offs, teardown, ...info }) => ({ ...info, hooks: offs.length }));
  }

  /** Loads one plugin (a path, relative to the config file's directory, or a package name). */
  async add(spec: PluginSpec, o: { source?: 'config' | 'runtime'; by?: string } = {}): Promise<PluginInfo> {
    const source = o.source ?? 'runtime';
    const module = typeof spec === 'string' ? spec : spec.module;
    if (!module.trim())
      throw new KernelError('EINVAL', 'a plugin needs a module: a file path or a package name');
    // Like config's plugin files, one added at run time is out of every agent's reach from now on: an
    // agent that could edit it would run its code in the kernel the next time it is loaded.
    if (module.startsWith('.') || isAbsolute(module)) protectPaths([resolve(this.baseDir, module)]);
    const offs: Array<() => void> = [];
    const [p] = await loadPlugins([spec], this.scoped(offs), this.baseDir, { fresh: source === 'runtime' });
    const name = p!.name;
    if (this.loaded.has(name)) {
      await this.undo(offs, p!.teardown, name);
      throw new KernelError(
        'EEXIST',
        `a plugin named '${name}' is already loaded (from ${this.loaded.get(name)!.module}); remove it first`,
        { details: { name } },
      );
    }
    const entry: Loaded = { name, module, source, loadedAt: new Date().toISOString(), hooks: 0, offs };
    if (p!.teardown) entry.teardown = p!.teardown;
    this.loaded.set(name, entry);
    if (source === 'runtime') await this.record('plugin.add', o.by, { name, module, hooks: offs.length });
    return { ...this.list().find((x) => x.name === name)! };
  }

  /** Unregisters the plugin's hooks and runs its teardown. */
  async remove(name: string, o: { by?: string } = {}): Promise<PluginInfo> {
    const entry = this.loaded.get(name);
    if (!entry) {
      const names = [...this.loaded.keys()];
      throw new KernelError(
        'ENOTFOUND',
        `no plugin named '${name}' is loaded; loaded: ${names.length ? names.join(', ') : 'none'}`,
        { details: { name } },
      );
    }
    const info = { ...entry, hooks: entry.offs.length };
    this.loaded.delete(name);
    await this.undo(entry.offs, entry.teardown, name);
    await this.record('plugin.remove', o.by, { name, module: entry.module, source: entry.source });
    const { offs: _o, teardown: _t, ...out } = info;
    return out;
  }

  /** Removes every plugin, newest first (kernel shutdown). */
  async closeAll(): Promise<void> {
    for (const entry of [...this.loaded.values()].reverse()) {
      this.loaded.delete(entry.name);
      await this.undo(entry.offs, entry.teardown, entry.name);
    }
  }

  /** The kernel as a plugin sees it: the same object, but `hooks.on` remembers what to unregister. */
  private scoped(offs: Array<() => void>): K {
    const bus = this.kernel.hooks;
    const hooks = Object.create(bus) as HookBus;
    hooks.on = ((name: HookName, fn: Parameters<HookBus['on']>[1], owner?: string) => {
      const off = bus.on(name, fn, owner);
      offs.push(off);
      return off;
    }) as HookBus['on'];
    return new Proxy(this.kernel, {
      get(target, prop) {
        if (prop === 'hooks') return hooks;
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  private async undo(
    offs: Array<() => void>,
    teardown: (() => void | Promise<void>) | undefined,
    name: string,
  ) {
    for (const off of offs.splice(0)) off();
    if (teardown)
      await Promise.resolve()
        .then(teardown)
        .catch((e) => log.warn(`plugin ${name}: teardown failed: ${String(e)}`));
  }

  private async record(
    kind: string,
    by: string | undefined,
    payload: Record<string, unknown>,
  ): Promise<void> {
    await this.audit()?.append({ stream: 'kernel', kind, actor: by ?? 'kernel', payload });
  }
}
