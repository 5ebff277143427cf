import { describeBackends } from '../testing/backends.case.js';
import { vectorCases } from './vectors.case.js';

await describeBackends('VectorStore', vectorCases);
