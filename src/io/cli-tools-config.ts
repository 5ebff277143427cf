/**
 * `cli_tools:` from config as tools: a shipped declaration by name (./common-cli-tools.ts) or a declaration
 * written in YAML (program, argv template, typed params). Registered as `cli.<name>` beside the built-ins,
 * so the built-in agent is offered them under its policy like any other tool.
 */
import { z } from 'zod';
import type { AosConfig } from '../config/schema.js';
import { KernelError } from '../errors.js';
import { defineCliTool } from './cli-tool.js';
import { COMMON_CLI_TOOLS } from './common-cli-tools.js';
import type { AnyTool } from './tool.js';

type Entry = AosConfig['cli_tools'][number];

function paramSchema(p: { type: string; description?: string | undefined; optional: boolean }): z.ZodType {
  let s: z.ZodType =
    p.type === 'number'
      ? z.number()
      : p.type === 'integer'
        ? z.number().int()
        : p.type === 'boolean'
          ? z.boolean()
          : p.type === 'array'
            ? z.array(z.string())
            : z.string();
  if (p.description) s = s.describe(p.description);
  return p.optional ? s.optional() : s;
}

export function cliToolsFromConfig(entries: readonly Entry[]): AnyTool[] {
  return entries.map((e, i) => {
    if (typeof e === 'string') {
      const make = COMMON_CLI_TOOLS[e as keyof typeof COMMON_CLI_TOOLS];
      if (!make)
        throw new KernelError(
          'ECONFIG',
          `cli_tools[${i}]: no shipped CLI tool named '${e}'; shipped: ${Object.keys(COMMON_CLI_TOOLS).join(', ')} (or declare one with name, command, args, params)`,
        );
      return make() as unknown as AnyTool;
    }
    const shape: Record<string, z.ZodType> = {};
    for (const [k, p] of Object.entries(e.params)) shape[k] = paramSchema(p);
    if (e.stdin && !(e.stdin in shape))
      throw new KernelError(
        'ECONFIG',
        `cli_tools[${i}] (${e.name}): stdin names '${e.stdin}', which params lacks`,
      );
    return defineCliTool({
      name: e.name,
      namespace: 'cli',
      description: e.description,
      command: e.command,
      args: e.args,
      input: z.object(shape),
      ...(e.stdin ? { stdinFrom: e.stdin } : {}),
      network: e.network,
      writes: e.writes,
      ...(e.timeout_ms ? { timeoutMs: e.timeout_ms } : {}),
    }) as unknown as AnyTool;
  });
}
