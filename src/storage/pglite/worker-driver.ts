/**
 * PgliteWorkerDriver: the PGlite driver with the backend in a worker thread (./worker.ts). Same surface
 * and semantics as PgliteDriver (one connection, FIFO order, transactions whole, LISTEN/NOTIFY, the dir
 * lock held here), but a statement's WASM time runs on another core: the kernel's event loop only sends
 * a message and reads the answer. Statements are not held back for the previous answer — the worker's
 * queue serialises them — so the worker keeps busy while this thread runs agents. A worker that dies
 * rejects every pending and later call with EBACKEND naming the cause.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KernelError } from '../../errors.js';
import { PGLITE_YIELD_MS } from '../../param.js';
import { logger } from '../../util/log.js';
import type { Queryable, QueryResult, StorageCapabilities, StorageDriver } from '../driver.js';
import { backendError, ident } from '../sql.js';
import type { PgliteOptions } from './backend.js';
import { tightenHeapGrowth } from './heap-growth.js';
import { acquireDirLock, type DirLock } from './lockfile.js';
import { pgliteWasmTier } from './wasm-tier.js';
import { type Reply, type Request, rebuildError } from './worker-protocol.js';

const log = logger('storage');

/** The compiled worker beside this file; from the TypeScript sources (vitest) the build's copy in dist/. */
function workerUrl(): URL {
  const here = new URL('./worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  return new URL(here.href.replace(/\/src\/storage\/pglite\/worker\.js$/, '/dist/storage/pglite/worker.js'));
}

type Pending = { resolve(v: unknown): void; reject(e: Error): void; sql?: string };

export class PgliteWorkerDriver implements StorageDriver {
  readonly kind = 'pglite' as const;
  readonly capabilities: StorageCapabilities = {
    multipleConnections: false,
    listenNotify: true,
    vector: true,
  };
  readonly location: string;
  readonly schema: string;
  private closed = false;
  private dead: KernelError | null = null;
  private nextId = 1;
  private nextTx = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  /** The transaction the caller holds: other statements wait for it here (the worker runs it whole). */
  private txTail: Promise<void> = Promise.resolve();
  /** Answers held for the next turn of the event loop, and when this turn's answers began (-1: none yet). */
  private readonly held: Reply[] = [];
  private sliceStart = -1;

  private constructor(
    private readonly worker: Worker,
    private readonly lock: DirLock | null,
    location: string,
    schema: string,
  ) {
    this.location = location;
    this.schema = schema;
  }

  static async open(opts: PgliteOptions = {}): Promise<PgliteWorkerDriver> {
    const schema = opts.schema ?? 'public';
    ident(schema);
    // Before the lock: a bad AOS_HEAP_GROWING_PERCENT or AOS_PGLITE_WASM_TIERUP fails with nothing to release.
    // V8's flags are the process's: the worker's isolate compiles PGlite on Liftoff only too.
    tightenHeapGrowth();
    pgliteWasmTier();
    const lock = opts.dataDir ? await acquireDirLock(opts.dataDir) : null;
    const location = opts.dataDir ? `pglite://${opts.dataDir}` : 'memory://';
    const url = workerUrl();
    let worker: Worker;
    try {
      // No inherited flags (loaders, --inspect, profilers): the worker runs compiled JS only.
      worker = new Worker(url, {
        execArgv: [],
        workerData: { ...opts, schema, location },
      });
    } catch (err) {
      lock?.release();
      throw new KernelError(
        'EBACKEND',
        `cannot start the PGlite worker thread (${fileURLToPath(url)}): ${(err as Error).message}. ` +
          'Run npm run build, or set storage.pglite_worker: false to run PGlite on the main thread.',
        { cause: err },
      );
    }
    const ready = new Promise<void>((resolve, reject) => {
      const onOpen = (r: Reply) => {
        if (r.id !== 0) return;
        worker.off('message', onOpen);
        worker.off('error', reject);
        worker.off('exit', onExit);
        if ('ok' in r && r.ok) resolve();
        else if ('error' in r) reject(rebuildError(r.error));
      };
      const onExit = (code: number) => reject(new Error(`the worker exited with code ${code} while opening`));
      worker.on('message', onOpen);
      worker.once('error', reject);
      worker.once('exit', onExit);
    });
    try {
      await ready;
    } catch (err) {
      await worker.terminate().catch(() => undefined);
      lock?.release();
      const e = err as Error & { code?: string };
      if (e.code === 'EBACKEND') throw new KernelError('EBACKEND', e.message, { cause: err });
      throw backendError(err, location);
    }
    const d = new PgliteWorkerDriver(worker, lock, location, schema);
    d.attach();
    return d;
  }

  query<R = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    this.assertOpen();
    // A transaction in progress holds the connection: this statement goes after it, as on the in-thread driver
    return this.txTail.then(() => this.call({ t: 'q', id: 0, sql, params }, sql) as Promise<QueryResult<R>>);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    const committed: Array<() => void> = [];
    let release!: () => void;
    const prev = this.txTail;
    this.txTail = new Promise<void>((r) => {
      release = r;
    });
    const txId = this.nextTx++;
    const run = async (): Promise<T> => {
      await prev;
      await this.call({ t: 'begin', id: 0, tx: txId });
      let out: T;
      try {
        const tx: Queryable = {
          query: <R>(sql: string, params: readonly unknown[] = []) =>
            this.call({ t: 'q', id: 0, sql, params, tx: txId }, sql) as Promise<QueryResult<R>>,
          afterCommit: (f) => committed.push(f),
        };
        out = await fn(tx);
      } catch (err) {
        await this.call({ t: 'end', id: 0, tx: txId, commit: false }).catch(() => undefined);
        throw err;
      }
      await this.call({ t: 'end', id: 0, tx: txId, commit: true }, 'COMMIT');
      return out;
    };
    return run()
      .finally(() => release())
      .then((out) => {
        for (const f of committed) f();
        return out;
      });
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    this.assertOpen();
    await this.txTail;
    const id = this.nextId; // the listen's id names it for the unlisten
    await this.call({ t: 'listen', id: 0, channel });
    const set = this.listeners.get(channel) ?? new Set();
    this.listeners.set(channel, set);
    set.add(onNotify);
    return async () => {
      set.delete(onNotify);
      if (!this.closed && !this.dead) await this.call({ t: 'unlisten', id: 0, listen: id });
    };
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  /** A tarball of the whole database (PGlite's dumpDataDir): a backup, or a template's data.tar. */
  async dump(): Promise<Blob> {
    this.assertOpen();
    await this.txTail;
    return new Blob([(await this.call({ t: 'dump', id: 0 })) as ArrayBuffer]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.txTail;
      if (!this.dead) await this.call({ t: 'close', id: 0 });
    } finally {
      this.lock?.release();
      await this.worker.terminate().catch(() => undefined);
    }
  }

  private attach(): void {
    this.worker.on('message', (r: Reply) => {
      // Node delivers a burst of queued answers in one task, each caller's continuation running in
      // between: past PGLITE_YIELD_MS of them, the rest wait for the next turn so timers and sockets run.
      if (
        this.held.length ||
        (this.sliceStart >= 0 && performance.now() - this.sliceStart > PGLITE_YIELD_MS)
      ) {
        this.held.push(r);
        if (this.held.length === 1) setImmediate(() => void this.release());
        return;
      }
      this.turn();
      this.settle(r);
    });
    const die = (why: string, cause?: unknown) => {
      if (this.closed && this.pending.size === 0) return;
      this.dead = new KernelError(
        'EBACKEND',
        `${this.location}: the PGlite worker thread ${why}; every pending and later statement fails. ` +
          'Restart the kernel (committed rows are on disk); if it recurs, set storage.pglite_worker: false ' +
          'and report the error.',
        { cause, retryable: false },
      );
      log.error(this.dead.message, { location: this.location });
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    this.worker.on('error', (err) => die(`failed: ${err.message}`, err));
    this.worker.on('exit', (code) => die(`exited (code ${code})`));
  }

  /** Marks the start of this turn's slice of answers (cleared when the loop turns). */
  private turn(): void {
    if (this.sliceStart >= 0) return;
    this.sliceStart = performance.now();
    setImmediate(() => {
      this.sliceStart = -1;
    });
  }

  /** Settles held answers, letting each caller's continuation run before the next, for one slice. */
  private async release(): Promise<void> {
    const start = performance.now();
    while (this.held.length && performance.now() - start <= PGLITE_YIELD_MS) {
      this.settle(this.held.shift()!);
      await null;
    }
    if (this.held.length) setImmediate(() => void this.release());
  }

  private settle(r: Reply): void {
    if (r.id === -1) {
      if ('channel' in r) for (const f of this.listeners.get(r.channel) ?? []) f(r.payload);
      return;
    }
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if ('ok' in r && r.ok) p.resolve(r.value);
    else if ('error' in r) p.reject(backendError(rebuildError(r.error), this.location, p.sql));
  }

  private call(req: Request, sql?: string): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    req.id = id;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(sql ? { sql } : {}) });
      try {
        this.worker.postMessage(req);
      } catch (err) {
        this.pending.delete(id);
        reject(
          new KernelError(
            'EINVAL',
            `a parameter of "${(sql ?? '').slice(0, 80)}" cannot be sent to PGlite: ${(err as Error).message}`,
            { cause: err },
          ),
        );
      }
    });
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new KernelError('ESTATE', `storage ${this.location} is closed; open it again with openStorage()`);
    }
  }
}
