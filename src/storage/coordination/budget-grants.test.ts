import { describeBackends } from '../testing/backends.case.js';
import { budgetGrantCases } from './budget-grants.case.js';

await describeBackends('BudgetGrantStore', budgetGrantCases);
