/**
 * Program `gateway`: a session is a process whose calls are its steps. Each step takes the next call
 * queued for this pid by the HTTP side (./gateway.ts), makes it through the syscall gate (`llm.chat`: the
 * scheduler's slot and rate tokens, accounting, audit, hooks, preemption points) and hands the answer back;
 * the runner then commits the step (step log + usage + audit) like any other process's. So suspend,
 * kill, budgets and priority apply to an unmodified agent exactly as to a native one: a suspended session's
 * next call parks at the gate's preemption point, a killed one unwinds and its callers get a clear error.
 * A session idle for config.gateway.session_idle_ms exits (the next call respawns it).
 *
 * The program is registered at boot (GatewayRuntime, passed to createKernel's `programs` — `aos start` does
 * this), so a restart recovers live sessions like any other process: a recovered session waits for its
 * next call, and the Gateway the server builds later attaches to the same runtime and adopts it.
 */
import { KernelError } from '../errors.js';
import { type AgentProgram, continueWith, done, type StepRecord } from '../kernel/program.js';
import type { Sys, SyscallResults } from '../kernel/syscalls.js';
import type { ChatResponse, StreamEvent } from '../llm/model.js';
import { GATEWAY_SESSION_IDLE_MS, PREVIEW_MAX_CHARS } from '../param.js';
import type { Dialect, EmbedCall, GatewayCall } from './call.js';

export interface GatewayState {
  tenant: string;
  session: string;
  /** The dialect the session started in (its cache rules after a restart). */
  dialect?: Dialect;
  calls: number;
  replayed: number;
  errors: number;
}

export interface CallOutcome {
  /** A chat call's answer (an embeddings call answers with `embedding` instead; this is then empty). */
  response: ChatResponse;
  embedding?: SyscallResults['llm.embed'];
  replayed: boolean;
  /** Time from the step picking the call up to the answer (the gate, the queue for a slot and the model). */
  ms: number;
}

/** One call waiting for its session's process. */
export interface Job {
  call: GatewayCall;
  /** Set for an embeddings call: the step makes `llm.embed` instead of `llm.chat`. */
  embed?: EmbedCall;
  /** The request hash (computed off the call's path, on first use). */
  hash(): string;
  /** A journaled answer found before queueing: served as a step without a model call. */
  replay: ChatResponse | null;
  /** Streaming callers get the deltas as they arrive. */
  onEvent?: (ev: StreamEvent) => void;
  /** Fires when the caller went away (its connection closed before the answer): the model call is aborted. */
  callerGone?: AbortSignal;
  /** Set by the gateway when the call waited too long for a slot and was withdrawn from the run queue. */
  withdrawn: KernelError | null;
  /** performance.now() past which the caller is not kept waiting (its queue time, gateway.queue_timeout_ms). */
  deadline: number;
  /** A delta went out to a streaming caller: the call can no longer be retried behind its back. */
  streamed?: boolean;
  picked: boolean;
  resolve(o: CallOutcome): void;
  reject(err: unknown): void;
}

interface Queue {
  jobs: Job[];
  wake: (() => void) | null;
  /** The process decided to exit (idle): new calls must go to a new process. */
  closed: boolean;
  current: Job | null;
}

/** What the program needs from the gateway (kept narrow so the program holds no HTTP or storage state). */
export interface SessionHost {
  idleMs(): number;
  /** Points the process at the call's model before it enters the gate (one session may switch models). */
  useModel(pid: number, model: string): void;
  /** Marks the process idle (waiting on its next call) or busy again, for `aos ps`. */
  idle(pid: number, idle: boolean): void;
  /** After the step's answer went out: journal it (off the caller's path; its row rides the step's commit). */
  settle(pid: number, job: Job, outcome: CallOutcome | null, err: unknown): Promise<void>;
  /**
   * A provider outage the call can wait out (circuit open, 5xx, 429, timeout): how long to wait before
   * attempt `attempt + 1` (the process shows waiting(provider) meanwhile); null when the error is not one.
   */
  outage(pid: number, err: unknown, attempt: number): number | null;
  /** The wait is over: the process runs again. */
  outageOver(pid: number): void;
}

export class SessionQueues {
  private readonly queues = new Map<number, Queue>();

  private q(pid: number): Queue {
    let q = this.queues.get(pid);
    if (!q) {
      q = { jobs: [], wake: null, closed: false, current: null };
      this.queues.set(pid, q);
    }
    return q;
  }

  /** False when the process is exiting: the caller must use (spawn) another one. */
  push(pid: number, job: Job): boolean {
    const q = this.q(pid);
    if (q.closed) return false;
    q.jobs.push(job);
    const w = q.wake;
    q.wake = null;
    w?.();
    return true;
  }

  /** Refuses new calls for a while (its process is being handed to another node); reopen() undoes it. */
  close(pid: number): void {
    this.q(pid).closed = true;
  }

  reopen(pid: number): void {
    const q = this.queues.get(pid);
    if (q) q.closed = false;
  }

  /** The process stopped here without exiting (handed to another node): nothing of it is kept. */
  forget(pid: number): void {
    this.queues.delete(pid);
  }

