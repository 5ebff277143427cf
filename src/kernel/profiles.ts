/**
 * Agent profiles (`agents:` in config): named spawn defaults — model, persona/system prompt, tools, policy,
 * budgets, priority — with the operator-applied learning overrides (src/learning/optimizer.ts) folded in.
 * Explicit spawn options always win over the profile.
 */
import type { AosConfig } from '../config/schema.js';
import { KernelError } from '../errors.js';
import { effectiveProfile, type ProfileData, ProfileOptimizer } from '../learning/optimizer.js';
import type { KernelCore } from './core.js';

export type AgentProfile = AosConfig['agents'][number];

/** The spawn options a profile fills in (./spawn.ts's SpawnOptions has these and more). */
export interface ProfileFields {
  name?: string;
  agent?: string;
  system?: string;
  model?: string;
  priority?: number;
  policy?: Record<string, unknown>;
  budgets?: { maxTokens?: number; maxCostUsd?: number; maxSteps?: number; maxWallMs?: number };
  args?: unknown;
}

/** The profile as the learning layer's plain data (dotted keys `budgets.maxSteps`, `policy.allowed_paths`). */
function profileData(p: AgentProfile): ProfileData {
  const b = p.budgets ?? {};
  return {
    ...(p.model ? { model: p.model } : {}),
    ...(p.system ? { system: p.system } : {}),
    ...(p.priority !== undefined ? { priority: p.priority } : {}),
    policy: { ...(p.policy ?? {}), ...(p.tools ? { allowed_tools: p.tools } : {}) },
    budgets: {
      ...(b.max_tokens !== undefined ? { maxTokens: b.max_tokens } : {}),
      ...(b.max_cost_usd !== undefined ? { maxCostUsd: b.max_cost_usd } : {}),
      ...(b.max_steps !== undefined ? { maxSteps: b.max_steps } : {}),
      ...(b.max_wall_ms !== undefined ? { maxWallMs: b.max_wall_ms } : {}),
    },
  };
}

export function findProfile(config: AosConfig, name: string): AgentProfile {
  const p = config.agents.find((a) => a.name === name);
  if (!p) {
    const names = config.agents.map((a) => a.name).join(', ') || 'none';
    throw new KernelError(
      'ENOTFOUND',
      `no agent profile '${name}'; config agents: lists ${names} (see config.example.yaml, "agents")`,
    );
  }
  return p;
}

/** Spawn options with the named profile (and a persona) resolved; explicit options win over the profile. */
export async function applyProfile<T extends ProfileFields>(core: KernelCore, o: T): Promise<T> {
  let out: T = o;
  if (o.agent !== undefined) {
    const base = findProfile(core.config, o.agent);
    // Applied suggestions fold over the base; an A/B change reaches only its arm (drawn here, recorded
    // at spawn so `aos profile ab` can compare the arms).
    const { overrides, arms } = await new ProfileOptimizer(core.storage.state, core.storage.audit).forSpawn(
      base.name,
    );
    const eff = effectiveProfile(profileData(base), overrides);
    const addendum = typeof eff.system_addendum === 'string' ? eff.system_addendum : '';
    const system = [o.system ?? (eff.system as string | undefined), addendum].filter(Boolean).join('\n\n');
    const model = o.model ?? (eff.model as string | undefined);
    const priority = o.priority ?? (eff.priority as number | undefined);
    out = {
      ...o,
      name: o.name ?? base.name,
      ...(model ? { model } : {}),
      ...(priority !== undefined ? { priority } : {}),
      ...(system ? { system } : {}),
      policy: { ...(eff.policy as Record<string, unknown>), ...(o.policy ?? {}) },
      budgets: { ...(eff.budgets as ProfileFields['budgets']), ...(o.budgets ?? {}) },
      args: {
        ...((o.args as Record<string, unknown> | undefined) ?? {}),
        profile: base.name,
        ...(Object.keys(arms).length ? { ab: arms } : {}),
        ...(base.learning !== undefined ? { learning: base.learning } : {}),
      },
    };
  }
  if (out.system !== undefined) {
    if (!out.system.trim()) throw new KernelError('EINVAL', 'system must not be empty');
    const args = (out.args as Record<string, unknown> | undefined) ?? {};
    out = { ...out, args: { ...args, persona: out.system } };
  }
  return out;
}
