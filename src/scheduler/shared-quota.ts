/**
 * A limit shared by every node of a cluster (DESIGN §6: N nodes never make N× the provider's limit): a
 * provider's RPM or TPM, or a model's slot count. The truth is a pool in the database (grants leased by
 * nodes, src/storage/coordination/rate-grants.ts); each node leases a small part of the limit at a time and
 * spends it locally, so the synchronous scheduler asks only this object, never the database.
 *
 * - `windowMs > 0` (RPM, TPM): what a call spends is gone for the window. A grant counts in the pool at its
 *   full amount while the node holds it and at what was spent for one window after the node released it —
 *   released only once its last call finished, so the window is dated from the finish, as the local limiter
 *   does (./ratelimit.ts), which covers any delay between admission and the provider seeing the request.
 * - `windowMs = 0` (slots): a unit is held while its call runs and comes back when it finishes.
 * A grant is sealed (nothing more is taken from it) once GRANT_HOLD_MS old or too small for the next call,
 * and released when its calls finished: an idle node gives its share back within GRANT_HOLD_MS. A node that
 * dies keeps its grants counted until its heartbeat is one lease (+ one window) old.
 *
 * When no grant covers a call, the scheduler is told "not now" (Infinity: no timer) and a lease starts;
 * its arrival (or the pool's refusal and a later retry) calls `onChange`, which pumps the dispatcher.
 */
import * as P from '../param.js';
import { logger } from '../util/log.js';

const log = logger('scheduler.shared');

/** The database side: one pool per limit, grants per node. */
export interface GrantBackend {
  /** Leases up to `want` (at least `need`) of `pool`'s `limit`; or says when to ask again. */
  lease(
    pool: string,
    limit: number,
    windowMs: number,
    need: number,
    want: number,
  ): Promise<{ id: number; amount: number } | { retryInMs: number }>;
  /** The grant's calls finished: it counts `spent` for one window from now (nothing when windowMs = 0). */
  release(id: number, spent: number): Promise<void>;
}

interface LocalGrant {
  id: number;
  amount: number;
  /** Spent so far (windowed), or held now (slots). */
  used: number;
  /** Calls in flight on it. */
  open: number;
  leasedAt: number;
  sealed: boolean;
  released: boolean;
}

/** What one call holds on a shared quota, settled when it finishes. */
export interface QuotaHandle {
  grant: LocalGrant;
  amount: number;
}

export class SharedQuota {
  private grants: LocalGrant[] = [];
  private need = 0;
  private leasing = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Releases sent and not yet answered: close() waits for them, so a closed quota holds nothing. */
  private readonly releasing = new Set<Promise<void>>();
  /** Leases granted and refused (for stats and tests). */
  readonly stats = { leases: 0, refusals: 0, released: 0 };

