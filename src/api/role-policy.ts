/** The configured default policy as the API's role checks see it (what a non-admin may narrow, never widen). */
import type { Kernel } from '../kernel/kernel.js';
import type { Pcb } from '../kernel/pcb.js';
import type { SecurityPolicy } from '../security/policy.js';

export { narrowPolicy, widenings } from '../security/policy-narrow.js';

export function defaultPolicy(k: Kernel): SecurityPolicy {
  return k.tools.policyFor({ pid: 0, policy: {} } as Pcb);
}
