/**
 * The gateway: unmodified agents as kernel processes (DESIGN §7). A call arrives in either dialect (parsed
 * into a GatewayCall by ./openai-wire.ts or ./anthropic-wire.ts), is placed in its session — one process of
 * program `gateway` (./program.ts) per session — and waits there for the process to make it through the
 * syscall gate. On the way in: tenant checks (model allowlist, quotas, concurrency cap), budgets reserved
 * from an upper-bound estimate, journal replay when the session opted in; on the way out: usage settled,
 * the call journaled (./journal.ts), the prefix cache observed (./cache-watch.ts). Routes are ./routes.ts.
 *
 * The scheduler decides, the caller waits: a call queues for its slot and rate tokens in the same scheduler
 * as native processes; past config.gateway.queue_timeout_ms it is withdrawn and the caller gets a 429 whose
 * Retry-After comes from the kernel's own rate buckets and queue.
 *
 * Size: Over 500 lines because session admission, budgets, replay and settlement share one per-session lock; wire formats, routes, journal and cache watch are already apart.
 */
import type { GatewayConfig, GatewayTenantConfig } from '../config/schema.js';
import { KernelError, panic } from '../errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { isLive, type ProcessState } from '../kernel/pcb.js';
import { parkableProviderError, parkDelayMs } from '../kernel/provider-park.js';
import type { SyscallResults } from '../kernel/syscalls.js';
import type { ChatResponse, StreamEvent } from '../llm/model.js';
import {
  GATEWAY_LOCATE_CONCURRENCY,
  GATEWAY_PREFIX_MESSAGES,
  GATEWAY_RESPONSE_PURGE_MS,
  PREVIEW_MAX_CHARS,
} from '../param.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import { logger } from '../util/log.js';
import { type CacheReport, SessionCache } from './cache-watch.js';
import type { EmbedCall, GatewayCall } from './call.js';
import { CallJournal, requestHash } from './journal.js';
import {
  type CallOutcome,
  GatewayRuntime,
  type GatewayState,
  type Job,
  type SessionHost,
  type SessionQueues,
} from './program.js';
import { ResponseStore } from './response-store.js';

const log = logger('gateway');

/** Who is calling: a kernel API token, with the tenant it belongs to (null: the default tenant). */
export interface GatewayPrincipal {
  id: string;
  name: string;
  role: string;
  tenant: string | null;
}

export interface CallContext {
  principal: GatewayPrincipal;
  /** `x-aos-session` header. */
  sessionHeader?: string | undefined;
  /** `x-aos-replay: 1`: this session's identical calls may be answered from the journal. */
  replay?: boolean;
  /**
   * The session of the response a Responses API call chains on (`previous_response_id`): the call goes
   * there unless the caller names a session (header, or a body field config.gateway.session_from allows).
   */
  previousSession?: string | undefined;
  /** `x-aos-priority` (0–99), honoured when the session's process is created. */
  priority?: number | undefined;
  /** Streaming callers: deltas as they arrive, and the moment the call got its slot. */
  onEvent?: (ev: StreamEvent) => void;
  signal?: AbortSignal;
}

export interface CallResult {
  response: ChatResponse;
  /** An embeddings call's result (Gateway.embed). */
  embedding?: SyscallResults['llm.embed'];
  replayed: boolean;
  pid: number;
  session: string;
  cache: CacheReport | null;
  /** Time the caller waited in the gateway before its call entered the gate. */
  queuedMs: number;
}

interface Session {
  key: string;
  tenant: string;
  id: string;
  pid: number;
  cache: SessionCache;
  /** Occurrences of each request hash served by this process (replay matches the k-th with the k-th). */
  seen: Map<string, number>;
  replay: boolean;
  reservedTokens: number;
  tenantState: TenantState;
  /** Set while the session's process is being handed to another node that got one of its calls. */
  leaving?: Promise<void>;
}

/** A call's request identity and prefix-cache report, computed on first use (Gateway.prepare). */
type Prepared = (() => { hash: string; occurrence: number; cache: CacheReport | null }) & {
  replayed: boolean;
};

interface TenantState {
  name: string;
  cfg: GatewayTenantConfig | undefined;
  /** Settled usage (live calls): loaded from the journal at first use, then kept here. */
  used: { tokens: number; costUsd: number; calls: number } | null;
  reservedTokens: number;
  inFlight: number;
  waiters: Array<() => void>;
}

export interface GatewayStats {
  calls: number;
  replayed: number;
  errors: number;
  queueTimeouts: number;
  /** Calls that waited out a provider outage (circuit open, 5xx, 429, timeout) instead of failing. */
  outageWaits: number;
  refused: number;
  waiting: number;
}

/** The error a caller sees, with what the wire layer needs (status, Retry-After, should-retry). */
export class GatewayError extends KernelError {
  constructor(
    code: ConstructorParameters<typeof KernelError>[0],
    message: string,
    readonly status: number,
    readonly retryAfterMs: number | null = null,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, { details: { ...details, ...(retryAfterMs !== null ? { retryAfterMs } : {}) } });
  }
}