  /** The process is parked in next(), waiting for a call. */
  idleWaiting(pid: number): boolean {
    return this.queues.get(pid)?.wake != null;
  }

  depth(pid: number): number {
    const q = this.queues.get(pid);
    return q ? q.jobs.length + (q.current ? 1 : 0) : 0;
  }

  current(pid: number): Job | null {
    return this.queues.get(pid)?.current ?? null;
  }

  /** The next call, or null once the session has been idle for `idleMs` (the queue is then closed). */
  async next(
    pid: number,
    signal: AbortSignal,
    idleMs: number,
    onIdle: (idle: boolean) => void,
  ): Promise<Job | null> {
    const q = this.q(pid);
    if (!q.jobs.length) {
      onIdle(true);
      try {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => finish(), idleMs);
          t.unref();
          const onAbort = () => finish(new KernelError('EABORTED', 'gateway session aborted'));
          const finish = (err?: KernelError) => {
            clearTimeout(t);
            signal.removeEventListener('abort', onAbort);
            if (q.wake === wake) q.wake = null;
            if (err) reject(err);
            else resolve();
          };
          const wake = () => finish();
          if (signal.aborted) return onAbort();
          signal.addEventListener('abort', onAbort, { once: true });
          q.wake = wake;
        });
      } finally {
        onIdle(false);
      }
    }
    const job = q.jobs.shift() ?? null;
    if (!job) q.closed = true; // idle: whatever arrives from now on goes to a fresh process
    q.current = job;
    return job;
  }

  done(pid: number): void {
    const q = this.queues.get(pid);
    if (q) q.current = null;
  }

  /** The process is gone: fail what it will never answer, with the reason. */
  drop(pid: number, err: KernelError): void {
    const q = this.queues.get(pid);
    if (!q) return;
    this.queues.delete(pid);
    q.closed = true;
    for (const j of [...(q.current ? [q.current] : []), ...q.jobs.splice(0)]) j.reject(err);
    q.current = null;
  }
}

/** An embeddings call as the kernel's usage record sees it: input tokens, no text. */
function embeddingResponse(e: SyscallResults['llm.embed'], ms: number): ChatResponse {
  return {
    provider: '',
    latencyMs: ms,
    content: '',
    toolCalls: [],
    finishReason: 'stop',
    model: e.model,
    usage: { input: e.tokens, cachedInput: 0, cacheWrite: 0, output: 0, reasoning: 0 },
    costUsd: e.costUsd,
  };
}

function recordOf(job: Job, o: CallOutcome | null, err: unknown): StepRecord {
  if (job.embed)
    return {
      kind: o ? 'gateway.embed' : 'gateway.error',
      model: job.embed.model,
      inputs: job.embed.input.length,
      ...(o?.embedding ? { tokens: o.embedding.tokens, costUsd: o.embedding.costUsd } : {}),
      ...(o ? { ms: Math.round(o.ms * 100) / 100 } : {}),
      ...(err ? { error: KernelError.wrap(err, 'EPROVIDER', 'gateway embeddings').toJSON() } : {}),
    };
  const r = o?.response;
  const calls = r?.toolCalls.map((tc) => ({ id: tc.id, name: tc.name, arguments: tc.arguments })) ?? [];
  return {
    kind: o ? (o.replayed ? 'gateway.replay' : 'gateway.call') : 'gateway.error',
    dialect: job.call.dialect,
    model: job.call.model,
    requestHash: job.hash(),
    messages: job.call.chat.messages.length,
    stream: job.call.stream,
    ...(r
      ? {
          text: r.content.slice(0, PREVIEW_MAX_CHARS),
          finish: r.finishReason,
          usage: r.usage,
          costUsd: r.costUsd,
        }
      : {}),
    ...(calls.length ? { toolCalls: calls } : {}),
    ...(o ? { replayed: o.replayed, ms: Math.round(o.ms * 100) / 100 } : {}),
    ...(err ? { error: KernelError.wrap(err, 'EPROVIDER', 'gateway call').toJSON() } : {}),
  };
}

/**
 * The model call, waiting out a provider outage within the caller's queue time: the caller waits (as a
 * native process parks in waiting(provider)) instead of getting the outage as an error. Past its deadline,
 * or once a streaming caller has been sent a delta, the error is the caller's (503 + Retry-After for an
 * open circuit). Each attempt is its own audited llm.chat.
 */
async function chatThroughOutages(job: Job, sys: Sys, host: SessionHost): Promise<ChatResponse> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await sys.call(
        'llm.chat',
        {
          ...job.call.chat,
          // The client holds every delta it was sent: a cut stream fails its call instead of restarting.
          ...(job.onEvent ? { stream: true, onCut: 'fail' } : { stream: false }),
        } as never,
        // A caller that went away stops its provider request: no tokens generated for no one, and the
        // session's next call does not wait behind an answer nobody reads.
        job.callerGone ? { signal: job.callerGone } : undefined,
      );
    } catch (err) {
      const wait = job.withdrawn || job.streamed ? null : host.outage(sys.pid, err, attempt);
      if (wait === null) throw err;
      if (performance.now() + wait > job.deadline) {
        host.outageOver(sys.pid);
        throw err;
      }
      try {
        await sleepUnless(wait, sys.signal);
      } finally {
        host.outageOver(sys.pid);
      }
    }
  }
}

