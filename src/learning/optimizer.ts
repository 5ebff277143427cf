/**
 * The optimiser's guard rails: a suggestion changes an agent profile only when an operator applies it,
 * every apply and revert is an audit entry carrying the evidence, and any change reverts in one call.
 * Overrides live in the kv store (namespace `learning.profiles`, one key per profile, compare-and-set),
 * so they survive restarts and are shared by every node; `effectiveProfile` folds them over the base.
 */
import { randomUUID } from 'node:crypto';
import { KernelError } from '../errors.js';
import type { Arms } from './ab.js';
import type { Suggestion } from './analyze.js';
import { kvUpdate, type LearningStorage } from './learning.js';

export const PROFILES_NS = 'learning.profiles';

export interface AppliedChange {
  id: string;
  suggestionId: string;
  title: string;
  change: Suggestion['change'];
  evidence: Suggestion['evidence'];
  appliedBy: string;
  appliedAt: string;
  revertedBy: string | null;
  revertedAt: string | null;
  /**
   * A/B: the share of new processes of the profile that get the change (1 = all). Below 1, each spawn
   * draws its arm; `abReport` compares the arms.
   */
  share?: number;
}

export interface ApplyOptions {
  /** The value to set or add, for suggestions whose change names a placeholder (`<a model …>`). */
  value?: unknown;
  /** A/B: share of new processes that get the change, 0 < share ≤ 1 (default 1). */
  share?: number;
}

export interface ProfileOverrides {
  profile: string;
  changes: AppliedChange[];
}

export interface AuditPort {
  append(e: { stream: string; kind: string; actor: string; payload: unknown }): Promise<unknown>;
}

/** A profile as plain data with dotted keys (`budgets.maxSteps`, `policy.allowed_paths`, `system_addendum`). */
export type ProfileData = Record<string, unknown>;

function setPath(o: ProfileData, key: string, op: 'set' | 'add', value: unknown): void {
  const parts = key.split('.');
  let cur = o;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    cur[p] = next && typeof next === 'object' && !Array.isArray(next) ? { ...(next as ProfileData) } : {};
    cur = cur[p] as ProfileData;
  }
  const last = parts.at(-1)!;
  if (op === 'set') cur[last] = value;
  else {
    const prev = cur[last];
    const list = Array.isArray(prev) ? prev : prev === undefined ? [] : [prev];
    cur[last] = list.some((x) => JSON.stringify(x) === JSON.stringify(value)) ? list : [...list, value];
  }
}

/** The base profile with every applied, not reverted change folded in, in the order they were applied. */
export function effectiveProfile(base: ProfileData, o: ProfileOverrides | null): ProfileData {
  const out = structuredClone(base);
  for (const c of o?.changes ?? [])
    if (c.revertedAt === null) setPath(out, c.change.key, c.change.op, c.change.value);
  return out;
}

export class ProfileOptimizer {
  constructor(
    private readonly state: LearningStorage['state'],
    private readonly audit: AuditPort,
  ) {}

  async overrides(profile: string): Promise<ProfileOverrides> {
    const v = (await this.state.kvGet(PROFILES_NS, profile))?.value as ProfileOverrides | undefined;
    return v ?? { profile, changes: [] };
  }

  async apply(
    profile: string,
    s: Pick<Suggestion, 'id' | 'title' | 'change' | 'evidence'>,
    by: string,
    opts: ApplyOptions = {},
  ): Promise<AppliedChange> {
    if (!s.evidence || Object.keys(s.evidence).length === 0)
      throw new KernelError(
        'EINVAL',
        `suggestion ${s.id} has no evidence: a change is applied only with the numbers behind it`,
      );
    const value = opts.value !== undefined ? opts.value : s.change.value;
    if (typeof value === 'string' && /^<.*>$/.test(value))
      throw new KernelError(
        'EINVAL',
        `suggestion ${s.id} names no concrete value (${value}) for ${s.change.key}: give one (--value, or "value" in the body)`,
      );
    const share = opts.share ?? 1;
    if (!(share > 0 && share <= 1))
      throw new KernelError(
        'EINVAL',
        `share must be in (0, 1] (the part of new processes that get the change), got ${share}`,
      );
    const change: AppliedChange = {
      id: randomUUID(),
      suggestionId: s.id,
      title: s.title,
      change: { ...s.change, value },
      ...(share < 1 ? { share } : {}),
      evidence: s.evidence,
      appliedBy: by,
      appliedAt: new Date().toISOString(),
      revertedBy: null,
      revertedAt: null,
    };
    await kvUpdate<ProfileOverrides>(this.state, PROFILES_NS, profile, (cur) => {
      const o = cur ?? { profile, changes: [] };
      return { ...o, changes: [...o.changes, change] };
    });
    await this.audit.append({
      stream: `profile:${profile}`,
      kind: 'learning.apply',
      actor: by,
      payload: {
        profile,
        changeId: change.id,
        suggestion: s.id,
        title: s.title,
        change: change.change,
        evidence: s.evidence,
        ...(share < 1 ? { share } : {}),
      },
    });
    return change;
  }

  /**
   * What a new process of `profile` gets: the overrides to fold over the base, with each A/B change's arm
   * drawn (`draw()` in [0, 1), default Math.random) — a control-arm process does not get that change.
   */
  async forSpawn(
    profile: string,
    draw: () => number = Math.random,
  ): Promise<{ overrides: ProfileOverrides; arms: Arms }> {
    const o = await this.overrides(profile);
    const arms: Arms = {};
    const changes = o.changes.filter((c) => {
      if (c.revertedAt !== null || c.share === undefined || c.share >= 1) return true;
      arms[c.id] = draw() < c.share ? 'change' : 'control';
      return arms[c.id] === 'change';
    });
    return { overrides: { ...o, changes }, arms };
  }

  /** Reverts one change (or, without an id, the newest one still in force). */
  async revert(profile: string, by: string, changeId?: string): Promise<AppliedChange> {
    let reverted: AppliedChange | null = null;
    await kvUpdate<ProfileOverrides>(this.state, PROFILES_NS, profile, (cur) => {
      const o = cur ?? { profile, changes: [] };
      const live = o.changes.filter((c) => c.revertedAt === null);
      const target = changeId ? live.find((c) => c.id === changeId) : live.at(-1);
      if (!target) {
        throw new KernelError(
          'ENOTFOUND',
          changeId
            ? `profile ${profile} has no change ${changeId} in force`
            : `profile ${profile} has no change in force to revert`,
        );
      }
      reverted = { ...target, revertedBy: by, revertedAt: new Date().toISOString() };
      return { ...o, changes: o.changes.map((c) => (c.id === target.id ? reverted! : c)) };
    });
    const r = reverted as unknown as AppliedChange;
    await this.audit.append({
      stream: `profile:${profile}`,
      kind: 'learning.revert',
      actor: by,
      payload: {
        profile,
        changeId: r.id,
        suggestion: r.suggestionId,
        change: r.change,
        evidence: r.evidence,
      },
    });
    return r;
  }
}
