/**
 * Provider rate limits (RPM and TPM), global and per provider, enforced before a call is made so the
 * kernel itself never causes a 429.
 *
 * Each limit is a token bucket combined with an exact sliding-window log.
 * - The log is the hard cap: what is in flight plus what finished within the last window never exceeds the
 *   limit. A finished call is dated by when it finished, not when it was admitted: its request reached the
 *   provider somewhere in between, so a window counted from the finish covers the provider's own window
 *   however late the call got there (a loaded event loop, a burst being sent, a GC pause). Counted from
 *   admission, calls that reached the provider seconds late still sat in its minute when the kernel
 *   thought they had left it, and the provider answered 429.
 * - The bucket paces within the cap. It starts with what the limit allows, not a burst beyond it: its
 *   capacity (`burstMs` worth) plus one window of refill is the limit, so the bucket alone never admits more
 *   than the limit in any window and the log never has to stop it — no stall at the end of the first minute
 *   and no burst echoing once per window after it. Long-run throughput is the limit × (1 − burstMs/window).
 *
 * Tokens are reserved before the call (the caller's estimate: prompt tokens + max output) and reconciled
 * after it with the provider's usage: a refund when the call used less, a charge (debt, delaying later
 * calls) when it used more. The never-exceeded guarantee holds when estimates are upper bounds.
 */
import { KernelError } from '../errors.js';
import { GLOBAL_RATE_LIMIT_KEY, RATE_BURST_MS, RATE_WINDOW_MS } from '../param.js';
import type { QuotaHandle, SharedQuota, SharedQuotaFactory } from './shared-quota.js';

export interface RateLimit {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens (input + output) per minute. */
  tpm?: number;
}

export interface RateLimiterOptions {
  windowMs?: number;
  burstMs?: number;
  /** On a cluster: each limit is also a pool shared by every node (./shared-quota.ts). */
  shared?: SharedQuotaFactory;
}

interface Entry {
  /** Admission time while in flight; the finish time once reconciled. */
  t: number;
  amount: number;
  /** In flight: counted in the window until it finishes, whatever its age. */
  open: boolean;
  /** Its part of the cluster-wide pool, when the limit is shared. */
  share?: QuotaHandle;
}

/** One limit on one quantity (requests or tokens) per sliding window. */
export class RateLimiter {
  readonly windowMs: number;
  /** Bucket capacity. */
  readonly burst: number;
  private readonly ratePerMs: number;
  private tokens: number;
  private last: number;
  /** Finished calls still inside the window, oldest first (a deque: `head` is the first live index). */
  private log: Entry[] = [];
  private head = 0;
  private inWindow = 0;
  /** Amount reserved by calls not yet reconciled. */
  private inFlight = 0;
  /** The cluster-wide pool of this limit (null on one node): a call needs a grant of it too. */
  readonly shared: SharedQuota | null;

  constructor(
    readonly name: string,
    readonly limit: number,
    opts: RateLimiterOptions = {},
  ) {
    if (!(Number.isFinite(limit) && limit > 0)) {
      throw new KernelError('ECONFIG', `rate limit ${name} must be a positive number, got ${limit}`, {
        details: { limit: name },
      });
    }
    this.windowMs = opts.windowMs ?? RATE_WINDOW_MS;
    // At most half a window: the rest of the limit is refill, so the pace never drops below half of it.
    const burstMs = Math.min(opts.burstMs ?? RATE_BURST_MS, this.windowMs / 2);
    // Below 1 (a small limit) the bucket admits one call whenever it is full: calls go one at a time.
    this.burst = (limit * burstMs) / this.windowMs;
    this.ratePerMs = (limit - this.burst) / this.windowMs;
    this.tokens = this.burst;
    this.last = Number.NEGATIVE_INFINITY;
    this.shared = opts.shared ? opts.shared(name, limit, this.windowMs) : null;
  }

  /** Amount in flight plus finished in the window ending at `now` (after expiring old entries). */
  used(now: number): number {
    this.expire(now);
    return this.inWindow + this.inFlight;
  }

