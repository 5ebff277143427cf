/**
 * openStorage(url): picks the driver from the URL and applies pending migrations.
 *   memory://            in-memory PGlite (tests, examples; gone on close)
 *   pglite://PATH        file-backed PGlite; PATH relative to the working directory
 *   postgres://…         a `pg` pool; `?schema=NAME` (or opts.schema) selects the schema
 */
import { join, resolve } from 'node:path';
import { KernelError } from '../errors.js';
import { PGLITE_WORKER_DEFAULT, PGLITE_WORKER_ENV } from '../param.js';
import { redactString } from '../util/redact.js';
import type { StorageDriver } from './driver.js';
import { migrate } from './migrations/index.js';
import { PgliteDriver, pgliteTemplateFromEnv } from './pglite/pglite-driver.js';
import { PgliteWorkerDriver } from './pglite/worker-driver.js';
import { PostgresDriver } from './postgres/postgres-driver.js';

export interface OpenStorageOptions {
  /** Base for an empty `pglite://` path (the data lives in DATA_DIR/data). */
  dataDir?: string;
  /** Schema holding the kernel's tables (default `public`). */
  schema?: string;
  poolMax?: number;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  /** PGlite in a worker thread (storage.pglite_worker); undefined: AOS_PGLITE_WORKER, else the default. */
  pgliteWorker?: boolean;
}

/** Whether a PGlite store runs in a worker thread: the option, else AOS_PGLITE_WORKER (1/0), else the default. */
export function pgliteWorkerWanted(opt: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (opt !== undefined) return opt;
  const raw = env[PGLITE_WORKER_ENV];
  if (raw === undefined || raw === '') return PGLITE_WORKER_DEFAULT;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new KernelError(
    'ECONFIG',
    `${PGLITE_WORKER_ENV}=${raw} is not 1 or 0: set it to 1 (worker thread), 0 (main thread), or unset it`,
  );
}

export type ParsedStorageUrl =
  | { kind: 'memory' }
  | { kind: 'pglite'; dataDir: string }
  | { kind: 'postgres'; url: string; schema: string | undefined };

export function parseStorageUrl(url: string, opts: OpenStorageOptions = {}): ParsedStorageUrl {
  if (url.startsWith('memory://')) return { kind: 'memory' };
  if (url.startsWith('pglite://')) {
    const path = url.slice('pglite://'.length);
    if (path === '' && !opts.dataDir) {
      throw new KernelError(
        'EINVAL',
        `storage url "${url}" has no path: use pglite://./.aos/data or pglite:///abs/dir`,
      );
    }
    return { kind: 'pglite', dataDir: resolve(path === '' ? join(opts.dataDir ?? '.', 'data') : path) };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new KernelError('EINVAL', `storage url "${redactString(url)}" is not a valid URL`);
    }
    const schema = u.searchParams.get('schema') ?? undefined;
    u.searchParams.delete('schema');
    return { kind: 'postgres', url: u.toString(), schema };
  }
  throw new KernelError(
    'EINVAL',
    `storage url "${redactString(url)}" is not supported: use memory://, pglite://PATH or postgres://user@host:5432/db`,
    { details: { url: redactString(url) } },
  );
}

export async function openStorage(url: string, opts: OpenStorageOptions = {}): Promise<StorageDriver> {
  const p = parseStorageUrl(url, opts);
  const driver: StorageDriver =
    p.kind === 'postgres'
      ? await PostgresDriver.open({
          url: p.url,
          schema: opts.schema ?? p.schema,
          ...(opts.poolMax ? { poolMax: opts.poolMax } : {}),
        })
      : await (pgliteWorkerWanted(opts.pgliteWorker) ? PgliteWorkerDriver : PgliteDriver).open({
          ...(p.kind === 'pglite' ? { dataDir: p.dataDir } : {}),
          ...(opts.schema ? { schema: opts.schema } : {}),
          // A migrated template only stands in for migrations that would run anyway, in the schema it holds
          ...(opts.migrate !== false && (opts.schema ?? 'public') === 'public'
            ? { template: pgliteTemplateFromEnv() }
            : {}),
        });
  if (opts.migrate !== false) {
    try {
      await migrate(driver);
    } catch (err) {
      await driver.close().catch(() => undefined);
      throw err;
    }
  }
  return driver;
}
