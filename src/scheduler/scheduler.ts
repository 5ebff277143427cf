/**
 * The scheduler: the ready queue and the LLM slots it hands out. Synchronous; the kernel loop (src/kernel)
 * drives it:
 *
 *   enqueue(entity) ─► dispatch(now) ─► { pid, model, slot } ─► LLM call ─► release(slot, usage)
 *        ▲                  │ null: nothing runnable; sleep until nextWakeAt() or the next event
 *        └── after the step: timeSliceExpired(pid, used) ? enqueue(e) : enqueue(e, { continuing: true })
 *
 * The CPUs are the slots of each model (lanes); a process holds a slot only for its LLM call, so one
 * waiting on a tool, a message or an approval is simply not here. A call is dispatched only when its
 * provider's rate limiters admit its estimated tokens (./ratelimit.ts); the policy (./policy.ts) decides the
 * order; priority inheritance (./inherit.ts) lifts processes that others wait on. Budgets are ./budget.ts.
 *
 * Size: Over 500 lines because it is one synchronous state machine (queue, lanes, limiters, inheritance) whose invariants are easier to check in one place; policies, rate limits and budgets are already apart.
 */
import { performance } from 'node:perf_hooks';
import { KernelError } from '../errors.js';
import * as P from '../param.js';
import { WaitGraph } from './inherit.js';
import { FairPolicy } from './policies/fair-policy.js';
import { FifoPolicy } from './policies/fifo-policy.js';
import { RoundRobinPolicy } from './policies/round-robin-policy.js';
import {
  type Clock,
  type Pid,
  type Rank,
  type RunQueue,
  rankLess,
  type SchedPolicy,
  type SchedRecord,
} from './policy.js';
import { type RateLimiter, RateLimits, type RateTicket } from './ratelimit.js';
import type { QuotaHandle, SharedQuota } from './shared-quota.js';
import { autoSlots, ewma } from './slots.js';
import type {
  CallUsage,
  Grant,
  SchedEntity,
  SchedulerHooks,
  SchedulerOptions,
  SchedulerStats,
} from './types.js';
import {
  checkPid,
  checkPriority,
  nonNegative,
  positive,
  positiveInt,
  stateError,
  validateEntity,
} from './validate.js';

export type {
  CallUsage,
  DispatchSample,
  Grant,
  QuotaDenial,
  SchedEntity,
  SchedulerHooks,
  SchedulerOptions,
  SchedulerStats,
} from './types.js';

interface Lane {
  model: string;
  capacity: number;
  /** Capacity derived from the provider's rate limits and the learned latency (./slots.ts). */
  auto: { provider: string; latencyMs: number | null; tokensPerCall: number | null; basis: string } | null;
  busy: number;
  freeIdx: number[];
  queue: RunQueue;
  /** `${pid}:${limiter}` of the last denial, so a head waiting on a limiter counts one denial, not one per poll. */
  denied: string | null;
  /** A fixed slot count on a cluster: the count holds for all nodes together (./shared-quota.ts). */
  shared: SharedQuota | null;
}

interface Held {
  grant: Grant;
  lane: Lane;
  ticket: RateTicket;
  startedAt: number;
  slotShare: QuotaHandle | null;
}

export function createPolicy(
  name: 'fair' | 'fifo' | 'round_robin',
  agingMs: number = P.AGING_MS,
): SchedPolicy {
  switch (name) {
    case 'fair':
      return new FairPolicy({ agingMs });
    case 'fifo':
      return new FifoPolicy();
    case 'round_robin':
      return new RoundRobinPolicy();
    default:
      throw new KernelError(
        'ECONFIG',
        `unknown scheduler policy "${String(name)}": use fair, fifo or round_robin`,
        {
          details: { key: 'scheduler.policy' },
        },
      );
  }
}