  canAdmit(amount: number, now: number): boolean {
    return this.admitAt(amount, now) <= now;
  }

  /**
   * Earliest time ≥ now at which `amount` will be admitted if nothing else is admitted or finishes
   * meanwhile. Both conditions only get easier with time (the bucket fills, the window drains), so it is the
   * later of the two; +Infinity when only calls in flight finishing can make room (the caller waits for them).
   */
  admitAt(amount: number, now: number): number {
    this.refill(now);
    this.expire(now);
    // A request bigger than the bucket waits for a full bucket (then runs into debt); bigger than the
    // limit, for an empty window: there is no way to send it within the limit, only to send it alone.
    const need = Math.min(amount, this.burst);
    let t = now;
    if (this.tokens + 1e-9 < need) t = now + (need - this.tokens) / this.ratePerMs;
    const cap = Math.max(this.limit, amount);
    if (this.inWindow + this.inFlight + amount > cap + 1e-9) {
      let sum = this.inWindow + this.inFlight;
      let at = Number.POSITIVE_INFINITY;
      for (let i = this.head; i < this.log.length; i++) {
        const e = this.log[i] as Entry;
        sum -= e.amount;
        if (sum + amount <= cap + 1e-9) {
          at = e.t + this.windowMs;
          break;
        }
      }
      t = Math.max(t, at);
    }
    // The cluster's pool: no grant covering it here yet — a lease is under way, its arrival is the event.
    if (t <= now && this.shared && !this.shared.canTake(amount)) return Number.POSITIVE_INFINITY;
    return t;
  }

  /** Takes `amount` now (the caller checked `canAdmit`). The returned entry is what `reconcile` adjusts. */
  reserve(amount: number, now: number): Entry {
    this.refill(now);
    this.expire(now);
    this.tokens -= amount;
    this.inFlight += amount;
    const e: Entry = { t: now, amount, open: true };
    if (this.shared) e.share = this.shared.take(amount);
    return e;
  }

  /**
   * The call finished: replaces its reservation by what was actually used, dated now (the latest moment
   * its requests can have reached the provider).
   */
  reconcile(entry: Entry, actual: number, now: number): void {
    this.refill(now);
    this.expire(now);
    const delta = actual - entry.amount;
    // A refund may lift the bucket above its capacity (up to one window's limit): those tokens were taken
    // but never used, and capping them away would leave the limit under-used. The log still caps the window.
    if (delta !== 0) this.tokens = Math.min(Math.max(this.burst, this.limit), this.tokens - delta);
    if (entry.share) {
      this.shared?.settle(entry.share, actual);
      delete entry.share;
    }
    if (entry.open) {
      this.inFlight = Math.max(0, this.inFlight - entry.amount);
      entry.open = false;
      entry.t = now;
      entry.amount = actual;
      this.log.push(entry);
      this.inWindow += actual;
      return;
    }
    if (entry.t > now - this.windowMs) this.inWindow += delta; // reconciled again: adjust in place
    entry.amount = actual;
  }

  private refill(now: number): void {
    if (now > this.last) {
      if (Number.isFinite(this.last) && this.tokens < this.burst)
        this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.ratePerMs);
      this.last = now;
    }
  }

  private expire(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.log.length && (this.log[this.head] as Entry).t <= cutoff) {
      this.inWindow -= (this.log[this.head] as Entry).amount;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.log.length) {
      this.log = this.log.slice(this.head);
      this.head = 0;
    }
    if (this.head === this.log.length) this.inWindow = 0; // no float drift when empty
  }
}

/** What one admitted call holds on each limiter, to reconcile after it. */
export interface RateTicket {
  requests: { limiter: RateLimiter; entry: Entry }[];
  tokens: { limiter: RateLimiter; entry: Entry }[];
}

export interface RateDenial {
  limiter: RateLimiter;
  kind: 'rpm' | 'tpm';
  scope: string;
  /** When this limiter would admit the call. */
  until: number;
}

