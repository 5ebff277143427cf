/**
 * `agent-os-kernel/security`: policies, sandboxes (bubblewrap, none, docker), approvals, tool limits, the
 * signed audit anchors and replay. A third-party Sandbox runs sandboxConformance from
 * `agent-os-kernel/testing`.
 */

export { redact } from '../util/redact.js';
export {
  type Anchor,
  type AnchoredVerifyResult,
  AuditAnchors,
  assertIntact,
  verifyWithAnchors,
} from './anchors.js';
export {
  type ApprovalDecision,
  type ApprovalGate,
  ApprovalManager,
  type ApprovalRequest,
  type PendingApproval,
} from './approvals.js';
export { ToolLimiter, type ToolLimitOptions } from './limits.js';
export {
  PERMISSION_LEVELS,
  type PermissionLevel,
  type ResourceLimits,
  SecurityPolicy,
  type SecurityPolicyOptions,
  type ToolDecision,
} from './policy.js';
export { processTimeline, type ReplayReport, replayToolCalls, type TimelineEntry } from './replay.js';
export { BubblewrapSandbox } from './sandbox/bubblewrap.js';
export { DockerSandbox } from './sandbox/docker.js';
export { NoSandbox } from './sandbox/none.js';
export { createSandbox, type SandboxKind } from './sandbox/select.js';
export type {
  Sandbox,
  SandboxCapabilities,
  SandboxRequest,
  SandboxResult,
  WrappedCommand,
} from './sandbox.js';
