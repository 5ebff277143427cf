/**
 * PgliteDriver: embedded PostgreSQL (WASM) with real pgvector. One connection, so every statement and
 * transaction goes through one mutex; LISTEN/NOTIFY is in-process. A file-backed data dir is guarded by a
 * lockfile (./lockfile.ts). PGlite does not fsync: committed rows survive kill -9, not a power cut.
 */
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { KernelError } from '../../errors.js';
import {
  HNSW_EF_SEARCH,
  PGLITE_LOCK_FILE,
  PGLITE_SETTINGS,
  PGLITE_TEMPLATE_ENV,
  PGLITE_YIELD_MS,
} from '../../param.js';
import type { Queryable, QueryResult, StorageCapabilities, StorageDriver } from '../driver.js';
import { backendError, ident } from '../sql.js';
import { tightenHeapGrowth } from './heap-growth.js';
import { acquireDirLock, type DirLock } from './lockfile.js';
import { type ProtocolModules, Statements } from './statements.js';

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
      ['--input-type=module', '-e', code, dataDir],
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
        ['--input-type=module', '-e', code, tar],
        { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
        (err) => resolve(!err),
      );
    });
    return ok && existsSync(tar) ? new Blob([readFileSync(tar)]) : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * FIFO mutex: PGlite has one backend, so the kernel's statements must not interleave with a transaction.
 * PGlite runs a statement synchronously in WASM and the next queued one starts in a microtask, so a long
 * queue ran in one turn of the event loop: 200 agents' statements stalled it for 7–15 s (no socket read,
 * no timer, no health probe in between). After PGLITE_YIELD_MS of statements the next one waits for a turn.
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  private sliceStart = 0;

  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.queued++ === 0) this.sliceStart = performance.now();
    const result = this.tail.then(() => this.turn()).then(fn);
    this.tail = result.then(
      () => this.done(),
      () => this.done(),
    );
    return result;
  }

  private turn(): Promise<void> | undefined {
    if (performance.now() - this.sliceStart < PGLITE_YIELD_MS) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        this.sliceStart = performance.now();
        resolve();
      }),
    );
  }

  private done(): void {
    this.queued--;
  }
}

export class PgliteDriver implements StorageDriver {
  readonly kind = 'pglite' as const;
  readonly capabilities: StorageCapabilities = {
    multipleConnections: false,
    listenNotify: true,
    vector: true,
  };
  readonly location: string;
  readonly schema: string;
  private readonly mutex = new Mutex();
  private closed = false;
  private readonly statements: Statements;

  private constructor(
    private readonly db: PGlite,
    private readonly lock: DirLock | null,
    location: string,
    schema: string,
    protocol: ProtocolModules,
  ) {
    this.location = location;
    this.schema = schema;
    this.statements = new Statements(db as unknown as ConstructorParameters<typeof Statements>[0], protocol);
  }

  static async open(opts: PgliteOptions = {}): Promise<PgliteDriver> {
    const schema = opts.schema ?? 'public';
    ident(schema);
    // Before the lock: a bad AOS_HEAP_GROWING_PERCENT fails the open with nothing to release.
    tightenHeapGrowth();
    const lock = opts.dataDir ? await acquireDirLock(opts.dataDir) : null;
    const location = opts.dataDir ? `pglite://${opts.dataDir}` : 'memory://';
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
      lock?.release();
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
      lock?.release();
      throw backendError(err, location);
    }
    return new PgliteDriver(db, lock, location, schema, protocol);
  }

  query<R = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    this.assertOpen();
    return this.mutex.run(() => this.run<R>(sql, params, false));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    const committed: Array<() => void> = [];
    return this.mutex
      .run(() =>
        // PGlite's transaction sends BEGIN and COMMIT (or ROLLBACK when fn throws); our statements run on
        // its one backend in between, through the prepared path like every other statement.
        this.db.transaction(async () => {
          const tx: Queryable = {
            query: <R>(sql: string, params: readonly unknown[] = []) => this.run<R>(sql, params, true),
            afterCommit: (f) => committed.push(f),
          };
          return fn(tx);
        }),
      )
      .then((out) => {
        for (const f of committed) f();
        return out;
      });
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    this.assertOpen();
    const unsub = await this.mutex.run(() => this.db.listen(channel, onNotify));
    return async () => {
      if (!this.closed) await this.mutex.run(() => unsub());
    };
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  /** A tarball of the whole database (PGlite's dumpDataDir): a backup, or a template's data.tar. */
  dump(): Promise<Blob> {
    this.assertOpen();
    return this.mutex.run(async () => (await this.db.dumpDataDir('none')) as Blob);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.mutex.run(() => this.db.close());
    } finally {
      this.lock?.release();
    }
  }

  private async run<R>(sql: string, params: readonly unknown[], inTx: boolean): Promise<QueryResult<R>> {
    try {
      return await this.statements.run<R>(sql, params, inTx);
    } catch (err) {
      throw backendError(err, this.location, sql);
    }
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new KernelError('ESTATE', `storage ${this.location} is closed; open it again with openStorage()`);
    }
  }
}