/**
 * All limiters: `limits[GLOBAL_RATE_LIMIT_KEY]` applies to every call, `limits[provider]` to that
 * provider's. Providers without an entry are limited only globally.
 */
export class RateLimits {
  private readonly byScope = new Map<string, { rpm?: RateLimiter; tpm?: RateLimiter }>();

  constructor(limits: Record<string, RateLimit> = {}, opts: RateLimiterOptions = {}) {
    for (const [scope, l] of Object.entries(limits)) {
      const entry: { rpm?: RateLimiter; tpm?: RateLimiter } = {};
      if (l.rpm !== undefined) entry.rpm = new RateLimiter(`${scope}.rpm`, l.rpm, opts);
      if (l.tpm !== undefined) entry.tpm = new RateLimiter(`${scope}.tpm`, l.tpm, opts);
      this.byScope.set(scope, entry);
    }
  }

  /** The limiters a call to `provider` passes, with their kinds and scopes. */
  limitersFor(provider: string): { limiter: RateLimiter; kind: 'rpm' | 'tpm'; scope: string }[] {
    const out: { limiter: RateLimiter; kind: 'rpm' | 'tpm'; scope: string }[] = [];
    for (const scope of [GLOBAL_RATE_LIMIT_KEY, provider]) {
      const e = this.byScope.get(scope);
      if (e?.rpm) out.push({ limiter: e.rpm, kind: 'rpm', scope });
      if (e?.tpm) out.push({ limiter: e.tpm, kind: 'tpm', scope });
    }
    return out;
  }

  /** The first limiter that would refuse a call of `estTokens` now, or null when all admit it. */
  check(
    provider: string,
    estTokens: number,
    now: number,
    skip?: ReadonlySet<RateLimiter>,
  ): RateDenial | null {
    for (const l of this.limitersFor(provider)) {
      const until = l.limiter.admitAt(l.kind === 'rpm' ? 1 : estTokens, now);
      // A limiter a more urgent call is waiting for is not given to a less urgent one (no overtaking).
      if (until > now || skip?.has(l.limiter)) return { ...l, until };
    }
    return null;
  }

  /** Earliest time all limiters admit the call. */
  admitAt(provider: string, estTokens: number, now: number): number {
    let t = now;
    for (const l of this.limitersFor(provider))
      t = Math.max(t, l.limiter.admitAt(l.kind === 'rpm' ? 1 : estTokens, now));
    return t;
  }

  reserve(provider: string, estTokens: number, now: number): RateTicket {
    const ticket: RateTicket = { requests: [], tokens: [] };
    for (const l of this.limitersFor(provider)) {
      if (l.kind === 'rpm') ticket.requests.push({ limiter: l.limiter, entry: l.limiter.reserve(1, now) });
      else ticket.tokens.push({ limiter: l.limiter, entry: l.limiter.reserve(estTokens, now) });
    }
    return ticket;
  }

  /** After the call: `tokens` actually used (input + output), `requests` actually sent (retries count). */
  reconcile(ticket: RateTicket, actual: { tokens: number; requests: number }, now: number): void {
    for (const r of ticket.requests) r.limiter.reconcile(r.entry, actual.requests, now);
    for (const r of ticket.tokens) r.limiter.reconcile(r.entry, actual.tokens, now);
  }

  /** Gives the cluster-wide grants back (shutdown). */
  async close(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const e of this.byScope.values())
      for (const l of [e.rpm, e.tpm]) if (l?.shared) all.push(l.shared.close());
    await Promise.all(all);
  }

  /** Usage of every limiter in the current window, for dashboards: `{ 'deepseek.tpm': { used, limit } }`. */
  snapshot(now: number): Record<string, { used: number; limit: number }> {
    const out: Record<string, { used: number; limit: number }> = {};
    for (const e of this.byScope.values()) {
      for (const l of [e.rpm, e.tpm]) if (l) out[l.name] = { used: l.used(now), limit: l.limit };
    }
    return out;
  }
}
