/**
 * PgliteDriver: embedded PostgreSQL (WASM) with real pgvector. One connection, so every statement and
 * transaction goes through one mutex; LISTEN/NOTIFY is in-process. A file-backed data dir is guarded by a
 * lockfile (./lockfile.ts). PGlite does not fsync: committed rows survive kill -9, not a power cut.
 */
import type { PGlite } from '@electric-sql/pglite';
import { KernelError } from '../../errors.js';
import { PGLITE_YIELD_MS } from '../../param.js';
import type { Queryable, QueryResult, StorageCapabilities, StorageDriver } from '../driver.js';
import { backendError, ident } from '../sql.js';
import { openBackend, type PgliteOptions } from './backend.js';
import { tightenHeapGrowth } from './heap-growth.js';
import { acquireDirLock, type DirLock } from './lockfile.js';
import { type ProtocolModules, Statements } from './statements.js';
import { pgliteWasmTier } from './wasm-tier.js';

export { type PgliteOptions, pgliteTemplateFromEnv } from './backend.js';

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
    // Before the lock: a bad AOS_HEAP_GROWING_PERCENT or AOS_PGLITE_WASM_TIERUP fails with nothing to release.
    tightenHeapGrowth();
    pgliteWasmTier();
    const lock = opts.dataDir ? await acquireDirLock(opts.dataDir) : null;
    const location = opts.dataDir ? `pglite://${opts.dataDir}` : 'memory://';
    let backend: Awaited<ReturnType<typeof openBackend>>;
    try {
      backend = await openBackend(opts, location);
    } catch (err) {
      lock?.release();
      throw err;
    }
    const { db, protocol } = backend;
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
