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

/**
 * git reads code to run from the repository it inspects (core.fsmonitor runs on every `git status`, hooks,
 * pagers, ssh commands), and the workspace is the agents' to write: a planted .git/config would run under
 * whichever process calls the tool next. Command-line `-c` wins over the repository's config; system and
 * global config are not read at all.
 */
const GIT_SAFE_ARGS = [
  '-c',
  'core.fsmonitor=false',
  '-c',
  'core.hooksPath=/dev/null',
  '-c',
  'core.pager=cat',
  '-c',
  'core.sshCommand=false',
  '-c',
  'protocol.ext.allow=never',
];
const GIT_SAFE_ENV = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  GIT_OPTIONAL_LOCKS: '0',
  GIT_PAGER: 'cat',
};

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
      const git = d.command === 'git' || d.command.endsWith('/git');
      const argv = [...(git ? GIT_SAFE_ARGS : []), ...buildArgv(d.args, values)];
      const stdin = d.stdinFrom ? values[d.stdinFrom] : undefined;
      return runInSandbox(ctx, d.command, argv, {
        network: d.network ?? false,
        ...(git ? { env: GIT_SAFE_ENV } : {}),
        ...(stdin !== undefined ? { stdin: typeof stdin === 'string' ? stdin : JSON.stringify(stdin) } : {}),
      });
    },
  });
}
