/**
 * The three keys a CLI command needs to find a running server — `server.host`, `server.port`, `data_dir`
 * (where `admin.token` lives) — read from config.yaml without validating the rest. Validation builds the
 * whole zod schema (~80 ms of a command's start-up); the server has validated its config when it booted.
 * Same file resolution, YAML parser, `${ENV}` rules and defaults as load.ts. Anything unexpected (a missing
 * explicit file, a YAML error, a value of the wrong type) returns null: the caller then runs loadConfig,
 * which names the error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_FILE, DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT } from '../param.js';

/** The shape of those keys in AosConfig, so a full config serves as one too. */
export interface ServerLocation {
  server: { host: string; port: number };
  data_dir: string;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** `${NAME}` and `${NAME:-default}` in every string of `value`; names that are unset are added to `unset`. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, unset: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, def: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      unset.add(name);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v) => interpolateEnv(v, env, unset));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateEnv(v, env, unset);
    return out;
  }
  return value;
}

export async function peekServerLocation(
  opts: { path?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ServerLocation | null> {
  const env = opts.env ?? process.env;
  const explicit = opts.path ?? env.AOS_CONFIG;
  const file = resolve(opts.cwd ?? process.cwd(), explicit ?? CONFIG_FILE);
  let raw: unknown = {};
  if (existsSync(file)) {
    const { parseDocument } = await import('yaml');
    const doc = parseDocument(readFileSync(file, 'utf8'), { uniqueKeys: true });
    if (doc.errors.length > 0) return null;
    raw = doc.toJS() ?? {};
  } else if (explicit) return null;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const top = raw as { server?: unknown; data_dir?: unknown };
  const server = interpolateEnv(top.server ?? {}, env, new Set()) as { host?: unknown; port?: unknown };
  const dataDir = interpolateEnv(top.data_dir ?? DEFAULT_DATA_DIR, env, new Set());
  if (typeof server !== 'object' || server === null || Array.isArray(server)) return null;
  const host = server.host ?? DEFAULT_HOST;
  const port = server.port ?? DEFAULT_PORT;
  if (typeof host !== 'string' || typeof dataDir !== 'string') return null;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { server: { host, port }, data_dir: dataDir };
}
