/**
 * The Storage facade the kernel boots: one driver (migrated) and the five roles bound to it.
 * `createStorage(url)` is the one call; `storage.close()` closes the driver (and releases a PGlite lock).
 */

import type { Embedder } from '../util/embedder.js';
import { AuditLog } from './audit/audit-log.js';
import { Coordination } from './coordination/coordination.js';
import type { StorageDriver } from './driver.js';
import { MemoryStore } from './memory/memory-store.js';
import { type OpenStorageOptions, openStorage } from './open.js';
import { StateStore } from './state/state-store.js';
import { type ExactStrategy, VectorStore } from './vectors/vector-store.js';

export interface CreateStorageOptions extends OpenStorageOptions {
  snapshotEverySteps?: number;
  /** Embedder for memories (default: the local HashingEmbedder). */
  embedder?: Embedder;
  /** Exact-search strategy when pgvector is missing (default 'sql'). */
  exactVectorSearch?: ExactStrategy;
}

export interface Storage {
  readonly driver: StorageDriver;
  readonly memory: MemoryStore;
  readonly state: StateStore;
  readonly vectors: VectorStore;
  readonly coordination: Coordination;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

/** Binds the roles to an already-open (and migrated) driver. */
export function storageOn(driver: StorageDriver, opts: CreateStorageOptions = {}): Storage {
  return {
    driver,
    memory: new MemoryStore(driver, opts.embedder ? { embedder: opts.embedder } : {}),
    state: new StateStore(
      driver,
      opts.snapshotEverySteps ? { snapshotEverySteps: opts.snapshotEverySteps } : {},
    ),
    vectors: new VectorStore(driver, opts.exactVectorSearch ? { exact: opts.exactVectorSearch } : {}),
    coordination: new Coordination(driver),
    audit: new AuditLog(driver),
    close: () => driver.close(),
  };
}

export async function createStorage(url: string, opts: CreateStorageOptions = {}): Promise<Storage> {
  return storageOn(await openStorage(url, opts), opts);
}
