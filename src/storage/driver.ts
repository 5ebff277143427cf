/**
 * The storage seam. A driver runs SQL against PostgreSQL (embedded PGlite or a real server) and says what
 * it can do through readonly capability flags. The five roles (memory, state, vectors, coordination,
 * audit) are stores written once against this interface; implementations live in ./pglite and ./postgres.
 */

export interface QueryResult<R> {
  rows: R[];
  /** Rows affected by INSERT/UPDATE/DELETE (0 when the backend does not report it). */
  rowCount: number;
}

/** Anything that runs a parameterised statement: the driver itself or an open transaction. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** On a transaction: runs fn once the transaction has committed (never after a rollback). */
  afterCommit?(fn: () => void): void;
}

export interface StorageCapabilities {
  /** More than one connection may run statements at the same time (a pool). */
  readonly multipleConnections: boolean;
  /** LISTEN/NOTIFY delivers notifications across connections/processes. */
  readonly listenNotify: boolean;
  /** The pgvector extension is available (HNSW indexes, `<=>` operator). */
  readonly vector: boolean;
}

export type DriverKind = 'pglite' | 'postgres';

export interface StorageDriver extends Queryable {
  readonly kind: DriverKind;
  readonly capabilities: StorageCapabilities;
  /** Human-readable location (data dir or redacted URL) for logs and errors. */
  readonly location: string;
  /** Schema (search_path) the kernel's tables live in. */
  readonly schema: string;
  /** Runs fn in one transaction; commits on return, rolls back on throw. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to a NOTIFY channel (a wake-up hint only; never a source of truth). */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}
