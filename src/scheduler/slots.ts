/**
 * How many LLM calls a model may have in flight when the config does not say (`slots_per_model: auto`,
 * the default). The binding limit of a provider is its rate limit, not a fixed count: by Little's law a
 * provider that admits R calls per second, each taking L seconds, is used fully with R × L calls in flight.
 *   calls/s R = min over the provider's (and the global) limits of  rpm / 60  and  tpm / 60 / tokens per call
 *   slots     = ceil(R × L × AUTO_SLOTS_HEADROOM), clamped to [AUTO_SLOTS_MIN, AUTO_SLOTS_MAX]
 * L and tokens per call are learned from the model's finished calls (an EWMA; AUTO_SLOTS_PRIOR_LATENCY_MS
 * and the call's estimate before the first). With no limit known there is nothing to pace against: the
 * model gets AUTO_SLOTS_MAX, and the rate limiter (if one is configured later) still prevents 429s.
 */
import * as P from '../param.js';

export interface AutoSlotsInput {
  /** The provider's limits (its own and the global one), per minute. */
  limits: ReadonlyArray<{ kind: 'rpm' | 'tpm'; limit: number }>;
  latencyMs: number;
  tokensPerCall: number;
}

export interface AutoSlots {
  slots: number;
  /** What bound it: 'rpm', 'tpm', or 'none' (no limit known: the ceiling). */
  basis: 'rpm' | 'tpm' | 'none';
}

export function autoSlots(i: AutoSlotsInput): AutoSlots {
  let perSec = Number.POSITIVE_INFINITY;
  let basis: AutoSlots['basis'] = 'none';
  for (const l of i.limits) {
    const r = l.kind === 'rpm' ? l.limit / 60 : l.limit / 60 / Math.max(1, i.tokensPerCall);
    if (r < perSec) {
      perSec = r;
      basis = l.kind;
    }
  }
  if (!Number.isFinite(perSec)) return { slots: P.AUTO_SLOTS_MAX, basis };
  const want = Math.ceil(perSec * (Math.max(1, i.latencyMs) / 1000) * P.AUTO_SLOTS_HEADROOM);
  return { slots: Math.min(P.AUTO_SLOTS_MAX, Math.max(P.AUTO_SLOTS_MIN, want)), basis };
}

/** Exponentially weighted mean: the latest sample weighs AUTO_SLOTS_EWMA. */
export function ewma(prev: number | null, sample: number): number {
  return prev === null ? sample : prev + P.AUTO_SLOTS_EWMA * (sample - prev);
}
