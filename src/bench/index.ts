/** Every bench suite `aos bench` knows, in run order. Add one line per suite (see ./harness.ts). */
import { KernelError } from '../errors.js';
import type { BenchSuite } from './harness.js';
import { apiBench } from './suites/api.js';
import { clusterBench } from './suites/cluster.js';
import { contextBench } from './suites/context.js';
import { gatewayBench } from './suites/gateway.js';
import { ioBench } from './suites/io.js';
import { kernelBench } from './suites/kernel.js';
import { learningBench } from './suites/learning.js';
import { llmBench } from './suites/llm.js';
import { peersBench } from './suites/peers.js';
import { schedulerBench } from './suites/scheduler.js';
import { securityBench } from './suites/security.js';
import { startupBench } from './suites/startup.js';
import { storageBench } from './suites/storage.js';
import { streamBench } from './suites/stream.js';

export const SUITES: BenchSuite[] = [
  storageBench,
  schedulerBench,
  kernelBench,
  contextBench,
  llmBench,
  streamBench,
  ioBench,
  securityBench,
  apiBench,
  gatewayBench,
  clusterBench,
  startupBench,
  learningBench,
  peersBench,
];

export function findSuites(names: readonly string[]): BenchSuite[] {
  if (names.length === 0) return SUITES.filter((s) => !s.explicit);
  return names.map((n) => {
    const s = SUITES.find((x) => x.name === n);
    if (!s)
      throw new KernelError(
        'EINVAL',
        `unknown bench suite "${n}"; known: ${SUITES.map((x) => x.name).join(', ')}`,
      );
    return s;
  });
}