export class Scheduler {
  readonly policy: SchedPolicy;
  readonly timeSliceSteps: number;
  readonly timeSliceTokens: number;
  private readonly clock: Clock;
  private readonly slotsPerModel: number | 'auto';
  private readonly slotOverrides: Record<string, number>;
  private readonly limits: RateLimits;
  private readonly hooks: SchedulerHooks;
  private readonly records = new Map<Pid, SchedRecord>();
  private readonly lanes = new Map<string, Lane>();
  private readonly held = new Map<number, Held>();
  private readonly waits = new WaitGraph();
  private lastNow = Number.NEGATIVE_INFINITY;
  private nextSlot = 0;
  private queued = 0;
  private counters = { dispatches: 0, preemptions: 0, rpm: 0, tpm: 0 };

  constructor(private readonly opts: SchedulerOptions = {}) {
    const agingMs = positive(opts.agingMs ?? P.AGING_MS, 'agingMs');
    this.policy =
      typeof opts.policy === 'object' ? opts.policy : createPolicy(opts.policy ?? 'fair', agingMs);
    this.clock = opts.clock ?? Date.now;
    this.slotsPerModel =
      opts.slotsPerModel === 'auto'
        ? 'auto'
        : positiveInt(opts.slotsPerModel ?? P.DEFAULT_SLOTS_PER_MODEL, 'slotsPerModel');
    this.slotOverrides = { ...(opts.slots ?? {}) };
    for (const [m, n] of Object.entries(this.slotOverrides)) positiveInt(n, `slots.${m}`);
    this.timeSliceSteps = positiveInt(opts.timeSliceSteps ?? P.TIME_SLICE_STEPS, 'timeSliceSteps');
    this.timeSliceTokens = positive(opts.timeSliceTokens ?? P.TIME_SLICE_TOKENS, 'timeSliceTokens');
    this.limits = new RateLimits(opts.rateLimits ?? {}, opts.rateLimiter ?? {});
    this.hooks = opts.hooks ?? {};
  }

  // ── the ready queue ───────────────────────────────────────────────────────────────────────────────

  /**
   * Makes a process ready. `continuing`: it is between steps of an unexpired time slice and goes to the
   * front of its class. A process already queued or holding a slot cannot be enqueued again.
   */
  enqueue(entity: SchedEntity, opts: { continuing?: boolean; now?: number } = {}): void {
    validateEntity(entity);
    const now = this.time(opts.now);
    let rec = this.records.get(entity.pid);
    const isNew = rec === undefined;
    if (rec?.state === 'ready')
      throw stateError(entity.pid, 'is already in the ready queue; remove() it first');
    if (rec?.state === 'running')
      throw stateError(entity.pid, 'holds an LLM slot; release() it before enqueueing again');
    if (!rec) {
      rec = {
        pid: entity.pid,
        priority: entity.priority,
        schedPrio: entity.priority,
        weight: entity.weight ?? P.DEFAULT_WEIGHT,
        group: null,
        vruntime: 0,
        model: entity.model,
        provider: entity.provider,
        parentPid: entity.parentPid ?? null,
        estTokens: P.DEFAULT_EST_REQUEST_TOKENS,
        state: 'idle',
        enqueuedAt: now,
        continuing: false,
      };
      this.records.set(rec.pid, rec);
    }
    const lifts = isNew || rec.priority !== entity.priority; // may change what it lends to holders it waits on
    rec.priority = entity.priority;
    if (entity.weight !== undefined) rec.weight = entity.weight;
    if (entity.group !== undefined) rec.group = entity.group;
    if (entity.vruntime !== undefined) rec.vruntime = entity.vruntime;
    if (entity.parentPid !== undefined) rec.parentPid = entity.parentPid;
    if (entity.estTokens !== undefined) rec.estTokens = entity.estTokens;
    rec.model = entity.model;
    rec.provider = entity.provider;
    rec.schedPrio = this.waits.inherited(rec.pid, (p) => this.records.get(p)?.priority);
    rec.continuing = opts.continuing === true;
    rec.enqueuedAt = now;
    const parent = rec.parentPid === null ? undefined : this.records.get(rec.parentPid);
    this.policy.place(rec, parent);
    rec.state = 'ready';
    this.lane(rec.model, rec.provider, rec.estTokens).queue.push(rec, now);
    this.queued++;
    if (lifts) this.recompute(this.waits.downstream(rec.pid));
  }