  constructor(
    readonly name: string,
    readonly limit: number,
    readonly windowMs: number,
    private readonly backend: GrantBackend,
    private readonly onChange: () => void,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether one grant this node holds covers `amount` now; if not, a lease is started. */
  canTake(amount: number): boolean {
    if (this.pick(amount)) return true;
    this.want(amount);
    return false;
  }

  /** Takes `amount` (the caller checked canTake in the same tick). */
  take(amount: number): QuotaHandle {
    const g = this.pick(amount);
    if (!g)
      throw new Error(`shared quota ${this.name}: take(${amount}) without a grant (canTake not checked)`);
    g.used += amount;
    g.open += 1;
    return { grant: g, amount };
  }

  /** The call finished having spent `actual` (windowed) — or given its unit back (slots). */
  settle(h: QuotaHandle, actual: number): void {
    const g = h.grant;
    g.open -= 1;
    if (this.windowMs > 0) g.used += actual - h.amount;
    else g.used -= h.amount;
    // A windowed grant with too little left for another call is sealed now, so it is released as soon as
    // its last call finishes: what it spent starts leaving the window then.
    if (this.windowMs > 0 && g.amount - g.used < Math.min(1, g.amount)) g.sealed = true;
    this.maybeRelease(g);
  }

  /** Gives every grant back (shutdown); calls still in flight release theirs when they finish. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const g of this.grants) g.sealed = true;
    for (const g of this.grants) this.maybeRelease(g);
    // Every release in flight, including those settle() started before close (not awaited there).
    await Promise.all([...this.releasing]);
  }

  /** Amount this node holds and has not spent (for stats). */
  get available(): number {
    let n = 0;
    for (const g of this.grants) if (!g.sealed) n += g.amount - g.used;
    return n;
  }

  private pick(amount: number): LocalGrant | null {
    const now = this.clock();
    for (const g of this.grants) {
      if (g.sealed) continue;
      if (now - g.leasedAt >= P.GRANT_HOLD_MS) {
        g.sealed = true;
        this.maybeRelease(g);
        continue;
      }
      if (g.amount - g.used + 1e-9 >= amount) return g;
    }
    return null;
  }

  private want(amount: number): void {
    if (this.closed) return;
    this.need = Math.max(this.need, amount);
    if (this.leasing || this.retryTimer) return;
    void this.lease();
  }

  private async lease(): Promise<void> {
    this.leasing = true;
    const need = this.need;
    // A small part of the limit per lease (fewer round trips), never less than the call needs.
    const want = Math.max(need, Math.min(this.limit, Math.ceil(this.limit * P.GRANT_CHUNK)));
    let retryInMs: number | null = null;
    try {
      const r = await this.backend.lease(this.name, this.limit, this.windowMs, need, want);
      if ('id' in r && this.closed) {
        // Closed while the lease was on its way: the grant goes straight back.
        this.stats.leases++;
        await this.backend.release(r.id, 0);
      } else if ('id' in r) {
        this.stats.leases++;
        // Grants too small for this call are sealed: the new one serves it, the old ones go back.
        for (const g of this.grants) if (!g.sealed && g.amount - g.used < need) g.sealed = true;
        for (const g of this.grants) this.maybeRelease(g);
        this.grants.push({
          id: r.id,
          amount: r.amount,
          used: 0,
          open: 0,
          leasedAt: this.clock(),
          sealed: false,
          released: false,
        });
        this.need = 0;
        this.armSweep();
      } else {
        this.stats.refusals++;
        retryInMs = r.retryInMs;
      }
    } catch (err) {
      log.warn(`leasing from shared limit ${this.name} failed: ${(err as Error).message}`);
      retryInMs = P.GRANT_RETRY_MAX_MS;
    } finally {
      this.leasing = false;
    }
    if (this.closed) return;
    if (retryInMs !== null) {
      const ms = Math.min(P.GRANT_RETRY_MAX_MS, Math.max(P.GRANT_RETRY_MIN_MS, retryInMs));
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        // Asked again only while a call still waits: the dispatcher's next check re-registers the need.
        this.need = 0;
        this.onChange();
      }, ms);
      this.retryTimer.unref?.();
      return;
    }
    this.onChange();
  }

  /** Seals grants held too long and releases idle ones, while this node holds any. */
  private armSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => {
      const now = this.clock();
      for (const g of this.grants) {
        if (!g.sealed && now - g.leasedAt >= P.GRANT_HOLD_MS) g.sealed = true;
        this.maybeRelease(g);
      }
      if (this.grants.length === 0 && this.sweepTimer) {
        clearInterval(this.sweepTimer);
        this.sweepTimer = null;
      }
    }, P.GRANT_HOLD_MS);
    this.sweepTimer.unref?.();
  }

  private maybeRelease(g: LocalGrant): Promise<void> {
    if (!g.sealed || g.open > 0 || g.released) return Promise.resolve();
    g.released = true;
    this.grants = this.grants.filter((x) => x !== g);
    this.stats.released++;
    const spent = this.windowMs > 0 ? Math.max(0, g.used) : 0;
    const p: Promise<void> = this.backend
      .release(g.id, spent)
      .catch((err: unknown) => {
        // Left open in the pool: it counts until this node's heartbeat is a lease (+ a window) old.
        log.warn(`releasing grant ${g.id} of ${this.name} failed: ${(err as Error).message}`);
      })
      .finally(() => this.releasing.delete(p));
    this.releasing.add(p);
    return p;
  }
}

/** Makes the shared quota of one limit (`name`: e.g. `rpm:openai`, `slots:gpt-4o`). */
export type SharedQuotaFactory = (name: string, limit: number, windowMs: number) => SharedQuota;
