import { describeBackends } from '../testing/backends.case.js';
import { stateCases } from './state.case.js';

await describeBackends('StateStore', stateCases);
