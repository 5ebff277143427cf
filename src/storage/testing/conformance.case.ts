/**
 * storageConformance: every storage suite (state, audit, coordination, memory, vectors, pages) against a
 * driver someone else wrote. Shipped compiled in `agent-os-kernel/testing`; needs vitest (an optional peer
 * dependency). Our own drivers run the same suites through describeBackends (./backends.case.ts).
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { pageStoreCases } from '../../context/page-store.case.js';
import { SqlPageStore } from '../../context/sql-page-store.js';
import { auditCases } from '../audit/audit.case.js';
import { coordinationCases } from '../coordination/coordination.case.js';
import type { StorageDriver } from '../driver.js';
import { memoryCases } from '../memory/memory.case.js';
import { migrate } from '../migrations/index.js';
import { stateCases } from '../state/state.case.js';
import { vectorCases } from '../vectors/vectors.case.js';
import type { BackendContext, Suite } from './backends.case.js';

export interface DriverUnderTest {
  /** A driver on a database (or schema) of its own; the suite migrates it and closes it at the end. */
  open(): Promise<StorageDriver>;
  /**
   * A second, independent connection to the database `first` is on, for the concurrency cases (two
   * writers on one audit chain, two claimers on one queue). Omit it for a single-connection driver.
   */
  openAnother?(first: StorageDriver): Promise<StorageDriver>;
}

export const STORAGE_SUITES: ReadonlyArray<readonly [string, Suite]> = [
  ['StateStore', stateCases],
  ['AuditLog', auditCases],
  ['Coordination', coordinationCases],
  ['MemoryStore', memoryCases],
  ['VectorStore', vectorCases],
  ['SqlPageStore', (ctx) => pageStoreCases(() => new SqlPageStore(ctx().driver), { integerPids: true })],
];

export function storageConformance(title: string, target: DriverUnderTest): void {
  for (const [name, suite] of STORAGE_SUITES) {
    describe(`${title}: ${name} conformance`, () => {
      let driver: StorageDriver | undefined;
      const extra: StorageDriver[] = [];
      beforeAll(async () => {
        driver = await target.open();
        await migrate(driver);
      });
      afterAll(async () => {
        for (const d of extra) await d.close();
        await driver?.close();
      });
      const ctx = (): BackendContext => ({
        kind: driver!.kind,
        driver: driver!,
        openAnother: async () => {
          if (!target.openAnother) return null;
          const d = await target.openAnother(driver!);
          extra.push(d);
          return d;
        },
      });
      suite(ctx);
    });
  }
}