export class Gateway {
  readonly queues: SessionQueues;
  readonly journal: CallJournal;
  /** Stored Responses API responses (`store` omitted or true), for previous_response_id and GET. */
  readonly responses: ResponseStore;
  readonly runtime: GatewayRuntime;
  readonly stats: GatewayStats = {
    calls: 0,
    replayed: 0,
    errors: 0,
    queueTimeouts: 0,
    outageWaits: 0,
    refused: 0,
    waiting: 0,
  };
  private readonly sessions = new Map<string, Session>();
  private readonly byPid = new Map<number, Session>();
  private readonly spawning = new Map<string, Promise<Session>>();
  /** Cluster lookups of sessions new to this node, a few at a time (see GATEWAY_LOCATE_CONCURRENCY). */
  private readonly locating = new Limiter(GATEWAY_LOCATE_CONCURRENCY);
  /** Sessions an operator killed: their calls get a clear error instead of a fresh process. */
  private readonly killed = new Map<string, string>();
  private readonly tenants = new Map<string, TenantState>();
  private readonly unsubscribe: Array<() => void> = [];
  private latencyEwmaMs = 0;
  private readonly purgeTimer: NodeJS.Timeout;

  private readonly host: SessionHost;

  /**
   * Attaches to the kernel's program `gateway` when it was registered at boot (a GatewayRuntime passed to
   * createKernel, as `aos start` does): live sessions recovered from storage are adopted and continue in
   * their own processes. Without one it registers its own program now (library use; sessions then do not
   * outlive the kernel).
   */
  constructor(private readonly kernel: Kernel) {
    this.journal = new CallJournal(kernel.storage.driver);
    this.responses = new ResponseStore(kernel.storage.driver);
    // Expired stored responses are never found; this takes their rows away (at start, then periodically).
    const purge = () =>
      void this.responses
        .purge()
        .then((n) => n && log.debug(`purged ${n} expired stored responses`))
        .catch((e: unknown) => log.warn(`purging expired stored responses failed: ${String(e)}`));
    purge();
    this.purgeTimer = setInterval(purge, GATEWAY_RESPONSE_PURGE_MS);
    this.purgeTimer.unref();
    const registered = kernel.programs.names().includes('gateway')
      ? GatewayRuntime.of(kernel.programs.get('gateway'))
      : null;
    if (kernel.programs.names().includes('gateway') && !registered)
      throw new KernelError(
        'EEXIST',
        'a program named "gateway" is registered that is not the gateway\'s own; rename it or disable gateway.enabled',
      );
    this.runtime = registered ?? new GatewayRuntime();
    if (!registered) kernel.programs.register(this.runtime.program);
    this.queues = this.runtime.queues;
    const host: SessionHost = {
      idleMs: () => this.cfg.session_idle_ms,
      useModel: (pid, model) => {
        const pc = kernel.procs.get(pid);
        if (pc) pc.pcb.model = model;
      },
      idle: (pid, idle) => {
        const pc = kernel.procs.get(pid);
        if (!pc) return;
        // Waiting on its next call holds nothing; `aos ps` shows it as waiting(message:gateway).
        if (idle && pc.pcb.state === 'running')
          kernel.procs.setState(pc, 'waiting', { on: 'message', topic: 'gateway' });
        else if (!idle && pc.pcb.state === 'waiting') kernel.procs.setState(pc, 'running');
      },
      settle: (pid, job, outcome, err) => this.settle(pid, job, outcome, err),
      outage: (pid, err, attempt) => {
        const e = parkableProviderError(err);
        const pc = kernel.procs.get(pid);
        if (!e || !pc) return null;
        const sc = this.kernel.config.scheduler;
        const ms = parkDelayMs(e, attempt, {
          baseMs: sc.provider_retry_base_ms,
          maxMs: sc.provider_retry_max_ms,
        });
        this.stats.outageWaits++;
        if (pc.pcb.state === 'running')
          kernel.procs.setState(pc, 'waiting', {
            on: 'provider',
            provider: String(e.details.provider),
            model: pc.pcb.model,
            until: Date.now() + ms,
            reason: `${e.code}: ${e.message}`.slice(0, PREVIEW_MAX_CHARS),
          });
        return ms;
      },
      outageOver: (pid) => {
        const pc = kernel.procs.get(pid);
        if (pc && pc.pcb.state === 'waiting' && pc.pcb.waitOn?.on === 'provider')
          kernel.procs.setState(pc, 'running');
      },
    };
    this.host = host;
    this.runtime.attach(host);
    this.adoptRecovered();
    // On a cluster a session is one process wherever its calls arrive: a node that gets a call for a
    // session another node runs asks for it (locate), and this node hands its own over when asked.
    if (kernel.node)
      this.unsubscribe.push(kernel.node.onRelease('gateway', (pc, to) => this.release(pc.pcb.pid, to)));
    this.unsubscribe.push(
      kernel.hooks.on(
        'llm.delta',
        (e) => {
          const job = this.queues.current(e.pid);
          job?.onEvent?.(e.delta as StreamEvent);
        },
        'gateway',
      ),
      kernel.hooks.on(
        'proc.exit',
        (e) => {
          const s = this.byPid.get(e.pid);
          if (!s) return;
          this.byPid.delete(e.pid);
          if (this.sessions.get(s.key) === s) this.sessions.delete(s.key);
          const reason = e.reason ?? 'exited';
          if (killedByOperator(reason)) this.killed.set(s.key, reason);
          this.queues.drop(
            e.pid,
            new GatewayError('ESTATE', `session "${s.id}" (pid ${e.pid}) ended: ${reason}`, 409, null, {
              pid: e.pid,
              session: s.id,
            }),
          );
        },
        'gateway',
      ),
    );
  }

