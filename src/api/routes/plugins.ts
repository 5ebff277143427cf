/**
 * Plugins at run time: list, add, remove (src/kernel/plugin-host.ts). A plugin is code the kernel runs with
 * its own rights, so adding and removing take an admin token; both are audited in the `kernel` stream.
 */
import { z } from 'zod';
import type { Kernel } from '../../kernel/kernel.js';
import { type AnyRoute, route } from '../route.js';
import * as S from '../schemas.js';

const pluginSchema = z.object({
  name: z.string(),
  module: z.string(),
  source: z.enum(['config', 'runtime']),
  loadedAt: z.string(),
  hooks: z.number().int(),
});

const addBody = z
  .object({
    /** A file path (relative to the config file's directory) or an installed package name. */
    module: z.string().min(1).max(4096),
    options: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export function pluginRoutes(k: Kernel): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/plugins',
      access: 'viewer',
      tag: 'system',
      summary: 'Loaded plugins: from config or added at run time, with the hooks each registered',
      response: S.listOf(pluginSchema),
      async handler() {
        return { items: k.plugins.list() };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/plugins',
      access: 'admin',
      tag: 'system',
      summary: 'Load a plugin into the running kernel (audited; not written to config.yaml)',
      body: addBody,
      status: 201,
      response: pluginSchema,
      async handler({ body, principal }) {
        const spec = body.options ? { module: body.module, options: body.options } : body.module;
        return k.plugins.add(spec, { by: `api:${principal.name}` });
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/plugins/:name',
      access: 'admin',
      tag: 'system',
      summary: 'Unload a plugin: its hooks are unregistered and its teardown runs (audited)',
      params: z.object({ name: z.string().min(1).max(200) }),
      response: pluginSchema,
      async handler({ params, principal }) {
        return k.plugins.remove(params.name, { by: `api:${principal.name}` });
      },
    }),
  ];
}
