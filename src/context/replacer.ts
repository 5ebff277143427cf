/**
 * Replacement policies: which message units leave the window, and when. A unit is one history message, or
 * an assistant turn with tool calls together with its tool results (evicted as a pair so the prompt stays
 * valid). The manager owns the mechanism (stubs, store, the hard budget); a Replacer only plans.
 *
 *   ScoredReplacer   (default) scores recency, frequency, importance and similarity to choose victims,
 *                    evicts in chunks with hysteresis, never reorders what stays.
 *   SeedsReplacer    the seeds' policy: one victim at a time when over, and every turn re-sorts resident
 *                    pages by recency + importance + similarity (a named baseline; it defeats prompt caching).
 *   AppendOnlyReplacer  plain append-only: drop the oldest units when over, no stubs (a baseline).
 */
import { KernelError } from '../errors.js';
import * as P from '../param.js';

export interface UnitView {
  /** Stable key of the unit (sequence number of its first page). */
  key: number;
  /** Position in the history (0 = oldest). */
  index: number;
  tokens: number;
  /** Highest importance of the unit's pages. */
  importance: number;
  accessCount: number;
  /** Step of the last access (render count). */
  lastAccess: number;
  createdStep: number;
  /** Cosine similarity to the current step (0 when no step text was given). */
  similarity: number;
  /** A stub of already-evicted pages (never a victim; merged by the manager). */
  isStub: boolean;
  /** Among the newest units; the scorer leaves them alone unless the window would overflow. */
  recent: boolean;
}

export interface ReplacementInput {
  units: readonly UnitView[];
  /** Tokens the prompt occupies now (calibrated). */
  used: number;
  /** Working-set budget: context window minus output reserve. */
  budget: number;
  step: number;
  /** Tokens the stub of an eviction adds (one stub per run of victims, capped; 0 for replacers without stubs). */
  stubCost: number;
}

export interface ReplacementPlan {
  /** Keys of units to evict (any order). */
  evict: number[];
  /** Baselines only: the order (unit keys) resident units are rendered in. Omitted = history order. */
  order?: number[];
}

export interface Replacer {
  readonly name: string;
  /** Whether evicted units leave a restorable stub in the prompt (baselines simply drop them). */
  readonly leavesStubs: boolean;
  plan(input: ReplacementInput): ReplacementPlan;
}

export interface ScoredReplacerOptions {
  /** Compact when the prompt passes this fraction of the budget. */
  highWater?: number;
  /** ... down to this fraction. */
  lowWater?: number;
  weights?: { recency: number; frequency: number; importance: number; similarity: number };
}

/** Picks victims by score until `target` is reached; recent units only if nothing else is left. */
function pickVictims(input: ReplacementInput, target: number, score: (u: UnitView) => number): number[] {
  const ranked = input.units
    .filter((u) => !u.isStub)
    .map((u) => ({ u, s: score(u) }))
    .sort((a, b) => Number(a.u.recent) - Number(b.u.recent) || b.s - a.s || a.u.index - b.u.index);
  const out: number[] = [];
  let used = input.used + input.stubCost;
  for (const { u } of ranked) {
    if (used <= target) break;
    out.push(u.key);
    used -= u.tokens;
  }
  return out;
}

export class ScoredReplacer implements Replacer {
  readonly name = 'scored';
  readonly leavesStubs = true;
  private readonly high: number;
  private readonly low: number;
  private readonly w: { recency: number; frequency: number; importance: number; similarity: number };

  constructor(opts: ScoredReplacerOptions = {}) {
    this.high = opts.highWater ?? P.CTX_HIGH_WATER;
    this.low = opts.lowWater ?? P.CTX_LOW_WATER;
    if (!(this.low > 0 && this.low < this.high && this.high <= 1)) {
      throw new KernelError(
        'EINVAL',
        `ScoredReplacer: need 0 < lowWater (${this.low}) < highWater (${this.high}) ≤ 1 (context.low_water / high_water in config.yaml)`,
      );
    }
    this.w = opts.weights ?? { recency: 0.35, frequency: 0.15, importance: 0.3, similarity: 0.2 };
  }

  plan(input: ReplacementInput): ReplacementPlan {
    if (input.used <= this.high * input.budget) return { evict: [] };
    const maxAge = Math.max(1, ...input.units.map((u) => input.step - u.lastAccess));
    const score = (u: UnitView) =>
      this.w.recency * ((input.step - u.lastAccess) / maxAge) +
      this.w.frequency * (1 / (1 + u.accessCount)) +
      this.w.importance * (1 - u.importance) +
      this.w.similarity * (1 - Math.max(0, u.similarity));
    return { evict: pickVictims(input, this.low * input.budget, score) };
  }
}

/**
 * The seeds' ContextManager policy, faithfully: when over budget, swap out the single worst page by
 * 0.4·age + 0.3·(1/(1+accesses)) + 0.3·(1−importance) until it fits; every turn, render resident pages
 * sorted by recency + importance + similarity to the current step (DESIGN §4's measured baseline).
 */
export class SeedsReplacer implements Replacer {
  readonly name = 'seeds';
  readonly leavesStubs = false;

  plan(input: ReplacementInput): ReplacementPlan {
    const maxAge = Math.max(1, ...input.units.map((u) => input.step - u.lastAccess));
    const victim = (u: UnitView) =>
      0.4 * ((input.step - u.lastAccess) / maxAge) +
      0.3 * (1 / (1 + u.accessCount)) +
      0.3 * (1 - u.importance);
    const evict = input.used > input.budget ? pickVictims(input, input.budget, victim) : [];
    const gone = new Set(evict);
    const keep = (u: UnitView) => 1 - (input.step - u.lastAccess) / maxAge + u.importance + u.similarity;
    const order = input.units
      .filter((u) => !gone.has(u.key) && !u.isStub)
      .sort((a, b) => keep(b) - keep(a) || a.index - b.index)
      .map((u) => u.key);
    return { evict, order };
  }
}

/** Append-only: when the prompt no longer fits, drop the oldest units until it does. */
export class AppendOnlyReplacer implements Replacer {
  readonly name = 'append-only';
  readonly leavesStubs = false;

  plan(input: ReplacementInput): ReplacementPlan {
    return { evict: input.used > input.budget ? pickVictims(input, input.budget, (u) => -u.index) : [] };
  }
}

export function replacerByName(name: string, opts: ScoredReplacerOptions = {}): Replacer {
  switch (name) {
    case 'scored':
      return new ScoredReplacer(opts);
    case 'seeds':
      return new SeedsReplacer();
    case 'append-only':
      return new AppendOnlyReplacer();
    default:
      throw new KernelError('EINVAL', `unknown replacer "${name}": use scored, seeds or append-only`);
  }
}