  /** Takes a process out of the ready queue (suspend, kill, wait); its record and vruntime are kept. */
  remove(pid: Pid): boolean {
    const rec = this.records.get(pid);
    if (rec?.state !== 'ready') return false;
    this.lane(rec.model).queue.remove(pid);
    rec.state = 'idle';
    this.queued--;
    return true;
  }

  /** The process exited: drops everything the scheduler knows about it (a held slot stays until released). */
  forget(pid: Pid): void {
    const rec = this.records.get(pid);
    if (!rec) return;
    this.remove(pid);
    const affected = new Set<Pid>();
    for (const h of this.waits.drop(pid)) for (const p of this.waits.downstream(h)) affected.add(p);
    this.policy.forget(rec);
    this.records.delete(pid);
    this.recompute([...affected]);
  }

  /** Changes a process's base priority (renice). */
  setPriority(pid: Pid, priority: number): void {
    checkPriority(priority);
    const rec = this.known(pid);
    if (rec.priority === priority) return;
    rec.priority = priority;
    if (rec.state === 'ready') {
      // Its vruntime belongs to the old class's scale: re-place it in the new one.
      const q = this.lane(rec.model).queue;
      q.remove(pid);
      rec.schedPrio = this.waits.inherited(pid, (p) => this.records.get(p)?.priority);
      this.policy.place(rec, rec.parentPid === null ? undefined : this.records.get(rec.parentPid));
      q.push(rec, rec.enqueuedAt);
    }
    this.recompute(this.waits.downstream(pid));
  }

  // ── dispatch and release ──────────────────────────────────────────────────────────────────────────

  /**
   * Picks the most urgent ready process whose model has a free slot and whose provider's limiters admit
   * its estimated tokens, reserves both, and returns the grant; null when nothing can run now.
   */
  dispatch(now?: number): Grant | null {
    const started = performance.now();
    const t = this.time(now);
    const plan = this.plan(t);
    if (!plan.pick) return null;
    const { lane, rec } = plan.pick;
    lane.queue.pop(t);
    this.queued--;
    lane.denied = null;
    const ticket = this.limits.reserve(rec.provider, rec.estTokens, t);
    const slotShare = lane.shared ? lane.shared.take(1) : null;
    const slotIndex = lane.freeIdx.pop() as number;
    lane.busy++;
    const grant: Grant = {
      pid: rec.pid,
      model: lane.model,
      provider: rec.provider,
      slot: ++this.nextSlot,
      slotIndex,
      estTokens: rec.estTokens,
      waitedMs: t - rec.enqueuedAt,
    };
    this.held.set(grant.slot, { grant, lane, ticket, startedAt: t, slotShare });
    rec.state = 'running';
    this.policy.started(rec);
    this.counters.dispatches++;
    this.hooks.onDispatch?.({
      pid: rec.pid,
      model: lane.model,
      waitedMs: grant.waitedMs,
      decisionMs: performance.now() - started,
    });
    return grant;
  }

  /**
   * The call on `slot` finished (or failed): frees the slot, charges the process's vruntime with the tokens
   * used, and replaces the rate-limit reservation by the actual usage. Returns the pid and its new vruntime
   * (for the PCB).
   */
  release(slot: number, usage: CallUsage, now?: number): { pid: Pid; vruntime: number } {
    const h = this.held.get(slot);
    if (!h)
      throw new KernelError('ESTATE', `slot ${slot} is not held: released twice, or never dispatched`, {
        details: { slot },
      });
    const t = this.time(now);
    const tokens = nonNegative(usage.tokensIn, 'tokensIn') + nonNegative(usage.tokensOut, 'tokensOut');
    this.held.delete(slot);
    h.lane.busy--;
    if (h.grant.slotIndex < h.lane.capacity) h.lane.freeIdx.push(h.grant.slotIndex); // capacity may have shrunk
    this.limits.reconcile(h.ticket, { tokens, requests: usage.apiCalls ?? 1 }, t);
    if (h.slotShare) h.lane.shared?.settle(h.slotShare, 0);
    if (h.lane.auto) {
      h.lane.auto.latencyMs = ewma(h.lane.auto.latencyMs, t - h.startedAt);
      h.lane.auto.tokensPerCall = ewma(h.lane.auto.tokensPerCall, Math.max(1, tokens));
      this.resize(h.lane, this.autoCapacity(h.lane, h.lane.auto.tokensPerCall));
    }
    const cost = this.cost(h.grant.provider, tokens, usage.apiCalls ?? 1);
    const rec = this.records.get(h.grant.pid);
    if (!rec) return { pid: h.grant.pid, vruntime: 0 };
    // A group's members split its share: the policy charges the group (FairPolicy: one tag per group).
    if (rec.state === 'running') rec.state = 'idle';
    this.policy.charge(rec, cost);
    return { pid: rec.pid, vruntime: rec.vruntime };
  }