function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new KernelError('EABORTED', 'aborted'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new KernelError('EABORTED', 'aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A kill or shutdown unwinding the step: not the call's own failure, so it must propagate to the runner. */
function isUnwind(err: unknown, job: Job): boolean {
  if (job.withdrawn) return false;
  if (err instanceof KernelError) return err.code === 'EABORTED';
  return err instanceof Error && err.constructor.name === 'KilledSignal';
}

export function gatewayProgram(queues: SessionQueues, host: SessionHost): AgentProgram<GatewayState> {
  return {
    name: 'gateway',
    // Each answer goes to its HTTP caller as soon as llm.chat returns; the journal row follows (../kernel/call-journal.ts).
    forwardsAnswers: true,
    init({ args }) {
      const a = (args ?? {}) as { tenant?: string; session?: string; dialect?: Dialect };
      if (!a.session) throw new KernelError('EINVAL', 'a gateway process needs args.session');
      return {
        tenant: a.tenant ?? 'default',
        session: a.session,
        ...(a.dialect ? { dialect: a.dialect } : {}),
        calls: 0,
        replayed: 0,
        errors: 0,
      };
    },
    async step(state, sys) {
      const job = await queues.next(sys.pid, sys.signal, host.idleMs(), (idle) => host.idle(sys.pid, idle));
      if (!job)
        return done(state, { calls: state.calls, replayed: state.replayed }, { kind: 'gateway.idle' });
      job.picked = true;
      const t0 = performance.now();
      let outcome: CallOutcome | null = null;
      let failure: unknown = null;
      try {
        if (job.embed) {
          const embedding = await sys.call('llm.embed', job.embed);
          outcome = {
            response: embeddingResponse(embedding, performance.now() - t0),
            embedding,
            replayed: false,
            ms: performance.now() - t0,
          };
        } else if (job.replay) {
          outcome = { response: job.replay, replayed: true, ms: performance.now() - t0 };
        } else {
          host.useModel(sys.pid, job.call.model);
          const response = await chatThroughOutages(job, sys, host);
          outcome = { response, replayed: false, ms: performance.now() - t0 };
        }
        job.resolve(outcome);
      } catch (err) {
        failure = job.withdrawn ?? err;
        // What the provider billed for a call that failed midway (../kernel/llm-stream.ts) stays with the
        // failure the caller is given, so the tenant's quota counts it too (Gateway.settle).
        const billed = err instanceof KernelError ? err.details.partialUsage : undefined;
        if (billed && failure instanceof KernelError) failure.details.partialUsage ??= billed;
        job.reject(failure);
        if (isUnwind(err, job)) {
          queues.done(sys.pid);
          throw err;
        }
      }
      queues.done(sys.pid);
      await host.settle(sys.pid, job, outcome, failure);
      const next: GatewayState = {
        ...state,
        calls: state.calls + (outcome && !outcome.replayed ? 1 : 0),
        replayed: state.replayed + (outcome?.replayed ? 1 : 0),
        errors: state.errors + (outcome ? 0 : 1),
      };
      return continueWith(next, recordOf(job, outcome, failure));
    },
  };
}

const runtimes = new WeakMap<object, GatewayRuntime>();

/**
 * The gateway's half that exists from boot: the per-session call queues and program `gateway`. Until a
 * Gateway attaches (the HTTP server starts after the kernel booted), a recovered session just waits for
 * its next call — none can arrive before then, since calls come only through the Gateway.
 */
export class GatewayRuntime {
  readonly queues = new SessionQueues();
  readonly program: AgentProgram<GatewayState>;
  private host: SessionHost | null = null;

  constructor() {
    const forward: SessionHost = {
      idleMs: () => this.host?.idleMs() ?? GATEWAY_SESSION_IDLE_MS,
      useModel: (pid, model) => this.host?.useModel(pid, model),
      idle: (pid, idle) => this.host?.idle(pid, idle),
      settle: async (pid, job, outcome, err) => this.host?.settle(pid, job, outcome, err),
      outage: (pid, err, attempt) => this.host?.outage(pid, err, attempt) ?? null,
      outageOver: (pid) => this.host?.outageOver(pid),
    };
    this.program = gatewayProgram(this.queues, forward);
    runtimes.set(this.program, this);
  }

  /** The runtime a registered program `gateway` belongs to (null: someone else's program of that name). */
  static of(program: unknown): GatewayRuntime | null {
    return program && typeof program === 'object' ? (runtimes.get(program) ?? null) : null;
  }

  /** The latest Gateway attached serves the sessions (a kernel may be given a second server, e.g. in tests). */
  attach(host: SessionHost): void {
    this.host = host;
  }

  detach(host: SessionHost): void {
    if (this.host === host) this.host = null;
  }
}
