/**
 * PostgresDriver: a `pg` pool against a real server. Every pooled connection gets the driver's schema as
 * its search_path; LISTEN runs on one dedicated client. pgvector is used when `CREATE EXTENSION vector`
 * works, otherwise the capability is off and the stores fall back to exact search over `real[]`.
 */
import type pg from 'pg';
import { KernelError } from '../../errors.js';
import { HNSW_EF_SEARCH, PG_CONNECT_TIMEOUT_MS, PG_POOL_MAX } from '../../param.js';
import { logger } from '../../util/log.js';
import { redactString } from '../../util/redact.js';
import type { Queryable, QueryResult, StorageCapabilities, StorageDriver } from '../driver.js';
import { backendError, ident, sqlState } from '../sql.js';

const log = logger('storage.postgres');

export interface PostgresOptions {
  url: string;
  schema?: string;
  poolMax?: number;
}

type Handler = (payload: string) => void;

export class PostgresDriver implements StorageDriver {
  readonly kind = 'postgres' as const;
  readonly capabilities: StorageCapabilities;
  readonly location: string;
  readonly schema: string;
  private listenClient: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  private readonly handlers = new Map<string, Set<Handler>>();
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly config: pg.ClientConfig,
    location: string,
    schema: string,
    vectorOk: boolean,
  ) {
    this.location = location;
    this.schema = schema;
    this.capabilities = { multipleConnections: true, listenNotify: true, vector: vectorOk };
  }

  static async open(opts: PostgresOptions): Promise<PostgresDriver> {
    const schema = opts.schema ?? 'public';
    const location = redactString(opts.url);
    const config: pg.ClientConfig = {
      connectionString: opts.url,
      connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
      options: `-c search_path=${ident(schema)},public`,
      application_name: 'agent-os-kernel',
    };
    const { Pool, Client } = await loadPg();
    // The connect timeout is for reaching the server, not for waiting on a busy pool: pg applies one
    // connectionTimeoutMillis to both, so 200 agents sharing 10 connections on a loaded machine failed their
    // spawns with "timeout exceeded when trying to connect" while the server was fine. The pool's queue waits;
    // each new connection still gives up after PG_CONNECT_TIMEOUT_MS.
    class TimedClient extends Client {
      constructor(c: pg.ClientConfig = {}) {
        super({ ...c, connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS });
      }
    }
    const pool = new Pool({
      ...config,
      connectionTimeoutMillis: 0,
      Client: TimedClient,
      max: opts.poolMax ?? PG_POOL_MAX,
    });
    pool.on('error', (err) => log.warn(`idle connection error: ${err.message}`, { location }));
    let vectorOk = false;
    try {
      const client = await pool.connect().catch((err: unknown) => {
        throw connectError(err, location);
      });
      try {
        if (schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
        vectorOk = await tryCreateVector(client);
        if (vectorOk) await client.query(`SET hnsw.ef_search = ${HNSW_EF_SEARCH}`).catch(() => undefined);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw backendError(err, location);
    }
    if (vectorOk) {
      // HNSW returns at most ef_search rows; iterative scans (pgvector >= 0.8) keep filtered searches full
      pool.on('connect', (client) => {
        client
          .query(`SET hnsw.ef_search = ${HNSW_EF_SEARCH}`)
          .then(() => client.query('SET hnsw.iterative_scan = relaxed_order'))
          .catch((err: Error) => log.debug(`hnsw settings not applied: ${err.message}`));
      });
    }
    return new PostgresDriver(pool, config, location, schema, vectorOk);
  }

  async query<R = Record<string, unknown>>(
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<QueryResult<R>> {
    this.assertOpen();
    try {
      const res = await this.pool.query(sql, params as unknown[]);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    } catch (err) {
      throw wrap(err, this.location, sql);
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    const client = await this.pool.connect().catch((err: unknown) => {
      throw connectError(err, this.location);
    });
    const location = this.location;
    let broken = false;
    // A checked-out client has no pool listener: a connection lost between two statements (a server restart,
    // pg_terminate_backend) would be an uncaught 'error' that kills the kernel. The next statement fails
    // with the reason instead, and the client is dropped from the pool.
    const lost = (err: Error) => {
      broken = true;
      log.warn(`connection lost inside a transaction: ${err.message}`, { location });
    };
    client.on('error', lost);
    const committed: Array<() => void> = [];
    const tx: Queryable = {
      afterCommit: (f) => committed.push(f),
      async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
        try {
          const res = await client.query(sql, params as unknown[]);
          return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
        } catch (err) {
          throw wrap(err, location, sql);
        }
      },
    };
    try {
      await client.query('BEGIN');
      const out = await fn(tx);
      await client.query('COMMIT');
      for (const f of committed) f();
      return out;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // connection is unusable: drop it from the pool
      }
      throw wrap(err, location);
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }

  async listen(channel: string, onNotify: Handler): Promise<() => Promise<void>> {
    this.assertOpen();
    const client = await this.listener();
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      await client.query(`LISTEN ${quoteChannel(channel)}`).catch((err: unknown) => {
        throw wrap(err, this.location);
      });
    }
    set.add(onNotify);
    return async () => {
      const s = this.handlers.get(channel);
      if (!s?.delete(onNotify) || s.size > 0) return;
      this.handlers.delete(channel);
      if (this.listenClient && !this.closed)
        await this.listenClient.query(`UNLISTEN ${quoteChannel(channel)}`);
    };
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pending = this.connecting;
    const l = this.listenClient;
    this.listenClient = null;
    await Promise.allSettled([pending, l?.end(), this.pool.end()]);
  }

  /** One listen connection, also when two listen() calls race for it (a second one would leak). */
  private listener(): Promise<pg.Client> {
    if (this.listenClient) return Promise.resolve(this.listenClient);
    this.connecting ??= this.connectListener().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connectListener(): Promise<pg.Client> {
    const { Client } = await loadPg();
    const client = new Client(this.config);
    client.on('notification', (msg) => {
      for (const h of this.handlers.get(msg.channel) ?? []) h(msg.payload ?? '');
    });
    client.on('error', (err) => {
      // NOTIFY is only a wake-up hint; pollers still find the work. Reconnect on the next listen().
      log.warn(`listen connection lost: ${err.message}`, { location: this.location });
      if (this.listenClient === client) this.listenClient = null;
    });
    await client.connect().catch((err: unknown) => {
      throw connectError(err, this.location);
    });
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new KernelError('ESTATE', `storage ${this.location} closed while its listen connection opened`);
    }
    this.listenClient = client;
    return client;
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new KernelError('ESTATE', `storage ${this.location} is closed; open it again with openStorage()`);
    }
  }
}

