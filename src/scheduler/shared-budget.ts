/**
 * A budget that holds for every node together (a kernel-wide or a tenant's token, cost or call budget;
 * DESIGN §6): the truth is a pool in the database (src/storage/coordination/budget-grants.ts). A node
 * reserves a chunk of it at a time and takes each call's upper-bound estimate from its chunk without a
 * round trip; the call's actual spend is written with the call's journal row. A budget never refills:
 * a call that no chunk and no new lease can cover is refused, and the caller pauses (or errs) on it.
 *
 * A chunk is sealed once BUDGET_HOLD_MS old or too small for the next call, and released when its last
 * call finished, so an idle node gives its unspent part back within BUDGET_HOLD_MS; a dead node's comes
 * back once its heartbeat is a lease old.
 */
import * as P from '../param.js';
import { logger } from '../util/log.js';

const log = logger('scheduler.budget');

/** The database side: one pool per budget, chunks per node. */
export interface BudgetBackend {
  /** `declared`: this node's config limit (its first lease), else null — the pool's own limit applies. */
  lease(
    pool: string,
    declared: number | null,
    need: number,
    want: number,
  ): Promise<{ id: number; amount: number; limit: number } | { used: number; limit: number }>;
  release(id: number): Promise<void>;
}

interface Chunk {
  id: number;
  /** What the database still holds reserved for this node (its amount less what was spent). */
  remaining: number;
  /** Estimates of the calls in flight on it. */
  held: number;
  open: number;
  leasedAt: number;
  sealed: boolean;
  released: boolean;
}

/** What one call holds of a budget until it settles. */
export interface BudgetHold {
  readonly pool: string;
  readonly grant: number;
  readonly amount: number;
  /** @internal */
  readonly chunk: Chunk;
}

export type BudgetRefusal = { used: number; limit: number };

export class SharedBudget {
  private chunks: Chunk[] = [];
  private leasing: Promise<BudgetRefusal | null> | null = null;
  private closed = false;
  private readonly releasing = new Set<Promise<void>>();
  private sweepTimer: NodeJS.Timeout | null = null;
  /** The pool's use when this node last asked (for status). */
  lastSeen: { used: number; at: number } | null = null;
  readonly stats = { leases: 0, refusals: 0, released: 0, local: 0 };
  /** Whether this node has told the pool its config's limit (its first lease does). */
  private declared = false;

  constructor(
    readonly name: string,
    /** The config's limit until the pool's is known; then the pool's, as of the last lease. */
    public limit: number,
    private readonly backend: BudgetBackend,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes `amount` from a chunk this node holds, or null (then lease() and try again). */
  tryTake(amount: number): BudgetHold | null {
    const now = this.clock();
    for (const c of this.chunks) {
      if (c.sealed) continue;
      if (now - c.leasedAt >= P.BUDGET_HOLD_MS) {
        this.seal(c);
        continue;
      }
      if (c.remaining - c.held + 1e-9 >= amount) {
        c.held += amount;
        c.open += 1;
        this.stats.local++;
        return { pool: this.name, grant: c.id, amount, chunk: c };
      }
    }
    return null;
  }

  /**
   * Reserves a new chunk covering `need`; null when granted (then tryTake again). One lease is in flight
   * at a time: a caller arriving meanwhile shares its answer.
   */
  lease(need: number): Promise<BudgetRefusal | null> {
    if (this.closed) return Promise.resolve({ used: Number.NaN, limit: this.limit });
    if (this.leasing) return this.leasing;
    this.leasing = this.doLease(need).finally(() => {
      this.leasing = null;
    });
    return this.leasing;
  }

  /** The call finished having spent `actual` (already written with its journal row, or by spend()). */
  settle(h: BudgetHold, actual: number): void {
    const c = h.chunk;
    c.held -= h.amount;
    c.open -= 1;
    c.remaining = Math.max(0, c.remaining - actual);
    if (c.remaining - c.held < 1e-9) c.sealed = true;
    this.maybeRelease(c);
  }

  /** Gives every chunk back; calls in flight release theirs when they settle. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const c of [...this.chunks]) this.seal(c);
    await Promise.all([...this.releasing]);
  }

  /** Unspent, unheld reservation on this node. */
  get available(): number {
    let n = 0;
    for (const c of this.chunks) if (!c.sealed) n += c.remaining - c.held;
    return n;
  }

  private async doLease(need: number): Promise<BudgetRefusal | null> {
    // Chunks too small for this call go back: the new one serves it.
    for (const c of [...this.chunks]) if (c.remaining - c.held < need) this.seal(c);
    const want = Math.max(need, Math.ceil(this.limit * P.BUDGET_CHUNK));
    try {
      const r = await this.backend.lease(this.name, this.declared ? null : this.limit, need, want);
      this.declared = true;
      // The limit in force is the pool's, shared by every node (an operator may have changed it).
      if (Number.isFinite(r.limit) && r.limit > 0) this.limit = r.limit;
      if ('id' in r) {
        this.stats.leases++;
        const c: Chunk = {
          id: r.id,
          remaining: r.amount,
          held: 0,
          open: 0,
          leasedAt: this.clock(),
          sealed: false,
          released: false,
        };
        this.chunks.push(c);
        if (this.closed) this.seal(c);
        else this.armSweep();
        return null;
      }
      this.stats.refusals++;
      this.lastSeen = { used: r.used, at: this.clock() };
      return r;
    } catch (err) {
      log.warn(`reserving from budget ${this.name} failed: ${(err as Error).message}`);
      return { used: Number.NaN, limit: this.limit };
    }
  }

  /** Seals chunks held too long (an idle node gives its part back), while this node holds any. */
  private armSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => {
      const now = this.clock();
      for (const c of [...this.chunks]) if (now - c.leasedAt >= P.BUDGET_HOLD_MS) this.seal(c);
      if (this.chunks.length === 0 && this.sweepTimer) {
        clearInterval(this.sweepTimer);
        this.sweepTimer = null;
      }
    }, P.BUDGET_HOLD_MS);
    this.sweepTimer.unref?.();
  }

  private seal(c: Chunk): void {
    c.sealed = true;
    this.maybeRelease(c);
  }

  private maybeRelease(c: Chunk): void {
    if (!c.sealed || c.open > 0 || c.released) return;
    c.released = true;
    this.chunks = this.chunks.filter((x) => x !== c);
    this.stats.released++;
    const p: Promise<void> = this.backend
      .release(c.id)
      .catch((err: unknown) => {
        // Left open: it counts until this node's heartbeat is a lease old.
        log.warn(`releasing budget chunk ${c.id} of ${this.name} failed: ${(err as Error).message}`);
      })
      .finally(() => this.releasing.delete(p));
    this.releasing.add(p);
  }
}