  /**
   * Asked between steps: has `pid` used up its time slice (`used` counts steps and tokens since its slice
   * began) while a process of equal or more urgent effective priority waits for its model? True means
   * yield: enqueue it normally (to the back of its class) and start a new slice; false means enqueue it
   * with `{ continuing: true }`. A used-up slice with nobody waiting keeps running.
   */
  timeSliceExpired(pid: Pid, used: { steps: number; tokens: number }, now?: number): boolean {
    const rec = this.known(pid);
    if (used.steps < this.timeSliceSteps && used.tokens < this.timeSliceTokens) return false;
    if (!this.policy.preemptive) return false;
    const best = this.lanes.get(rec.model)?.queue.bestPrio(this.time(now));
    if (best === undefined || best > rec.schedPrio) return false;
    this.counters.preemptions++;
    this.hooks.onPreempt?.(pid);
    return true;
  }

  /**
   * When the next dispatch can succeed without any other event: `now` if one can run now, the moment a
   * rate limiter admits a blocked call, the next aging step when a call is held back behind a more urgent
   * one waiting for the same limiter (aging may reverse their order), or null (nothing ready, or every ready
   * lane's slots are busy — a release() will be the event). Otherwise aging needs no wake-up: effective
   * priority is computed at decision time.
   */
  nextWakeAt(now?: number): number | null {
    const t = this.time(now);
    const plan = this.plan(t);
    if (plan.pick) return t;
    // Infinite: only a call in flight finishing makes room, and its release() is the event.
    return plan.wakeAt === null || !Number.isFinite(plan.wakeAt) ? null : Math.ceil(plan.wakeAt);
  }

  // ── priority inheritance ──────────────────────────────────────────────────────────────────────────

  /**
   * `waiterPid` now waits on `holderPid`: the holder (and what it waits on) runs at least at the waiter's
   * priority. A wait that would close a cycle throws ESTATE ("would deadlock").
   */
  inherit(waiterPid: Pid, holderPid: Pid): void {
    // Either may be unknown yet (a child that has not asked for a slot): the edge is kept and takes effect
    // when the process is first enqueued.
    checkPid(waiterPid);
    checkPid(holderPid);
    this.waits.add(waiterPid, holderPid);
    this.recompute(this.waits.downstream(holderPid));
  }

  /** The wait is over (all of the waiter's waits when holderPid is omitted). */
  uninherit(waiterPid: Pid, holderPid?: Pid): void {
    const former = this.waits.remove(waiterPid, holderPid);
    const affected = new Set<Pid>();
    for (const h of former) for (const p of this.waits.downstream(h)) affected.add(p);
    this.recompute([...affected]);
  }

  // ── introspection (metrics, dashboards, persistence) ──────────────────────────────────────────────

  priorityOf(pid: Pid): { base: number; effective: number } | undefined {
    const r = this.records.get(pid);
    return r && { base: r.priority, effective: r.schedPrio };
  }

  vruntimeOf(pid: Pid): number | undefined {
    return this.records.get(pid)?.vruntime;
  }

  stateOf(pid: Pid): 'idle' | 'ready' | 'running' | undefined {
    return this.records.get(pid)?.state;
  }

  /** Ready processes of one model (or all), most urgent first is NOT guaranteed: for listings only. */
  *ready(model?: string): IterableIterator<Pid> {
    for (const lane of this.lanes.values()) {
      if (model !== undefined && lane.model !== model) continue;
      for (const r of lane.queue.records()) yield r.pid;
    }
  }

  get runQueueLength(): number {
    return this.queued;
  }

