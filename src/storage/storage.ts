/**
 * The Storage facade the kernel boots: one driver (migrated) and the five roles bound to it.
 * `createStorage(url)` is the one call; `storage.close()` closes the driver (and releases a PGlite lock).
 */
import { AuditLog } from './audit/AuditLog.js';
import type { StorageDriver } from './driver.js';
import { type OpenStorageOptions, openStorage } from './open.js';
import { StateStore } from './state/StateStore.js';

export interface CreateStorageOptions extends OpenStorageOptions {
  snapshotEverySteps?: number;
}

export interface Storage {
  readonly driver: StorageDriver;
  readonly state: StateStore;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

export function storageOn(driver: StorageDriver, opts: CreateStorageOptions = {}): Storage {
  return {
    driver,
    state: new StateStore(
      driver,
      opts.snapshotEverySteps ? { snapshotEverySteps: opts.snapshotEverySteps } : {},
    ),
    audit: new AuditLog(driver),
    close: () => driver.close(),
  };
}

export async function createStorage(url: string, opts: CreateStorageOptions = {}): Promise<Storage> {
  return storageOn(await openStorage(url, opts), opts);
}
