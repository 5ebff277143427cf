import { describe } from 'vitest';
import { describeBackends } from '../storage/testing/backends.case.js';
import { pageStoreCases } from './page-store.case.js';
import { SqlPageStore } from './sql-page-store.js';
import { MemoryPageStore } from './store.js';

describe('MemoryPageStore', () => pageStoreCases(() => new MemoryPageStore(), { integerPids: false }));

await describeBackends('SqlPageStore', (ctx) =>
  pageStoreCases(() => new SqlPageStore(ctx().driver), { integerPids: true }),
);
