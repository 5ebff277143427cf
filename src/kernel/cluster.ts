/** Whether this kernel is one of possibly many nodes (DESIGN §6): every kernel on PostgreSQL is. */
import type { KernelCore } from './core.js';

export function isClustered(core: Pick<KernelCore, 'storage'>): boolean {
  return core.storage.driver.kind === 'postgres';
}
