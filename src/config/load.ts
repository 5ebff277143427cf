/**
 * config.yaml → validated AosConfig. `${ENV}` and `${ENV:-default}` are interpolated in string values
 * after YAML parsing (so a value can never change the document's structure). Every error names the file,
 * the key path, what was found and what is expected.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { KernelError } from '../errors.js';
import { CONFIG_FILE } from '../param.js';
import { interpolateEnv } from './peek.js';
import { type AosConfig, configSchema } from './schema.js';

export interface LoadConfigOptions {
  /** Explicit file; when omitted, ./config.yaml is used if present, else defaults. */
  path?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface LoadedConfig {
  config: AosConfig;
  /** Absolute path of the file read, or null when running on defaults. */
  file: string | null;
  /** Environment variables referenced but unset (and without a default). */
  unsetEnv: string[];
}

export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const explicit = opts.path ?? env.AOS_CONFIG;
  const file = resolve(cwd, explicit ?? CONFIG_FILE);
  if (!existsSync(file)) {
    if (explicit) {
      throw new KernelError(
        'ECONFIG',
        `config file ${file} does not exist; create it with \`aos config init\``,
        {
          details: { file },
        },
      );
    }
    return { ...parseConfig({}, '<defaults>', env), file: null };
  }
  const text = readFileSync(file, 'utf8');
  return { ...parseConfigText(text, file, env), file };
}

export function parseConfigText(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Omit<LoadedConfig, 'file'> {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
    throw new KernelError('ECONFIG', `${where}: YAML syntax error: ${e.message.split('\n')[0]}`, {
      details: { file, line: pos?.line, col: pos?.col },
    });
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new KernelError(
      'ECONFIG',
      `${file}: expected a mapping of keys at the top level, found ${describe(raw)}`,
      {
        details: { file },
      },
    );
  }
  return parseConfig(raw, file, env);
}

/** Validates an already-parsed object (e.g. options passed to createKernel). */
export function parseConfig(
  raw: unknown,
  file = '<inline config>',
  env: NodeJS.ProcessEnv = process.env,
): Omit<LoadedConfig, 'file'> {
  const unset = new Set<string>();
  const interpolated = interpolateEnv(raw, env, unset);
  const res = configSchema.safeParse(interpolated);
  if (!res.success) throw configError(res.error, interpolated, file);
  return { config: res.data, unsetEnv: [...unset].sort() };
}

function configError(err: z.ZodError, input: unknown, file: string): KernelError {
  const lines = err.issues.slice(0, 5).map((issue) => {
    const path = issue.path.map(String);
    const keyPath = path.length ? path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      const at = path.length ? `${keyPath}.` : '';
      return `${file}: unknown key ${keys.map((k) => `'${at}${k}'`).join(', ')}: remove it or check its spelling`;
    }
    const found = describe(valueAt(input, path));
    return `${file}: key '${keyPath}': found ${found}, expected ${expectation(issue)}`;
  });
  const more = err.issues.length > 5 ? `\n(and ${err.issues.length - 5} more)` : '';
  return new KernelError('ECONFIG', lines.join('\n') + more, {
    details: { file, issues: err.issues.map((i) => ({ path: i.path.map(String), message: i.message })) },
  });
}

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `a value >= ${String(issue.minimum)}`;
    case 'too_big':
      return `a value <= ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}

function valueAt(root: unknown, path: string[]): unknown {
  let cur = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list (${v.length} items)`;
  if (typeof v === 'object') return 'a mapping';
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 60 ? `${s.slice(0, 57)}...` : s}`;
}