  /** Gives every cluster-wide grant back (shutdown): the other nodes may use the whole limit at once. */
  async closeShared(): Promise<void> {
    await Promise.all([
      this.limits.close(),
      ...[...this.lanes.values()].map((l) => l.shared?.close() ?? Promise.resolve()),
    ]);
  }

  /** Configures a model's slot count up front (otherwise a lane is created on first use). */
  setSlots(model: string, slots: number): void {
    positiveInt(slots, `slots.${model}`);
    this.slotOverrides[model] = slots;
    const lane = this.lanes.get(model);
    if (!lane) return;
    lane.auto = null;
    this.resize(lane, slots);
  }

  private resize(lane: Lane, slots: number): void {
    const old = lane.capacity;
    if (slots === old) return;
    lane.capacity = slots;
    // Indices ≥ the new capacity leave the free list; busy ones simply are not returned to it beyond capacity.
    // New indices go below the free ones already there, so the lowest free index is always handed out next.
    const added: number[] = [];
    for (let i = slots - 1; i >= old; i--) added.push(i);
    lane.freeIdx = [...added, ...lane.freeIdx.filter((i) => i < slots)];
  }

  private autoCapacity(lane: Lane, tokensPerCall: number): number {
    const a = lane.auto!;
    const limits = this.limits.limitersFor(a.provider).map((l) => ({ kind: l.kind, limit: l.limiter.limit }));
    const r = autoSlots({
      limits,
      latencyMs: a.latencyMs ?? P.AUTO_SLOTS_PRIOR_LATENCY_MS,
      tokensPerCall,
    });
    a.basis = r.basis;
    return r.slots;
  }

