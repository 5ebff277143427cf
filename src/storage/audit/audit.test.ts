import { describeBackends } from '../testing/backends.case.js';
import { auditCases } from './audit.case.js';

await describeBackends('AuditLog', auditCases);
