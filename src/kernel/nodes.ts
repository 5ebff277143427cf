/**
 * This kernel as a node of a cluster (storage on a PostgreSQL server; PGlite stays single-node behind its
 * lockfile). The node registers itself, and every period/3 one heartbeat renews the leases of all the
 * processes it runs; a process whose lease it no longer holds (taken over after a pause, or expired) is
 * aborted and dropped here at once — its commits would be fenced anyway. At boot, on a NOTIFY hint, when
 * the earliest lease another node holds runs out (database clock: its last heartbeat + period; claimed a
 * grace of period/4 later, 1 s at most) and at least every period/2, it claims
 * runnable processes nobody holds (a dead node's, a departed node's, unowned ones) in scheduler order and
 * resumes them from their last committed step: a killed node's processes move 1.25 lease periods after its
 * last heartbeat at most, not up to 1.5. Shutdown hands its processes back at once.
 * Storage: src/storage/state/nodes.ts.
 */
import { hostname } from 'node:os';
import { KernelError } from '../errors.js';
import {
  CLAIM_GRACE_FRACTION,
  CLAIM_GRACE_MAX_MS,
  CLAIM_MIN_DELAY_MS,
  CLAIM_SWEEP_EVERY,
  MAX_LIVE_PROCESSES,
} from '../param.js';
import { NodeStore } from '../storage/state/nodes.js';
import type { ProcessRow } from '../storage/state/types.js';
import { logger } from '../util/log.js';
import { pidAlive } from '../util/process.js';
import { ClusterControl, CONTROL_CHANNEL } from './control.js';
import type { KernelCore } from './core.js';
import { EventFanout } from './fanout.js';
import { noteLease } from './lease-guard.js';
import { forget } from './lifecycle.js';
import { isLive } from './pcb.js';
import type { ProcControl } from './process-table.js';
import { startLoop } from './runner.js';

const log = logger('kernel');

/** NOTIFY channel: processes were handed back; nodes claim at once instead of at their next tick. */
export const CLAIM_CHANNEL = 'aos_claim';
/**
 * NOTIFY channel: a node asks the holder of a process to hand it over (`<schema>:<pid>:<node>`). Only a
 * hint: the asker repeats it while it waits, and gives up at its deadline.
 */
export const RELEASE_CHANNEL = 'aos_release';

/**
 * Decides, for one program, whether and when a process of it moves to node `to` that asked for it (a
 * gateway session whose next call reached that node). Resolves when done or declined; the handing over
 * itself is NodeAgent.handOver.
 */
export type Releaser = (pc: ProcControl, to: string) => Promise<void>;

/** Whether this storage makes the kernel a node (a server several kernels can share). */
export { isClustered } from './cluster.js';

export class NodeAgent {
  readonly store: NodeStore;
  /** Control verbs for processes on other nodes, and requests for this node's (./control.ts). */
  readonly control: ClusterControl;
  /** This node's process events to every node's API, and theirs to ours (./fanout.ts). */
  readonly events: EventFanout;
  /** Processes this node took from storage (claims), and processes it lost to another holder. */
  takeovers = 0;
  lost = 0;
  /** The claim path's and the heartbeat's database time (ms) and counts: what being a node costs. */
  readonly cost = { claims: 0, claimMs: 0, beats: 0, beatMs: 0 };
  private beatTimer: NodeJS.Timeout | null = null;
  private claimTimer: NodeJS.Timeout | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private unlistenControl: (() => Promise<void>) | null = null;
  private unlistenRelease: (() => Promise<void>) | null = null;
  /** Per program: who decides on a request to hand one of its processes to another node. */
  private readonly releasers = new Map<string, Releaser>();
  private beating = false;
  private queue: Promise<unknown> = Promise.resolve();
  private claiming: Promise<void> | null = null;
  private stopped = false;
  /** Claims made: every CLAIM_SWEEP_EVERY-th (the first, at boot, too) walks every live process. */
  private claims = 0;

