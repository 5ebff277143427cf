/**
 * Kernel-wide and per-tenant budgets (DESIGN §6): `scheduler.budget` for all processes together and
 * `gateway.tenants.<t>.max_tokens / max_cost_usd / max_calls` for a tenant's processes (policy.tenant:
 * its gateway sessions and API spawns). Every model call reserves its upper-bound estimate before it is
 * made and settles what it spent after, against pools in the database shared by every node
 * (../scheduler/shared-budget.ts, ../storage/coordination/budget-grants.ts) — the same on one node
 * (PGlite) as on many. The spend is written in the statement that journals the call (./call-journal.ts).
 *
 * Bound: a call is admitted only when its whole estimate fits what is left, so the pools never exceed
 * their limit by more than what calls in flight spend beyond their estimate (≈3 characters per token
 * plus the call's whole output allowance, priced at the catalogue's input and output prices).
 * An exhausted budget pauses the process in waiting(budget) until room comes back (a limit raised,
 * reservations returned); a gateway session's call is refused with EQUOTA, as the gateway's own quotas are.
 */
import type { AosConfig } from '../config/schema.js';
import { KernelError } from '../errors.js';
import { findModel } from '../llm/catalog.js';
import * as P from '../param.js';
import { type BudgetHold, SharedBudget } from '../scheduler/shared-budget.js';
import { BudgetGrantStore, type BudgetSpend } from '../storage/coordination/budget-grants.js';
import type { StorageDriver } from '../storage/driver.js';
import type { Pcb } from './pcb.js';

type Kind = 'tokens' | 'cost' | 'calls';

interface Limit {
  pool: string;
  kind: Kind;
  limit: number;
  /** The config key, for the message a user acts on. */
  key: string;
}

/** What one call holds of every budget it is charged to. */
export interface BudgetReservation {
  holds: Array<{ budget: SharedBudget; hold: BudgetHold; kind: Kind }>;
  settled: boolean;
}

export interface CallEstimate {
  tokens: number;
  costUsd: number;
}

export class KernelBudgets {
  readonly store: BudgetGrantStore;
  private readonly pools = new Map<string, SharedBudget>();

  constructor(
    private readonly config: AosConfig,
    driver: StorageDriver,
    nodeId: string,
  ) {
    this.store = new BudgetGrantStore(driver, nodeId);
  }

  /** The budgets a process's calls are charged to (none: no reservation, no cost per call). */
  limitsFor(pcb: Pcb): Limit[] {
    const out: Limit[] = [];
    const kb = this.config.scheduler.budget;
    if (kb.max_tokens !== undefined)
      out.push({
        pool: 'kernel:tokens',
        kind: 'tokens',
        limit: kb.max_tokens,
        key: 'scheduler.budget.max_tokens',
      });
    if (kb.max_cost_usd !== undefined)
      out.push({
        pool: 'kernel:cost',
        kind: 'cost',
        limit: kb.max_cost_usd,
        key: 'scheduler.budget.max_cost_usd',
      });
    const tenant = typeof pcb.policy.tenant === 'string' ? pcb.policy.tenant : null;
    const t = tenant ? this.config.gateway.tenants[tenant] : undefined;
    if (tenant && t) {
      const key = `gateway.tenants.${tenant}`;
      if (t.max_tokens !== undefined)
        out.push({
          pool: `tenant:${tenant}:tokens`,
          kind: 'tokens',
          limit: t.max_tokens,
          key: `${key}.max_tokens`,
        });
      if (t.max_cost_usd !== undefined)
        out.push({
          pool: `tenant:${tenant}:cost`,
          kind: 'cost',
          limit: t.max_cost_usd,
          key: `${key}.max_cost_usd`,
        });
      if (t.max_calls !== undefined)
        out.push({
          pool: `tenant:${tenant}:calls`,
          kind: 'calls',
          limit: t.max_calls,
          key: `${key}.max_calls`,
        });
    }
    return out;
  }

  /** Upper bound of a call's cost from its token estimate (prompt at the input price, the rest at output). */
  estimate(model: string, provider: string, promptTokens: number, outputTokens: number): CallEstimate {
    const price = findModel(model, provider)?.price;
    const costUsd = price ? (promptTokens * price.input + outputTokens * price.output) / 1_000_000 : 0;
    return { tokens: promptTokens + outputTokens, costUsd };
  }