  get cfg(): GatewayConfig {
    return this.kernel.config.gateway;
  }

  close(): void {
    clearInterval(this.purgeTimer);
    for (const u of this.unsubscribe.splice(0)) u();
    this.runtime.detach(this.host);
  }

  /** Live gateway processes the kernel recovered at boot become this gateway's sessions again. */
  private adoptRecovered(): void {
    for (const pc of this.kernel.procs.all()) {
      const pcb = pc.pcb;
      if (pcb.program !== 'gateway' || this.byPid.has(pcb.pid)) continue;
      if (['zombie', 'terminated'].includes(pcb.state)) continue;
      const st = pcb.programState as Partial<GatewayState> | null;
      if (!st?.session) continue;
      const tenant = this.tenant(st.tenant ?? 'default');
      const s: Session = {
        key: `${tenant.name}/${st.session}`,
        tenant: tenant.name,
        id: st.session,
        pid: pcb.pid,
        cache: new SessionCache(st.dialect === 'anthropic' ? 'anthropic' : 'openai'),
        seen: new Map(),
        replay: false,
        reservedTokens: 0,
        tenantState: tenant,
      };
      this.sessions.set(s.key, s);
      this.byPid.set(s.pid, s);
      // A recovered session already parked for its next call shows as waiting, like one that never stopped.
      if (this.queues.idleWaiting(pcb.pid)) this.host.idle(pcb.pid, true);
      log.info(`session ${s.key} recovered as pid ${s.pid}`);
    }
  }

  // ── the call path ─────────────────────────────────────────────────────────────────────────────────

  /**
   * An embeddings call: through the session's process and the gate (`llm.embed`), so it is audited,
   * accounted to the process and the tenant, and subject to the tenant's allowlist, quotas and concurrency
   * cap like a chat call. Never replayed (embedding again is cheap and deterministic for a given model).
   */
  async embed(
    e: EmbedCall,
    ctx: CallContext,
  ): Promise<CallResult & { embedding: SyscallResults['llm.embed'] }> {
    const call: GatewayCall = {
      dialect: 'openai',
      model: e.model,
      chat: { messages: [] },
      stream: false,
      includeUsage: false,
      hints: {},
    };
    const r = await this.call(call, ctx, e);
    if (!r.embedding) panic('gateway: an embeddings call came back without embeddings');
    return r as CallResult & { embedding: SyscallResults['llm.embed'] };
  }