  constructor(
    private readonly core: KernelCore,
    readonly leaseMs: number,
  ) {
    this.store = new NodeStore(core.storage.driver);
    this.control = new ClusterControl(core);
    this.events = new EventFanout(core);
  }

  /** Registers the node and starts the heartbeat; `claim` also starts claiming (recovery). */
  async start(claim: boolean): Promise<void> {
    await this.store.register({
      id: this.core.nodeId,
      host: hostname(),
      pid: process.pid,
      leaseMs: this.leaseMs,
    });
    await this.reapDeadNeighbours();
    await this.events.start();
    const schema = this.core.storage.driver.schema;
    this.unlistenControl = await this.core.storage.driver
      .listen(CONTROL_CHANNEL, (payload) => {
        const [s, pid] = [payload.slice(0, payload.lastIndexOf(':')), Number(payload.split(':').pop())];
        if (s === schema && this.core.procs.get(pid))
          void this.serially(() => this.control.applyPending([pid]));
      })
      .catch(() => null);
    this.unlistenRelease = await this.core.storage.driver
      .listen(RELEASE_CHANNEL, (payload) => {
        // Node ids hold colons (host:pid:random): the asker is everything after the pid.
        const [s, pid, ...rest] = payload.split(':');
        const to = rest.join(':');
        const pc = s === schema ? this.core.procs.get(Number(pid)) : undefined;
        const releaser = pc ? this.releasers.get(pc.pcb.program) : undefined;
        if (pc && releaser && to && to !== this.core.nodeId)
          void releaser(pc, to).catch((err) => log.warn(`pid ${pid}: handing over to ${to}: ${String(err)}`));
      })
      .catch(() => null);
    this.beatTimer = setInterval(() => void this.beat(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.beatTimer.unref();
    if (!claim) return;
    this.unlisten = await this.core.storage.driver
      .listen(CLAIM_CHANNEL, () => void this.claim())
      .catch(() => null);
    await this.claim();
  }

  /**
   * A kernel restarted on the same host need not wait out the lease of the one it replaces: a node of this
   * host whose process is gone (no such pid) is marked left and its processes handed back now. A pid that
   * is alive (maybe reused) proves nothing, so that node's leases simply expire.
   */
  private async reapDeadNeighbours(): Promise<void> {
    for (const n of await this.store.list()) {
      if (n.id === this.core.nodeId || n.state !== 'up' || n.host !== hostname() || n.pid === null) continue;
      if (pidAlive(n.pid)) continue;
      const handed = await this.store.leave(n.id);
      log.info(`node ${n.id} (pid ${n.pid}, this host) is gone: ${handed} process(es) handed back`);
    }
  }

  /**
   * Heartbeats and claims run one at a time: a heartbeat's answer computed before a claim committed would
   * otherwise make the node drop a process it has just claimed.
   */
  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Renews this node's leases; drops every process it no longer holds. */
  beat(): Promise<void> {
    if (this.beating || this.stopped) return Promise.resolve();
    this.beating = true;
    return this.serially(() => this.beatNow());
  }

  private async beatNow(): Promise<void> {
    const t0 = performance.now();
    try {
      // Only processes this node ran before the heartbeat's statement are judged by its answer: one
      // spawned or claimed meanwhile is not in it and is still ours.
      const before = new Map(this.core.procs.all().map((pc) => [pc, pc.pcb.leaseEpoch]));
      const sentAt = performance.now();
      const held = await this.store.heartbeat(
        this.core.nodeId,
        this.leaseMs,
        [...before.keys()].map((pc) => pc.pcb.pid),
      );
      for (const [pc, epoch] of before) {
        if (this.core.procs.get(pc.pcb.pid) !== pc || pc.pcb.leaseEpoch !== epoch) continue;
        if (held.get(pc.pcb.pid) === epoch) {
          noteLease(this.core, pc, sentAt);
          continue;
        }
        if (!isLive(pc.pcb.state)) continue;
        this.lost += 1;
        log.warn(`pid ${pc.pcb.pid}: this node no longer holds its lease; it stops running it here`);
        pc.abort.abort(
          new KernelError('EFENCED', `pid ${pc.pcb.pid}: lease lost (node ${this.core.nodeId})`),
        );
        forget(this.core, pc);
      }
      // Control requests from other nodes (a missed NOTIFY is caught here, one heartbeat late).
      await this.control.applyPending();
    } catch (err) {
      log.warn(`node heartbeat failed: ${(err as Error).message}`);
    } finally {
      this.beating = false;
      this.cost.beats += 1;
      this.cost.beatMs += performance.now() - t0;
    }
  }

  /** Claims runnable processes nobody holds and runs them here, from their last committed step. */
  claim(): Promise<void> {
    if (this.stopped || this.core.stopping) return Promise.resolve();
    this.claiming ??= this.serially(async () => {
      const t0 = performance.now();
      let next: number | null = null;
      try {
        const room = MAX_LIVE_PROCESSES - this.core.procs.liveCount();
        if (room <= 0) return;
        const limit = Math.min(room, 100);
        const released = this.core.procs.released;
        const now = performance.now();
        for (const [pid, until] of released)
          if (until < now || this.core.procs.get(pid)) released.delete(pid);
        const sweep = this.claims++ % CLAIM_SWEEP_EVERY === 0;
        const sentAt = performance.now();
        const rows = await this.store.claim(this.core.nodeId, this.leaseMs, limit, this.graceMs, undefined, {
          sweep,
          released: [...released.keys()],
        });
        // A full batch may leave more to take: claim again soon; else sleep until the next lease ends.
        next = rows.length < limit ? await this.store.nextExpiryMs(this.core.nodeId, this.graceMs) : 0;
        const adopted = [];
        for (const row of rows) {
          if (this.core.stopping) return;
          adopted.push(this.adopt(row, sentAt));
        }
        // Requests made while nobody ran these processes (kill, resume, …) apply before they run.
        await this.control.applyPending(rows.map((r) => r.pid)).catch((e) => log.warn(String(e)));
        // A suspended process gets its loop too: it parks at its first preemption point until resumed
        // (without a loop, a resume — here or from another node — would wake nobody).
        for (const pc of adopted) if (this.core.procs.get(pc.pcb.pid) === pc) startLoop(this.core, pc);
      } catch (err) {
        log.warn(`claiming processes failed: ${(err as Error).message}`);
      } finally {
        this.claiming = null;
        this.cost.claims += 1;
        this.cost.claimMs += performance.now() - t0;
        this.scheduleClaim(next);
      }
    });
    return this.claiming;
  }

  private adopt(row: ProcessRow, sentAt: number): ProcControl {
    const old = this.core.procs.get(row.pid);
    if (old) forget(this.core, old); // our own earlier incarnation, fenced by the new epoch
    const pc = this.core.procs.adopt(row, this.core.models.defaultModel());
    noteLease(this.core, pc, sentAt);
    this.takeovers += 1;
    log.info(`pid ${row.pid}: claimed at epoch ${row.leaseEpoch} (step ${row.stepNo})`);
    return pc;
  }

  /** `program`'s processes may be asked for by other nodes; `releaser` decides (one per program). */
  onRelease(program: string, releaser: Releaser): () => void {
    this.releasers.set(program, releaser);
    return () => {
      if (this.releasers.get(program) === releaser) this.releasers.delete(program);
    };
  }

  /**
   * Hands `pc`, which this node runs, to node `to`: its lease moves in one fenced statement (a new epoch),
   * then it stops here like a process whose lease was lost — its parked step abandoned, nothing of it
   * committed. Call it at a point where the process has nothing in flight. False: the lease was not ours.
   */
  handOver(pc: ProcControl, to: string): Promise<boolean> {
    return this.serially(async () => {
      if (this.core.procs.get(pc.pcb.pid) !== pc) return false;
      const moved = await this.store.transfer(
        pc.pcb.pid,
        this.core.nodeId,
        pc.pcb.leaseEpoch,
        to,
        this.leaseMs,
      );
      if (!moved) return false;
      log.info(`pid ${pc.pcb.pid}: handed over to node ${to}`);
      pc.abort.abort(
        new KernelError('EFENCED', `pid ${pc.pcb.pid}: handed over to node ${to}`, {
          details: { handedOver: to },
        }),
      );
      forget(this.core, pc);
      return true;
    });
  }

  /**
   * Runs process `pid` here: claimed at once when nobody holds it (unowned, its holder dead, or handed to
   * this node), else its holder is asked to hand it over (RELEASE_CHANNEL, repeated while waiting) and this
   * waits — until `deadline` (performance.now()), then ETIMEDOUT naming the holder. Null: it is not live
   * (it exited meanwhile). A process this node runs already is returned as it is.
   */
  async takeOver(pid: number, deadline: number, signal?: AbortSignal): Promise<ProcControl | null> {
    const schema = this.core.storage.driver.schema;
    let asked = Number.NEGATIVE_INFINITY;
    for (let wait = 5; ; wait = Math.min(100, wait * 2)) {
      const here = this.core.procs.get(pid);
      if (here) return here;
      signal?.throwIfAborted();
      const sentAt = performance.now();
      const row = await this.serially(() =>
        this.store.claimOne(this.core.nodeId, this.leaseMs, pid, this.graceMs),
      );
      if (row) {
        const pc = this.adopt(row, sentAt);
        await this.control.applyPending([pid]).catch((e) => log.warn(String(e)));
        if (this.core.procs.get(pid) === pc) startLoop(this.core, pc);
        return pc;
      }
      const h = await this.store.holder(pid);
      if (!h?.live) return null;
      if (performance.now() > deadline)
        throw new KernelError(
          'ETIMEDOUT',
          `pid ${pid} runs on node ${h.owner}, which did not hand it over in time; route a session's calls ` +
            'to one node (sticky by x-aos-session or API key) so it need not move',
          { details: { pid, node: h.owner } },
        );
      if (performance.now() - asked > 250) {
        asked = performance.now();
        await this.core.storage.driver
          .notify(RELEASE_CHANNEL, `${schema}:${pid}:${this.core.nodeId}`)
          .catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** How long after a lease ends this node takes its process (period/4, at most CLAIM_GRACE_MAX_MS). */
  get graceMs(): number {
    return Math.min(CLAIM_GRACE_MAX_MS, Math.floor(this.leaseMs * CLAIM_GRACE_FRACTION));
  }

  /**
   * The next claim: a grace (period/4) after the earliest lease another node holds ends (a holder whose
   * heartbeat came late stops at its next preemption point; its writes are fenced from the expiry on, but
   * an effect it started just before — a file written after its intent was recorded — must not overlap the
   * new owner's redo), and within period/2.
   */
  private scheduleClaim(claimableInMs: number | null): void {
    if (this.stopped || this.core.stopping) return;
    const poll = Math.max(50, Math.floor(this.leaseMs / 2));
    const ms = claimableInMs === null ? poll : Math.min(poll, claimableInMs + CLAIM_MIN_DELAY_MS);
    if (this.claimTimer) clearTimeout(this.claimTimer);
    this.claimTimer = setTimeout(() => void this.claim(), Math.max(CLAIM_MIN_DELAY_MS, ms));
    this.claimTimer.unref();
  }

  /** Graceful shutdown: stop the timers and hand every process back at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.beatTimer) clearInterval(this.beatTimer);
    if (this.claimTimer) clearTimeout(this.claimTimer);
    await this.claiming;
    await this.unlisten?.().catch(() => undefined);
    await this.unlistenControl?.().catch(() => undefined);
    await this.unlistenRelease?.().catch(() => undefined);
    await this.events.stop();
    const n = await this.store.leave(this.core.nodeId);
    if (n) await this.core.storage.driver.notify(CLAIM_CHANNEL, this.core.nodeId).catch(() => undefined);
  }
}