  /**
   * Reserves the call's estimate of every budget it is charged to. null: no budget applies. A budget
   * with no room: `onWait` is told why (the process pauses) and the reservation is asked again every
   * BUDGET_RETRY_MS until it fits or `signal` aborts; with `refuse`, EQUOTA is thrown instead.
   */
  async reserve(
    pcb: Pcb,
    est: CallEstimate,
    o: {
      signal: AbortSignal;
      refuse: boolean;
      onWait: (pool: string, reason: string) => void;
      onResume: () => void;
    },
  ): Promise<BudgetReservation | null> {
    const limits = this.limitsFor(pcb);
    if (limits.length === 0) return null;
    let waiting = false;
    try {
      for (;;) {
        const res: BudgetReservation = { holds: [], settled: false };
        let refused: { l: Limit; used: number; need: number; limit: number } | null = null;
        for (const l of limits) {
          const b = this.pool(l);
          const need = amountOf(l.kind, est);
          let hold = b.tryTake(need);
          for (let i = 0; !hold && i < 4; i++) {
            const r = await b.lease(need);
            if (r) {
              refused = { l, used: r.used, need, limit: b.limit };
              break;
            }
            hold = b.tryTake(need);
          }
          if (!hold) {
            refused ??= { l, used: Number.NaN, need, limit: b.limit };
            break;
          }
          res.holds.push({ budget: b, hold, kind: l.kind });
        }
        if (!refused) return res;
        this.settle(res, null);
        const { l, used, need, limit } = refused;
        const reason = `${l.key} exhausted: ${fmt(l.kind, used)} of ${fmt(l.kind, limit)} used on all nodes, ${fmt(l.kind, need)} needed for the next call`;
        if (o.refuse) throw new KernelError('EQUOTA', reason, { details: { pool: l.pool, limit, used } });
        if (!waiting)
          o.onWait(
            l.pool,
            `${reason}; raise it (POST /api/v1/budgets/${l.pool}/limit, or ${l.key}) to continue`,
          );
        waiting = true;
        await sleep(P.BUDGET_RETRY_MS, o.signal);
      }
    } finally {
      if (waiting) o.onResume();
    }
  }

  /** Each budget's part of what the call spent (written with the call's journal row, or by spendDirect). */
  spendOf(res: BudgetReservation | null, spent: CallEstimate): BudgetSpend[] {
    if (!res) return [];
    return res.holds.map((h) => ({
      grant: h.hold.grant,
      pool: h.hold.pool,
      amount: h.kind === 'calls' ? 1 : h.kind === 'tokens' ? spent.tokens : spent.costUsd,
    }));
  }

  /** Writes spend that was not journaled with a call (embeddings, calls outside a step). */
  spendDirect(items: BudgetSpend[]): Promise<void> {
    return this.store.spend(items);
  }

  /** The call is over: its reservation is settled at what it spent (null: nothing was spent). */
  settle(res: BudgetReservation | null, spend: BudgetSpend[] | null): void {
    if (!res || res.settled) return;
    res.settled = true;
    res.holds.forEach((h, i) => {
      h.budget.settle(h.hold, spend?.[i]?.amount ?? 0);
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }

  private pool(l: Limit): SharedBudget {
    let b = this.pools.get(l.pool);
    if (!b) {
      b = new SharedBudget(l.pool, l.limit, this.store);
      this.pools.set(l.pool, b);
    }
    return b;
  }

  /**
   * An operator's new limit for one of the budgets the config declares (`pool` as listed by the API:
   * kernel:tokens, tenant:<t>:cost, …): it holds for every node from its next lease on, and a process paused
   * on the budget goes on within BUDGET_RETRY_MS. The config's number stays the default a changed config
   * replaces.
   */
  async setLimit(pool: string, limit: number): Promise<{ name: string; limit: number; used: number }> {
    const declared = this.declaredPools().get(pool);
    if (declared === undefined) {
      const known = [...this.declaredPools().keys()];
      throw new KernelError(
        'ENOTFOUND',
        `no budget ${pool}: the config declares ${known.length ? known.join(', ') : 'none'} (scheduler.budget.max_tokens / max_cost_usd, gateway.tenants.<t>.max_tokens / max_cost_usd / max_calls); declare it there first`,
      );
    }
    if (!Number.isFinite(limit) || limit <= 0)
      throw new KernelError('EINVAL', `a budget limit must be a positive number, got ${limit}`);
    const r = await this.store.setLimit(pool, limit, declared.limit);
    const b = this.pools.get(pool);
    if (b) b.limit = r.limit;
    return { name: pool, ...r };
  }

  /** Every budget the config declares, by pool name. */
  private declaredPools(): Map<string, Limit> {
    const out = new Map<string, Limit>();
    for (const l of this.limitsFor({ policy: {} } as Pcb)) out.set(l.pool, l);
    for (const tenant of Object.keys(this.config.gateway.tenants))
      for (const l of this.limitsFor({ policy: { tenant } } as unknown as Pcb)) out.set(l.pool, l);
    return out;
  }
}

function amountOf(kind: Kind, est: CallEstimate): number {
  return kind === 'calls' ? 1 : kind === 'tokens' ? est.tokens : est.costUsd;
}

function fmt(kind: Kind, n: number): string {
  if (!Number.isFinite(n)) return '?';
  if (kind === 'cost') return `$${n.toFixed(4)}`;
  return `${Math.round(n)}${kind === 'calls' ? ' calls' : ' tokens'}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new KernelError('EABORTED', 'aborted'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(new KernelError('EABORTED', 'aborted'));
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}
