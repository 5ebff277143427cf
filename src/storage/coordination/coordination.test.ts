import { describeBackends } from '../testing/backends.case.js';
import { coordinationCases } from './coordination.case.js';

await describeBackends('Coordination', coordinationCases);
