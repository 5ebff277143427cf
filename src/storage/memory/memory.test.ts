import { describe } from 'vitest';
import { describeBackends } from '../testing/backends.case.js';
import { hashingEmbedderCases, memoryCases } from './memory.case.js';

describe('HashingEmbedder', hashingEmbedderCases);
await describeBackends('MemoryStore', memoryCases);