  async call(call: GatewayCall, ctx: CallContext, embed?: EmbedCall): Promise<CallResult> {
    const tenant = this.tenant(ctx.principal.tenant ?? 'default');
    this.checkModel(tenant, call.model, !embed);
    // A request the model's adapter refuses is answered now, not after it queued behind the session, the
    // tenant's cap, a slot and rate tokens (llm.chat runs the same check; with an llm.chat.before hook,
    // which may rewrite the request, only there).
    if (!embed && !this.kernel.hooks.has('llm.chat.before'))
      this.kernel.models.resolve(call.model).validate(call.chat);
    const sessionId = this.sessionId(call, ctx);
    const key = `${tenant.name}/${sessionId}`;
    const killedReason = this.killed.get(key);
    if (killedReason) throw this.killedError(sessionId, killedReason);
    const estTokens = embed ? embedEstimate(embed) : estimate(call);
    if (tenant.used === null) tenant.used = await this.journal.tenantUsage(tenant.name);
    this.checkTenantBudget(tenant, estTokens);
    if (this.stats.waiting >= this.cfg.max_queued) {
      this.stats.refused++;
      throw this.tooBusy(call.model, `${this.stats.waiting} calls are already waiting (gateway.max_queued)`);
    }
    const t0 = performance.now();
    this.stats.waiting++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.stats.waiting--;
    };
    try {
      await this.acquireTenant(tenant, ctx.signal);
      try {
        let session = await this.session(key, tenant, sessionId, call, ctx);
        this.checkSessionBudget(session, estTokens);
        session.replay ||= ctx.replay === true || this.cfg.replay;
        // What reads the whole conversation (its request hash, the prefix-cache model with its tokenizer) is
        // not needed to forward the call: unless a replay must be looked up first, it runs after the call
        // went out, while the model works (setImmediate: after the step's microtasks sent the request).
        const prep = this.prepare(session, call, embed);
        let replay: ChatResponse | null = null;
        if (session.replay && !embed) {
          prep.replayed = true; // the hash first, without observing the cache
          const { hash, occurrence } = prep();
          replay = await this.journal.lookup(tenant.name, sessionId, hash, occurrence);
          prep.replayed = replay !== null;
        }
        setImmediate(prep);
        session.reservedTokens += estTokens;
        tenant.reservedTokens += estTokens;
        try {
          const outcome = await this.enqueue(session, call, prep, replay, ctx, t0, release, embed, (s) => {
            session = s;
          });
          const queuedMs = Math.max(0, performance.now() - t0 - outcome.ms);
          return {
            response: outcome.response,
            ...(outcome.embedding ? { embedding: outcome.embedding } : {}),
            replayed: outcome.replayed,
            pid: session.pid,
            session: sessionId,
            cache: prep().cache,
            queuedMs,
          };
        } finally {
          session.reservedTokens -= estTokens;
          tenant.reservedTokens -= estTokens;
        }
      } finally {
        this.releaseTenant(tenant);
      }
    } finally {
      release();
    }
  }

  /**
   * The call's request hash and its occurrence in the session (replay matches the k-th with the k-th),
   * computed once, on first use — in arrival order, since each call uses it at once for a replay lookup or
   * queues its setImmediate on arrival — then the prefix-cache observation (none for a replayed or an
   * embeddings call: the provider never sees it).
   */
  private prepare(session: Session, call: GatewayCall, embed: EmbedCall | undefined): Prepared {
    let id: { hash: string; occurrence: number } | null = null;
    let cache: CacheReport | null | undefined;
    const prep = (() => {
      id ??= (() => {
        const hash = embed ? sha256Hex(canonicalJson({ embed })) : requestHash(call);
        const occurrence = session.seen.get(hash) ?? 0;
        session.seen.set(hash, occurrence + 1);
        return { hash, occurrence };
      })();
      if (cache === undefined && !prep.replayed) cache = embed ? null : session.cache.observe(call.chat);
      return { ...id, cache: cache ?? null };
    }) as Prepared;
    prep.replayed = false;
    return prep;
  }

  private enqueue(
    first: Session,
    call: GatewayCall,
    prep: () => { hash: string },
    replay: ChatResponse | null,
    ctx: CallContext,
    t0: number,
    leftQueue: () => void,
    embed: EmbedCall | undefined,
    moved: (s: Session) => void,
  ): Promise<CallOutcome> {
    return new Promise<CallOutcome>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const job: Job = {
        call,
        ...(embed ? { embed } : {}),
        hash: () => prep().hash,
        replay,
        ...(ctx.onEvent
          ? {
              onEvent: (ev: StreamEvent) => {
                job.streamed = true;
                leftQueue();
                ctx.onEvent?.(ev);
              },
            }
          : {}),
        ...(ctx.signal ? { callerGone: ctx.signal } : {}),
        withdrawn: null,
        deadline: t0 + this.cfg.queue_timeout_ms,
        picked: false,
        resolve: (o) => {
          if (timer) clearTimeout(timer);
          leftQueue();
          resolve(o);
        },
        reject: (e) => {
          if (timer) clearTimeout(timer);
          leftQueue();
          reject(e);
        },
      };
      const place = async () => {
        let s = first;
        for (let attempt = 0; !this.queues.push(s.pid, job); attempt++) {
          // Being handed to another node: wait, then follow it there (locate takes it back).
          if (s.leaving) {
            await s.leaving;
            attempt--;
            if (performance.now() > job.deadline)
              throw this.tooBusy(
                call.model,
                `session ${s.id} was moving between nodes for the whole queue time`,
              );
          } else if (attempt > 2)
            throw new KernelError('ESTATE', `session ${s.id}: its process keeps exiting`);
          // The process is exiting (idle): the session continues in a new one.
          this.forgetSession(s);
          s = await this.session(s.key, s.tenantState, s.id, call, ctx);
          moved(s);
        }
        const pid = s.pid;
        timer = setTimeout(() => this.withdraw(pid, job, call.model, t0), this.cfg.queue_timeout_ms);
        timer.unref();
        ctx.signal?.addEventListener(
          'abort',
          () => {
            const gone = new KernelError('EABORTED', 'the caller went away');
            // Still queued (for its process, or for a slot and rate tokens): out of the queue now, so it
            // takes no slot and spends no rate token for no one.
            if (this.queued(pid, job)) this.withdrawJob(pid, job, gone);
            // In flight: the step's llm.chat was given ctx.signal (job.callerGone), which aborts the provider
            // request; marked withdrawn first, so the step records the call's failure instead of unwinding.
            else job.withdrawn ??= gone;
          },
          { once: true },
        );
      };
      place().catch(reject);
    });
  }

  /** Queue time is bounded: a call still waiting for its slot is withdrawn and answered 429 + Retry-After. */
  private withdraw(pid: number, job: Job, model: string, t0: number): void {
    if (!this.queued(pid, job)) return; // it has its slot: the model is answering
    this.stats.queueTimeouts++;
    const err = this.tooBusy(
      model,
      `the call waited ${Math.round(performance.now() - t0)} ms for a model slot and rate-limit tokens (gateway.queue_timeout_ms ${this.cfg.queue_timeout_ms})`,
    );
    this.withdrawJob(pid, job, err);
  }

  /** The call waits for its process, or for a slot and rate tokens: it can still leave the queue. */
  private queued(pid: number, job: Job): boolean {
    return !job.picked || this.kernel.cpu.scheduler.stateOf(pid) === 'ready';
  }

  private withdrawJob(pid: number, job: Job, err: KernelError): void {
    job.withdrawn = err;
    if (job.picked) this.kernel.cpu.cancel(pid);
    else job.reject(err);
  }

  /** 429 with a Retry-After computed from the kernel's own buckets and queue, not a guess. */
  private tooBusy(model: string, why: string): GatewayError {
    const retryAfterMs = this.retryAfterMs(model);
    return new GatewayError(
      'ERATELIMIT',
      `${why}; retry after ${Math.ceil(retryAfterMs / 1000)} s`,
      429,
      retryAfterMs,
      { model },
    );
  }

  retryAfterMs(model: string): number {
    const sched = this.kernel.cpu.scheduler;
    const now = Date.now();
    const wake = sched.nextWakeAt(now);
    let provider = 'simulated';
    try {
      provider = this.kernel.models.describe(model).provider;
    } catch {
      // an unknown model never reaches here; keep the default
    }
    const stats = sched.stats(now);
    const queued = stats.runQueueByModel[model] ?? stats.runQueue;
    const slots = stats.slots[model]?.total ?? 1;
    const rpm = this.kernel.config.scheduler.rate_limits[provider]?.rpm;
    // Everyone ahead must be admitted first: at the provider's rate, or at the slots' pace.
    const drain = rpm ? (queued * 60_000) / rpm : (queued * Math.max(this.latencyEwmaMs, 100)) / slots;
    return Math.max(1_000, Math.ceil(Math.max(wake === null ? 0 : wake - now, drain)));
  }

  // ── sessions ──────────────────────────────────────────────────────────────────────────────────────

  private sessionId(call: GatewayCall, ctx: CallContext): string {
    const from = new Set(this.cfg.session_from);
    const explicit =
      ctx.sessionHeader ||
      (from.has('prompt_cache_key') ? call.hints.promptCacheKey : undefined) ||
      (from.has('user') ? call.hints.user : undefined) ||
      (from.has('metadata.user_id') ? call.hints.metadataUserId : undefined);
    if (explicit) {
      if (explicit.length > 200 || /[\u0000-\u001f]/.test(explicit))
        throw new GatewayError('EINVAL', 'the session id must be at most 200 printable characters', 400);
      return explicit;
    }
    // A chained response continues in its previous response's session (process).
    if (ctx.previousSession) return ctx.previousSession;
    // One process per key + conversation: the start of a conversation does not change while it grows.
    const head = call.chat.messages.slice(0, GATEWAY_PREFIX_MESSAGES).map((m) => [m.role, m.content]);
    return `auto-${sha256Hex(canonicalJson({ key: ctx.principal.id, head })).slice(0, 16)}`;
  }

  private async session(
    key: string,
    tenant: TenantState,
    id: string,
    call: GatewayCall,
    ctx: CallContext,
  ): Promise<Session> {
    const live = this.sessions.get(key);
    if (live && this.kernel.procs.get(live.pid)) return live;
    if (live) this.forgetSession(live);
    let pending = this.spawning.get(key);
    if (!pending) {
      pending = (
        this.kernel.node ? this.locate(key, tenant, id, call, ctx) : this.spawn(key, tenant, id, call, ctx)
      ).finally(() => this.spawning.delete(key));
      this.spawning.set(key, pending);
    }
    return pending;
  }

  /**
   * A session this node does not run yet, on a cluster: the one process of it wherever it runs, moved here
   * (NodeAgent.takeOver: claimed if nobody holds it, else its node hands it over between two calls), or a
   * new one — looked up and spawned under a lock on the session's key, so two nodes that get its first call
   * at once do not both spawn. A session killed on another node is refused here too.
   */
  private async locate(
    key: string,
    tenant: TenantState,
    id: string,
    call: GatewayCall,
    ctx: CallContext,
  ): Promise<Session> {
    const node = this.kernel.node!;
    const deadline = performance.now() + this.cfg.queue_timeout_ms;
    for (;;) {
      this.adoptRecovered(); // claimed by this node since (a dead node's), not yet a session here
      const live = this.sessions.get(key);
      if (live && this.kernel.procs.get(live.pid)) {
        if (!live.leaving) return live;
        await live.leaving; // being handed away: ask for it back from its new node
        continue;
      }
      const found = await this.locating.run(() =>
        this.kernel.storage.driver.transaction(async (q) => {
          await q.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
            `aos:gateway-session:${key}`,
          ]);
          const { rows } = await q.query<{ pid: number; state: string; exit_reason: string | null }>(
            `SELECT pid, state, exit_reason FROM processes
            WHERE program = 'gateway' AND policy->>'tenant' = $1 AND policy->'gateway'->>'session' = $2
            ORDER BY pid DESC LIMIT 1`,
            [tenant.name, id],
          );
          const last = rows[0];
          if (last && isLive(last.state as ProcessState)) return Number(last.pid);
          const reason = last?.exit_reason ?? '';
          if (killedByOperator(reason)) {
            this.killed.set(key, reason);
            throw this.killedError(id, reason);
          }
          // Spawned (and committed) before the lock is released: the next node to look finds it.
          return this.spawn(key, tenant, id, call, ctx);
        }),
      );
      if (typeof found !== 'number') return found;
      // Still run here but no longer a session of this gateway (exiting idle, or just handed away): wait for
      // it to go, not round the loop at once.
      if (this.kernel.procs.get(found) && this.byPid.has(found)) {
        if (performance.now() > deadline)
          throw new GatewayError('ESTATE', `session "${id}": its process ${found} did not stop`, 503);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      const pc = await node.takeOver(found, deadline, ctx.signal);
      if (!pc) continue; // it exited meanwhile: look again (a new one, or a kill to report)
      this.adoptRecovered();
      const s = this.sessions.get(key);
      if (s?.pid === pc.pcb.pid) return s;
      if (performance.now() > deadline)
        throw new GatewayError(
          'ESTATE',
          `session "${id}": its process ${found} could not be taken over`,
          503,
        );
    }
  }

  /**
   * Another node got a call for this session: once the process is between calls (its queue empty, parked
   * for the next one), its lease moves there and it stops here. Calls that arrive here meanwhile wait, then
   * follow it (locate). Declined when the process is busy past the queue time (the asker times out).
   */
  private async release(pid: number, to: string): Promise<void> {
    const s = this.byPid.get(pid);
    if (!s || s.leaving) return;
    let done!: () => void;
    s.leaving = new Promise<void>((r) => {
      done = r;
    });
    try {
      this.queues.close(pid);
      const until = performance.now() + this.cfg.queue_timeout_ms;
      while (!(this.queues.depth(pid) === 0 && this.queues.idleWaiting(pid))) {
        if (performance.now() > until || !this.kernel.procs.get(pid)) return;
        await new Promise((r) => setTimeout(r, 5));
      }
      const pc = this.kernel.procs.get(pid);
      if (!pc || !(await this.kernel.node!.handOver(pc, to))) return;
      this.byPid.delete(pid);
      this.forgetSession(s);
      this.queues.forget(pid);
    } finally {
      if (this.byPid.get(pid) === s) this.queues.reopen(pid);
      s.leaving = undefined;
      done();
    }
  }

  /**
   * A new session's priority: `x-aos-priority`, else the tenant's, else gateway.priority. A tenant's key may
   * ask for less urgency than its tenant has, never more — else any tenant could put its sessions at 0 and
   * take every slot before its neighbours; a kernel-wide key (no tenant) is the operator's own and is honoured.
   */
  private priorityOf(ctx: CallContext, tenant: TenantState): number {
    const own = tenant.cfg?.priority ?? this.cfg.priority;
    if (ctx.priority === undefined) return own;
    return ctx.principal.tenant ? Math.max(ctx.priority, own) : ctx.priority;
  }

  private async spawn(
    key: string,
    tenant: TenantState,
    id: string,
    call: GatewayCall,
    ctx: CallContext,
  ): Promise<Session> {
    const sb = this.cfg.session_budget;
    const suspend = this.cfg.on_budget === 'suspend';
    const pid = await this.kernel.spawn({
      name: `gw:${tenant.name}:${id}`.slice(0, 128),
      task: `gateway session "${id}" of tenant ${tenant.name} (${call.dialect})`,
      program: 'gateway',
      model: call.model,
      priority: this.priorityOf(ctx, tenant),
      policy: { tenant: tenant.name, gateway: { session: id, key: ctx.principal.id } },
      // In suspend mode the kernel's own between-step budget check parks the session (visible, resumable);
      // in error mode the gateway refuses before the call (./gateway.ts checkSessionBudget).
      budgets: suspend
        ? {
            ...(sb.max_tokens ? { maxTokens: sb.max_tokens } : {}),
            ...(sb.max_cost_usd ? { maxCostUsd: sb.max_cost_usd } : {}),
          }
        : {},
      args: { tenant: tenant.name, session: id, dialect: call.dialect },
    });
    const s: Session = {
      key,
      tenant: tenant.name,
      id,
      pid,
      cache: new SessionCache(call.dialect === 'anthropic' ? 'anthropic' : 'openai'),
      seen: new Map(),
      replay: false,
      reservedTokens: 0,
      tenantState: tenant,
    };
    this.sessions.set(key, s);
    this.byPid.set(pid, s);
    log.debug(`session ${key} → pid ${pid}`);
    return s;
  }

  private killedError(sessionId: string, reason: string): GatewayError {
    return new GatewayError(
      'ESTATE',
      `session "${sessionId}" was ${reason}; its calls are refused — use another session (x-aos-session) to start over`,
      409,
      null,
      { session: sessionId },
    );
  }

  private forgetSession(s: Session): void {
    if (this.sessions.get(s.key) === s) this.sessions.delete(s.key);
  }

  /** Live sessions of a tenant (all when null), for the API and the dashboard. */
  listSessions(
    tenant: string | null,
  ): Array<{ tenant: string; session: string; pid: number; cache: SessionCache['tally']; queued: number }> {
    return [...this.sessions.values()]
      .filter((s) => tenant === null || s.tenant === tenant)
      .map((s) => ({
        tenant: s.tenant,
        session: s.id,
        pid: s.pid,
        cache: { ...s.cache.tally },
        queued: this.queues.depth(s.pid),
      }));
  }

  sessionOf(pid: number): { tenant: string; session: string } | null {
    const s = this.byPid.get(pid);
    return s ? { tenant: s.tenant, session: s.id } : null;
  }

  // ── tenants, quotas, budgets ──────────────────────────────────────────────────────────────────────

  private tenant(name: string): TenantState {
    let t = this.tenants.get(name);
    if (!t) {
      t = { name, cfg: this.cfg.tenants[name], used: null, reservedTokens: 0, inFlight: 0, waiters: [] };
      this.tenants.set(name, t);
    }
    return t;
  }

  /** The tenant's allowlist; `configured`: a chat model must be configured (embeddings resolve in the gate). */
  private checkModel(t: TenantState, model: string, configured = true): void {
    const allowed = t.cfg?.models ?? [];
    if (allowed.length && !allowed.includes(model))
      throw new GatewayError(
        'EPERM',
        `tenant ${t.name} may not use model "${model}"; allowed: ${allowed.join(', ')} (gateway.tenants.${t.name}.models)`,
        403,
      );
    if (!configured) return;
    try {
      this.kernel.models.describe(model);
    } catch {
      throw unknownModel(model);
    }
  }

  private checkTenantBudget(t: TenantState, est: number): void {
    const c = t.cfg;
    const u = t.used!;
    if (!c) return;
    if (c.max_tokens !== undefined && u.tokens + t.reservedTokens + est > c.max_tokens)
      throw quota(
        `tenant ${t.name} token quota: ${u.tokens} used + ${t.reservedTokens} reserved + ${est} for this call > ${c.max_tokens} (gateway.tenants.${t.name}.max_tokens)`,
      );
    if (c.max_cost_usd !== undefined && u.costUsd >= c.max_cost_usd)
      throw quota(
        `tenant ${t.name} cost quota exhausted: $${u.costUsd.toFixed(4)} of $${c.max_cost_usd} (gateway.tenants.${t.name}.max_cost_usd)`,
      );
    if (c.max_calls !== undefined && u.calls >= c.max_calls)
      throw quota(
        `tenant ${t.name} call quota exhausted: ${u.calls} of ${c.max_calls} calls (gateway.tenants.${t.name}.max_calls)`,
      );
  }

  private checkSessionBudget(s: Session, est: number): void {
    if (this.cfg.on_budget === 'suspend') return; // the kernel parks the process between steps instead
    const b = this.cfg.session_budget;
    const pc = this.kernel.procs.get(s.pid);
    if (!pc) return;
    const u = pc.pcb.usage;
    const tokens = u.tokensIn + u.tokensOut;
    if (b.max_tokens !== undefined && tokens + s.reservedTokens + est > b.max_tokens)
      throw quota(
        `session "${s.id}" (pid ${s.pid}) token budget: ${tokens} used + ${s.reservedTokens} reserved + ${est} for this call > ${b.max_tokens} (gateway.session_budget.max_tokens)`,
      );
    if (b.max_cost_usd !== undefined && u.cost >= b.max_cost_usd)
      throw quota(
        `session "${s.id}" (pid ${s.pid}) cost budget exhausted: $${u.cost.toFixed(4)} of $${b.max_cost_usd}`,
      );
    if (b.max_calls !== undefined && u.apiCalls >= b.max_calls)
      throw quota(
        `session "${s.id}" (pid ${s.pid}) call budget exhausted: ${u.apiCalls} of ${b.max_calls} calls (gateway.session_budget.max_calls)`,
      );
  }

  private async acquireTenant(t: TenantState, signal?: AbortSignal): Promise<void> {
    const cap = t.cfg?.max_concurrency;
    if (!cap || t.inFlight < cap) {
      t.inFlight++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        t.waiters = t.waiters.filter((w) => w !== go);
        this.stats.queueTimeouts++;
        reject(
          this.tooBusy(
            '',
            `tenant ${t.name} has ${cap} calls in flight (gateway.tenants.${t.name}.max_concurrency)`,
          ),
        );
      }, this.cfg.queue_timeout_ms);
      timer.unref();
      const go = () => {
        clearTimeout(timer);
        t.inFlight++;
        resolve();
      };
      t.waiters.push(go);
      signal?.addEventListener('abort', () => {
        t.waiters = t.waiters.filter((w) => w !== go);
        clearTimeout(timer);
        reject(new KernelError('EABORTED', 'the caller went away'));
      });
    });
  }

  private releaseTenant(t: TenantState): void {
    t.inFlight--;
    t.waiters.shift()?.();
  }

  // ── after the answer (inside the session's step, before it commits) ──────────────────────────────

  private async settle(pid: number, job: Job, outcome: CallOutcome | null, err: unknown): Promise<void> {
    const s = this.byPid.get(pid);
    const tenant = s ? this.tenants.get(s.tenant) : undefined;
    const r = outcome?.response ?? null;
    if (outcome?.replayed) this.stats.replayed++;
    else if (r) this.stats.calls++;
    else this.stats.errors++;
    const kerr = err ? KernelError.wrap(err, 'EPROVIDER', 'gateway call') : null;
    // What the provider billed: the answer's usage, or for a call that failed midway (a stream cut or left
    // by its caller) the kernel's estimate (../kernel/llm-stream.ts) — else dropping every stream before
    // its end would spend tokens the tenant's quota never sees.
    const billed = r
      ? outcome?.replayed
        ? null
        : { usage: r.usage, costUsd: r.costUsd }
      : ((kerr?.details.partialUsage as { usage: ChatResponse['usage']; costUsd: number } | undefined) ??
        null);
    if (r && !outcome?.replayed)
      this.latencyEwmaMs =
        this.latencyEwmaMs === 0 ? outcome!.ms : 0.9 * this.latencyEwmaMs + 0.1 * outcome!.ms;
    if (billed && tenant?.used) {
      tenant.used.tokens += billed.usage.input + billed.usage.output;
      tenant.used.costUsd += billed.costUsd;
      if (r) tenant.used.calls += 1;
    }
    if (!s) return;
    const entry = {
      tenant: s.tenant,
      session: s.id,
      pid,
      requestHash: job.hash(),
      dialect: job.embed ? 'embeddings' : job.call.dialect,
      model: job.call.model,
      response: r,
      error: kerr ? { code: kerr.code, message: kerr.message } : null,
      usage: r?.usage ?? billed?.usage ?? null,
      costUsd: billed?.costUsd ?? 0,
      latencyMs: outcome?.ms ?? 0,
      replayed: outcome?.replayed ?? false,
      cache: s.cache.tally.lastBreak ? { lastBreak: s.cache.tally.lastBreak } : null,
      stored:
        r && job.call.store
          ? {
              response: job.call.store.record(r),
              ttlS: Math.round(this.cfg.response_retention_days * 86_400),
            }
          : null,
    };
    const failed = (e: unknown) => log.warn(`journal write for pid ${pid} failed: ${String(e)}`);
    // The row rides the step's commit (one statement per call), which runs once this returns: not awaited.
    const step = this.kernel.procs.get(pid)?.step;
    const stored = step ? this.journal.hold(step, entry) : this.journal.append(entry);
    // The answer went out already: a chained call or a GET for it waits for its row (ResponseStore.get).
    if (entry.stored) this.responses.landing(entry.stored.response.id, stored);
    if (step) stored.catch(failed);
    else await stored.catch(failed);
  }
}