  stats(now?: number): SchedulerStats {
    const t = this.time(now);
    const runQueueByModel: Record<string, number> = {};
    const slots: Record<string, { busy: number; total: number }> = {};
    for (const lane of this.lanes.values()) {
      runQueueByModel[lane.model] = lane.queue.size;
      slots[lane.model] = {
        busy: lane.busy,
        total: lane.capacity,
        ...(lane.auto
          ? {
              auto: {
                basis: lane.auto.basis,
                latencyMs: lane.auto.latencyMs === null ? null : Math.round(lane.auto.latencyMs),
                tokensPerCall: lane.auto.tokensPerCall === null ? null : Math.round(lane.auto.tokensPerCall),
              },
            }
          : {}),
      };
    }
    return {
      policy: this.policy.name,
      runQueue: this.queued,
      runQueueByModel,
      slots,
      dispatches: this.counters.dispatches,
      preemptions: this.counters.preemptions,
      quotaDenials: { rpm: this.counters.rpm, tpm: this.counters.tpm },
      rateLimits: this.limits.snapshot(t),
    };
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────────

  /** One pass over the lanes: what to dispatch now, or when to look again. */
  private plan(now: number): { pick: { lane: Lane; rec: SchedRecord } | null; wakeAt: number | null } {
    const heads: { lane: Lane; rec: SchedRecord; rank: Rank }[] = [];
    for (const lane of this.lanes.values()) {
      if (lane.busy >= lane.capacity || lane.freeIdx.length === 0 || lane.queue.size === 0) continue;
      // A cluster-wide slot count: a slot here needs a unit of the shared pool (a lease wakes us up).
      if (lane.shared && !lane.shared.canTake(1)) continue;
      const h = lane.queue.peek(now);
      if (h) heads.push({ lane, rec: h.rec, rank: h.rank });
    }
    if (heads.length > 1)
      heads.sort((a, b) => (rankLess(a.rank, b.rank) ? -1 : rankLess(b.rank, a.rank) ? 1 : 0));
    let blocked: Set<RateLimiter> | undefined;
    let wakeAt: number | null = null;
    let heldBack = false;
    for (const h of heads) {
      const denial = this.limits.check(h.rec.provider, h.rec.estTokens, now, blocked);
      if (!denial) return { pick: h, wakeAt: null };
      if (denial.until <= now)
        heldBack = true; // admissible, but a more urgent call waits for that limiter
      else {
        wakeAt = wakeAt === null ? denial.until : Math.min(wakeAt, denial.until);
        const key = `${h.rec.pid}:${denial.limiter.name}`;
        if (h.lane.denied !== key) {
          h.lane.denied = key;
          this.counters[denial.kind]++;
          this.hooks.onQuotaDenied?.({
            pid: h.rec.pid,
            kind: denial.kind,
            scope: denial.scope,
            until: denial.until,
          });
        }
      }
      blocked ??= new Set();
      blocked.add(denial.limiter);
    }
    // A held-back call can go first once aging makes it the more urgent one: wake at the next aging step.
    if (heldBack) {
      for (const h of heads) {
        const t = h.lane.queue.nextAgingAt(now);
        if (t !== undefined && (wakeAt === null || t < wakeAt)) wakeAt = t;
      }
    }
    return { pick: null, wakeAt };
  }

  /** Re-derives inherited priorities; a ready process whose priority changed is re-queued in its new class. */
  private recompute(pids: Pid[]): void {
    for (const pid of pids) {
      const rec = this.records.get(pid);
      if (!rec) continue;
      const prio = this.waits.inherited(pid, (p) => this.records.get(p)?.priority);
      if (prio === rec.schedPrio) continue;
      rec.schedPrio = prio;
      if (rec.state === 'ready') {
        const q = this.lane(rec.model).queue;
        q.remove(pid);
        q.push(rec, rec.enqueuedAt); // keeps its arrival time, so aging credit is not lost
      }
    }
  }

  /**
   * What a finished call costs its process's share, in tokens of the resource that binds (dominant
   * resource fairness): the policy shares tokens, but a provider that limits requests is spent by calls.
   * With an rpm and a tpm limit a call costs max(tokens, requests × tpm / rpm) — its larger share of the
   * two limits, in tokens; with an rpm limit only, requests × FAIR_REQUEST_TOKENS, so every call costs the
   * same (a price that followed the calls' mean tokens tilted the share by which call moved it last);
   * without an rpm limit, its tokens. Before, tokens alone: of two equal tenants on an rpm-bound
   * provider the one whose conversations were longer (more tokens a call) got 37 % of the calls, not half.
   */
  private cost(provider: string, tokens: number, requests: number): number {
    let rpm = Number.POSITIVE_INFINITY;
    let tpm = Number.POSITIVE_INFINITY;
    for (const l of this.limits.limitersFor(provider))
      if (l.kind === 'rpm') rpm = Math.min(rpm, l.limiter.limit);
      else tpm = Math.min(tpm, l.limiter.limit);
    if (!Number.isFinite(rpm) || rpm <= 0) return tokens;
    if (Number.isFinite(tpm)) return Math.max(tokens, (requests * tpm) / rpm);
    return requests * P.FAIR_REQUEST_TOKENS;
  }

  private lane(model: string, provider?: string, estTokens?: number): Lane {
    let lane = this.lanes.get(model);
    if (!lane) {
      const fixed = this.slotOverrides[model] ?? (this.slotsPerModel === 'auto' ? null : this.slotsPerModel);
      lane = {
        model,
        capacity: 0,
        auto:
          fixed === null
            ? { provider: provider ?? model, latencyMs: null, tokensPerCall: null, basis: 'none' }
            : null,
        busy: 0,
        freeIdx: [],
        queue: this.policy.createQueue(),
        denied: null,
        shared:
          fixed !== null && this.opts.rateLimiter?.shared
            ? this.opts.rateLimiter.shared(`${model}.slots`, fixed, 0)
            : null,
      };
      this.resize(lane, fixed ?? this.autoCapacity(lane, estTokens ?? P.DEFAULT_EST_REQUEST_TOKENS));
      this.lanes.set(model, lane);
    }
    return lane;
  }

  private known(pid: Pid): SchedRecord {
    const rec = this.records.get(pid);
    if (!rec)
      throw new KernelError('ENOPROC', `pid ${pid} is not known to the scheduler: enqueue it first`, {
        details: { pid },
      });
    return rec;
  }

  /** The scheduler's notion of now never goes backwards, even if a caller passes an older time. */
  private time(now: number | undefined): number {
    const t = now ?? this.clock();
    if (t > this.lastNow) this.lastNow = t;
    return this.lastNow;
  }
}
