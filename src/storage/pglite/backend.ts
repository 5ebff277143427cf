/**
 * Opening a PGlite backend: initdb (out of process), templates, the start settings and the session
 * setup every kernel database gets. Shared by the in-thread driver (./pglite-driver.ts) and the worker
 * thread (./worker.ts), so both open the same database the same way. The dir lock stays with the caller.
 */
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { KernelError } from '../../errors.js';
import { HNSW_EF_SEARCH, PGLITE_LOCK_FILE, PGLITE_SETTINGS, PGLITE_TEMPLATE_ENV } from '../../param.js';
import { backendError, ident } from '../sql.js';
import type { ProtocolModules } from './statements.js';
import { PGLITE_CHILD_FLAGS } from './wasm-tier.js';

export interface PgliteOptions {
  /** Directory for the database files; omitted = in-memory (lost on close). */
  dataDir?: string;
  schema?: string;
  /**
   * A template (see ../testing/pglite-template.ts) that a NEW database starts from instead of running
   * initdb: a file-backed dir that holds nothing yet gets a copy of template/data, an in-memory database
   * loads template/data.tar. An existing database ignores it. Saves seconds per database (initdb is most
   * of PGlite's open time); the caller still runs migrations, which then find nothing to do.
   */
  template?: string;
}

/** The template named by AOS_PGLITE_TEMPLATE, checked, or undefined when the variable is unset. */
export function pgliteTemplateFromEnv(): string | undefined {
  const dir = process.env[PGLITE_TEMPLATE_ENV];
  if (!dir) return undefined;
  if (!existsSync(join(dir, 'data', 'PG_VERSION')) || !existsSync(join(dir, 'data.tar'))) {
    throw new KernelError(
      'ECONFIG',
      `${PGLITE_TEMPLATE_ENV}=${dir} is not a PGlite template (no data/PG_VERSION or data.tar): create it with ` +
        `createPgliteTemplate(dir) from agent-os-kernel/testing, or unset ${PGLITE_TEMPLATE_ENV}`,
    );
  }
  return dir;
}

/** True when a data dir holds nothing but (maybe) our lockfile: PGlite would run initdb on it. */
function isFreshDir(dir: string): boolean {
  return readdirSync(dir).every((f) => f === PGLITE_LOCK_FILE);
}

/**
 * initdb for a new file-backed database in a child process. PGlite's initdb grows its WASM heap to ~700 MiB,
 * and a WASM heap never shrinks: run in the kernel's process, that peak would stay the kernel's RSS for
 * its whole life (measured: fresh open 512 MiB RSS / 819 MiB peak, reopen 180 MiB). The child exits and
 * gives it back. If the child cannot run (no node binary at execPath), initdb runs here as before.
 */
async function initdbOutOfProcess(dataDir: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  const code =
    `const { PGlite } = await import(${JSON.stringify(entry)});` +
    'const db = await PGlite.create({ dataDir: process.argv[1] }); await db.close(); process.exit(0);';
  const failed = await new Promise<string | null>((resolve) => {
    execFile(
      process.execPath,
      [...PGLITE_CHILD_FLAGS, '--input-type=module', '-e', code, dataDir],
      { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (err, _out, stderr) => resolve(err ? `${err.message} ${String(stderr).slice(-1000)}` : null),
    );
  });
  // A child that failed before writing anything leaves the open below to run initdb in-process.
  if (failed && !isFreshDir(dataDir)) throw new Error(`initdb (child process) failed: ${failed}`);
}

/**
 * The same for an in-memory database: the child runs initdb in memory and hands back the data dir as a
 * tarball (through a private temp dir), which this process loads instead of running initdb. Undefined
 * when the child could not run: the open then runs initdb in-process as before.
 */
async function initdbToTar(): Promise<Blob | undefined> {
  const { execFile } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  const dir = mkdtempSync(join(tmpdir(), 'aos-pglite-init-'));
  const tar = join(dir, 'data.tar');
  const code =
    `const { PGlite } = await import(${JSON.stringify(entry)}); const { writeFileSync } = await import('node:fs');` +
    "const db = await PGlite.create(); const b = await db.dumpDataDir('none');" +
    'writeFileSync(process.argv[1], Buffer.from(await b.arrayBuffer())); await db.close(); process.exit(0);';
  try {
    const ok = await new Promise<boolean>((resolve) => {
      execFile(
        process.execPath,
        [...PGLITE_CHILD_FLAGS, '--input-type=module', '-e', code, tar],
        { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
        (err) => resolve(!err),
      );
    });
    return ok && existsSync(tar) ? new Blob([readFileSync(tar)]) : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Backend {
  db: PGlite;
  protocol: ProtocolModules;
}

/** Opens (creating if new) the database at opts.dataDir or in memory, with the kernel's session setup. */
export async function openBackend(opts: PgliteOptions, location: string): Promise<Backend> {
  const schema = opts.schema ?? 'public';
  let db: PGlite;
  let protocol: ProtocolModules;
  try {
    // Loaded here, not at module top: importing the package must not cost a kernel on Postgres anything
    const [pglite, { vector }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('@electric-sql/pglite-pgvector'),
    ]);
    const { PGlite } = pglite;
    protocol = { serialize: pglite.protocol.serialize, parse: pglite.parse };
    let loadDataDir: Blob | undefined;
    if (opts.template && opts.dataDir && isFreshDir(opts.dataDir)) {
      cpSync(join(opts.template, 'data'), opts.dataDir, { recursive: true });
    } else if (opts.template && !opts.dataDir) {
      loadDataDir = new Blob([readFileSync(join(opts.template, 'data.tar'))]);
    } else if (opts.dataDir && isFreshDir(opts.dataDir)) {
      await initdbOutOfProcess(opts.dataDir);
    } else if (!opts.dataDir) {
      loadDataDir = await initdbToTar();
    }
    db = await PGlite.create({
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(loadDataDir ? { loadDataDir } : {}),
      extensions: { vector },
      startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((c) => ['-c', c])],
    });
  } catch (err) {
    throw new KernelError(
      'EBACKEND',
      `cannot open PGlite at ${location}: ${(err as Error).message}. If the directory holds files from ` +
        `another program or another PostgreSQL version, point storage.url at an empty directory.`,
      { cause: err, details: { location } },
    );
  }
  try {
    await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
    if (schema !== 'public') await db.exec(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    await db.exec(`SET search_path TO ${ident(schema)}, public`);
    // HNSW returns at most ef_search rows; iterative scans keep filtered searches (owner, payload) full
    await db.exec(`SET hnsw.ef_search = ${HNSW_EF_SEARCH}; SET hnsw.iterative_scan = relaxed_order`);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw backendError(err, location);
  }
  return { db, protocol };
}
