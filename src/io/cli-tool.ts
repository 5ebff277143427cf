/**
 * Agent-native CLI tools: wrap a command-line program (git, rg, jq, psql, curl…) as a tool from a short
 * declaration. The argv is built from a template, never through a shell, and nothing is appended that the
 * program does not expect. Template elements:
 *   'log'          literal
 *   '{n}'          the argument n as one element (an array spreads into several); dropped when undefined/false
 *   '--max={n}'    substituted inside the element; the whole element dropped when n is undefined/false
 * A value standing alone that starts with '-' is refused (it would be read as an option) unless the
 * element follows a literal '--'. Runs in the sandbox; returns { exit_code, stdout, stderr, truncated }.
 */
import type { z } from 'zod';
import { KernelError } from '../errors.js';
import { runInSandbox } from './builtin/exec.js';
import {
  driverOverrides,
  GIT_SAFE_ARGS,
  GIT_SAFE_ENV,
  parseGitConfig,
  privateGitDirCommand,
  readRepoConfig,
  safeGitConfig,
} from './git-safe.js';
import { defineTool, type Permission, type Tool } from './tool.js';

export interface CliToolDeclaration<S extends z.ZodObject> {
  name: string;
  namespace?: string;
  description: string;
  /** The program (looked up on PATH inside the sandbox). */
  command: string;
  /** argv template (see the file header). */
  args: readonly string[];
  input: S;
  /** Argument whose value is fed to stdin (e.g. jq's document). */
  stdinFrom?: keyof z.infer<S> & string;
  /** Needs the network (subject to the policy's allowlist). Default false. */
  network?: boolean;
  /** Writes files (default true: most CLIs may). */
  writes?: boolean;
  idempotent?: boolean;
  timeoutMs?: number;
}

const PLACEHOLDER = /\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g;

export function buildArgv(template: readonly string[], values: Record<string, unknown>): string[] {
  const out: string[] = [];
  let afterDashDash = false;
  for (const el of template) {
    if (el === '--') {
      afterDashDash = true;
      out.push(el);
      continue;
    }
    const whole = /^\{([a-zA-Z_][a-zA-Z0-9_]*)\}$/.exec(el);
    if (whole) {
      const name = whole[1] as string;
      const v = values[name];
      if (v === undefined || v === null || v === false) continue;
      const items = Array.isArray(v) ? v.map(String) : [v === true ? '' : String(v)];
      for (const item of items) {
        if (item === '') continue;
        if (item.startsWith('-') && !afterDashDash) {
          throw new KernelError(
            'EINVAL',
            `argument ${name} ("${item}") starts with "-" and would be read as an option; remove the leading dash`,
            {
              details: { field: name },
            },
          );
        }
        out.push(item);
      }
      continue;
    }
    let drop = false;
    const s = el.replace(PLACEHOLDER, (_m, name: string) => {
      const v = values[name];
      if (v === undefined || v === null || v === false) {
        drop = true;
        return '';
      }
      return v === true ? '' : Array.isArray(v) ? v.map(String).join(',') : String(v);
    });
    if (!drop) out.push(s);
  }
  return out;
}

export function defineCliTool<S extends z.ZodObject>(d: CliToolDeclaration<S>): Tool<z.infer<S>, unknown> {
  for (const el of d.args) {
    for (const m of el.matchAll(PLACEHOLDER)) {
      if (!((m[1] as string) in d.input.shape)) {
        throw new KernelError(
          'EINVAL',
          `CLI tool ${d.name}: template uses {${m[1]}}, which its input schema does not define`,
        );
      }
    }
  }
  const permissions: Permission[] = ['exec', 'fs.read'];
  if (d.writes !== false) permissions.push('fs.write');
  if (d.network) permissions.push('net');
  return defineTool({
    name: d.name,
    ...(d.namespace ? { namespace: d.namespace } : {}),
    description: `${d.description} (runs \`${d.command}\` in the sandbox; returns exit_code, stdout, stderr)`,
    input: d.input,
    permissions,
    idempotent: d.idempotent ?? false,
    ...(d.timeoutMs ? { timeoutMs: d.timeoutMs } : { timeoutMs: 3_700_000 }),
    async run(args, ctx) {
      const values = args as Record<string, unknown>;
      const stdin = d.stdinFrom ? values[d.stdinFrom] : undefined;
      const io = {
        network: d.network ?? false,
        ...(stdin !== undefined ? { stdin: typeof stdin === 'string' ? stdin : JSON.stringify(stdin) } : {}),
      };
      const argv = buildArgv(d.args, values);
      if (!(d.command === 'git' || d.command.endsWith('/git'))) return runInSandbox(ctx, d.command, argv, io);
      // git runs no program the repository names (./git-safe.ts): read-only tools never read its config.
      const entries = parseGitConfig(await readRepoConfig(ctx));
      if (d.writes === false) {
        const p = privateGitDirCommand(safeGitConfig(entries));
        return runInSandbox(ctx, p.command, [...p.args, ...GIT_SAFE_ARGS, ...argv], {
          ...io,
          env: { ...GIT_SAFE_ENV, ...p.env },
        });
      }
      return runInSandbox(ctx, d.command, [...GIT_SAFE_ARGS, ...driverOverrides(entries), ...argv], {
        ...io,
        env: GIT_SAFE_ENV,
      });
    },
  });
}