/** 404 for a model the kernel does not serve, in the words OpenAI uses (the SDKs show it as is). */
export function unknownModel(model: string): GatewayError {
  return new GatewayError(
    'ENOTFOUND',
    `The model \`${model}\` does not exist or is not configured; GET /v1/models lists them (llms.models in config.yaml)`,
    404,
    null,
    { param: 'model' },
  );
}

function quota(message: string): GatewayError {
  return new GatewayError('EQUOTA', message, 429, null, { shouldRetry: false });
}

/** Upper bound of an embeddings call's tokens (≈3 characters per token, as below). */
function embedEstimate(e: EmbedCall): number {
  let chars = 0;
  for (const t of e.input) chars += t.length;
  return Math.ceil(chars / 3) + e.input.length;
}

/** Upper bound of a call's tokens (prompt as counted + the output it may produce), for reservations. */
function estimate(call: GatewayCall): number {
  // ≈3 characters per token is an upper bound for the tokenizers in use (the scheduler uses the same rule).
  let chars = 0;
  for (const m of call.chat.messages)
    chars += m.content.length + 16 + (m.toolCalls ? JSON.stringify(m.toolCalls).length : 0);
  if (call.chat.tools) chars += JSON.stringify(call.chat.tools).length;
  return Math.ceil(chars / 3) + (call.chat.maxOutputTokens ?? 1024);
}

/** An exit that refuses the session's later calls: a kill by an operator, not the kernel's shutdown. */
function killedByOperator(reason: string): boolean {
  return reason.startsWith('killed') && reason !== 'killed: kernel shutdown';
}

/** At most `max` of run()'s functions at once; the rest wait in arrival order. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