/** `pg` loads on the first open: a kernel on PGlite never pays for it. */
async function loadPg(): Promise<typeof pg> {
  return (await import('pg')).default;
}

async function tryCreateVector(client: pg.PoolClient): Promise<boolean> {
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS vector');
    return true;
  } catch (err) {
    log.debug(`pgvector unavailable (${sqlState(err) ?? '?'}): ${(err as Error).message}`);
    return false;
  }
}

function quoteChannel(channel: string): string {
  return `"${channel.replace(/"/g, '""')}"`;
}

function wrap(err: unknown, location: string, sql?: string): KernelError {
  const e = err as { code?: string };
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ENOTFOUND' || e?.code === 'ETIMEDOUT') {
    return connectError(err, location);
  }
  return backendError(err, location, sql);
}

function connectError(err: unknown, location: string): KernelError {
  if (err instanceof KernelError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const state = sqlState(err);
  const fix =
    state === '28P01' || state === '28000'
      ? 'check the user and password in storage.url'
      : state === '3D000'
        ? 'create the database (createdb NAME) or fix the database name in storage.url'
        : 'start the server (e.g. `pg_ctlcluster <version> main start`) or fix host/port in storage.url';
  return new KernelError(
    'EBACKEND',
    `cannot connect to PostgreSQL at ${location}: ${redactString(msg)}; ${fix}`,
    {
      cause: err,
      retryable: state === undefined,
      details: { location, sqlState: state },
    },
  );
}
