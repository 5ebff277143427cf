/**
 * `agent-os-kernel/storage`: the StorageDriver seam, both drivers, migrations and the five roles (state,
 * audit, coordination, memory, vectors). A third-party driver runs the conformance suites from
 * `agent-os-kernel/testing` (storageConformance). PGlite and `pg` load when a driver opens, not here.
 */

export { canonicalJson, sha256Hex } from '../util/canonical.js';
export { type Embedder, HashingEmbedder } from '../util/embedder.js';
export {
  type AuditEntry,
  type AuditEntryInput,
  type AuditHead,
  AuditLog,
  auditHash,
  type VerifyResult,
} from './audit/audit-log.js';
export {
  Coordination,
  type Lease,
  MAILBOX_CHANNEL,
  type QueueItem,
  type StoredMail,
  /** @deprecated the stored row is `StoredMail`; `MailMessage` (agent-os-kernel) is what `ipc.recv` returns. */
  type StoredMail as MailMessage,
} from './coordination/coordination.js';
export type { Queryable, QueryResult, StorageCapabilities, StorageDriver } from './driver.js';
export {
  type MemoryHit,
  type MemoryInput,
  type MemoryRecord,
  type MemorySearch,
  MemoryStore,
} from './memory/memory-store.js';
export { MIGRATIONS, type Migration, migrate } from './migrations/index.js';
export { type OpenStorageOptions, openStorage, parseStorageUrl } from './open.js';
export { PgliteDriver, type PgliteOptions } from './pglite/pglite-driver.js';
export { PostgresDriver } from './postgres/postgres-driver.js';
export { StateStore } from './state/state-store.js';
export type * from './state/types.js';
export { PROCESS_STATES, ZERO_USAGE } from './state/types.js';
export { type CreateStorageOptions, createStorage, type Storage, storageOn } from './storage.js';
export { type ExactStrategy, type VectorHit, type VectorItem, VectorStore } from './vectors/vector-store.js';
