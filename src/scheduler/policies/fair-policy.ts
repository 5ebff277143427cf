/**
 * The default policy: priority classes with aging, weighted fair share by virtual runtime within a class.
 *
 * - Class: a process's scheduling priority (0–99, lower first; inherited priority counts).
 * - Aging: a class's effective priority rises one level per `agingMs` its oldest ready member has waited,
 *   so a class that keeps losing to more urgent ones is eventually served; inside the class, vruntime then
 *   guarantees every member its turn (served members' vruntime grows). Because the effective priority is
 *   computed at decision time from arrival times, aging needs no timer and no re-sorting.
 * - Fair share: vruntime += tokens × DEFAULT_WEIGHT / weight; the lowest vruntime runs first. A record
 *   (re)entering the queue starts no lower than its class's minimum vruntime (CFS placement), so a
 *   newcomer or a long sleeper cannot monopolise the class; a child starts no lower than its parent.
 *
 * Per lane, each non-empty class keeps two indexed heaps (by vruntime, by arrival); the class minimum
 * vruntime is shared by all lanes so shares are fair across models too. peek/pop scan the non-empty classes
 * (at most 100) and touch two heaps: O(C + log n).
 */

import { DEFAULT_WEIGHT, PRIORITY_MAX, PRIORITY_MIN } from '../../param.js';
import { IndexedHeap } from '../heap.js';
import type { Pid, Rank, RunQueue, SchedPolicy, SchedRecord } from '../policy.js';

interface Node {
  rec: SchedRecord;
  cls: number;
  key: number;
  seq: number;
  t0: number;
  posV: number;
  posT: number;
}

interface ClassQueue {
  byV: IndexedHeap<Node>;
  byT: IndexedHeap<Node>;
}

const lessV = (a: Node, b: Node): boolean => (a.key !== b.key ? a.key < b.key : a.seq < b.seq);
const lessT = (a: Node, b: Node): boolean => (a.t0 !== b.t0 ? a.t0 < b.t0 : a.seq < b.seq);

/** What the policy needs from each of its lane queues to keep the class minimum vruntime. */
export interface FairLaneQueue extends RunQueue {
  /** The entry of class `cls` with the lowest (key, seq), if any. */
  classHead(cls: number): { key: number; rec: SchedRecord } | undefined;
}

export interface FairPolicyOptions {
  /** Waiting this long raises a class one priority level. */
  agingMs: number;
}

export class FairPolicy implements SchedPolicy {
  readonly name: string = 'fair';
  readonly preemptive = true;
  readonly agingMs: number;
  /** Monotonic minimum vruntime per class, shared by every lane. */
  private readonly minV = new Float64Array(PRIORITY_MAX + 1);
  /** Records on a slot, with the class they were started in (their priority may change meanwhile). */
  private readonly running = new Map<SchedRecord, number>();
  private readonly queues: FairLaneQueue[] = [];
  private seq = 0;

  constructor(opts: FairPolicyOptions) {
    this.agingMs = opts.agingMs;
  }

  createQueue(): RunQueue {
    return this.register(new FairQueue(this));
  }

  /** Adds a lane queue whose heads count toward the class minimum (subclasses with other queues use it). */
  protected register<Q extends FairLaneQueue>(q: Q): Q {
    this.queues.push(q);
    return q;
  }

  /**
   * The key a record gets in class `cls`: continuing → front; native → its vruntime; a record lifted into
   * the class by inheritance → the class minimum (its own vruntime is in another class's scale).
   */
  keyFor(rec: SchedRecord, cls: number): number {
    if (rec.continuing) return Number.NEGATIVE_INFINITY;
    return cls === rec.priority ? rec.vruntime : this.classMinVruntime(cls);
  }

  place(rec: SchedRecord, parent: SchedRecord | undefined): void {
    let floor = this.minV[rec.priority] ?? 0;
    if (parent && parent.priority === rec.priority) floor = Math.max(floor, parent.vruntime);
    if (rec.vruntime < floor) rec.vruntime = floor;
    // It is about to be queued, so it counts toward the minimum now: after a restart, processes restored
    // with large vruntimes lift the floor before a newcomer is placed at 0 and monopolises the class.
    this.refreshMin(rec.priority, rec.vruntime);
  }

  /** Next aging boundary after `now` of a class whose oldest member arrived at t0 (undefined at priority 0). */
  nextAging(cls: number, t0: number, now: number): number | undefined {
    const waited = Math.max(0, now - t0);
    const levels = Math.floor(waited / this.agingMs);
    if (cls - levels <= PRIORITY_MIN) return undefined;
    return t0 + (levels + 1) * this.agingMs;
  }

  started(rec: SchedRecord): void {
    this.running.set(rec, rec.priority);
    this.refreshMin(rec.priority);
  }

  charge(rec: SchedRecord, tokens: number): void {
    this.running.delete(rec);
    rec.vruntime += (tokens * DEFAULT_WEIGHT) / rec.weight;
    // Counted as present: it is usually re-queued right after, and must not find the floor raised past it
    // merely because it was briefly neither running nor queued.
    this.refreshMin(rec.priority, rec.vruntime);
  }

  forget(rec: SchedRecord): void {
    this.running.delete(rec);
  }

  /** The class's minimum vruntime (what a newcomer starts at). */
  classMinVruntime(cls: number): number {
    return this.minV[cls] ?? 0;
  }

  /** @internal */
  nextSeq(): number {
    return ++this.seq;
  }

  /**
   * minV(c) = max(minV(c), min vruntime over ready and running natives of c). Ready natives are found at
   * each lane's class head. A continuing head (queued by slice, key −∞) hides the lane's lowest vruntime
   * behind it, so the floor is not raised at all then: raising it to the other candidates would lift every
   * ready native above its fair place (under a rate limit, where a continuing record waits at the head for
   * the next token, that undid all weights and groups). Keeping the floor lower is harmless.
   */
  private refreshMin(cls: number, also = Number.POSITIVE_INFINITY): void {
    let m = also;
    for (const q of this.queues) {
      const head = q.classHead(cls);
      if (head && !Number.isFinite(head.key)) return;
      if (head && head.rec.priority === cls) m = Math.min(m, head.rec.vruntime);
    }
    for (const [r, c] of this.running) if (c === cls) m = Math.min(m, r.vruntime);
    if (Number.isFinite(m) && m > (this.minV[cls] ?? 0)) this.minV[cls] = m;
  }
}

class FairQueue implements FairLaneQueue {
  private readonly classes: (ClassQueue | undefined)[] = [];
  /** Non-empty classes, ascending. */
  private readonly live: number[] = [];
  private readonly nodes = new Map<Pid, Node>();

  constructor(private readonly policy: FairPolicy) {}

  get size(): number {
    return this.nodes.size;
  }

  push(rec: SchedRecord, now: number): void {
    const cls = Math.min(PRIORITY_MAX, Math.max(PRIORITY_MIN, rec.schedPrio));
    const key = this.policy.keyFor(rec, cls);
    const node: Node = { rec, cls, key, seq: this.policy.nextSeq(), t0: now, posV: -1, posT: -1 };
    let cq = this.classes[cls];
    if (!cq) {
      cq = { byV: new IndexedHeap<Node>(lessV, 'posV'), byT: new IndexedHeap<Node>(lessT, 'posT') };
      this.classes[cls] = cq;
    }
    if (cq.byV.size === 0) insertSorted(this.live, cls);
    cq.byV.push(node);
    cq.byT.push(node);
    this.nodes.set(rec.pid, node);
  }

  remove(pid: Pid): boolean {
    const node = this.nodes.get(pid);
    if (!node) return false;
    this.unlink(node);
    return true;
  }

  peek(now: number): { rec: SchedRecord; rank: Rank } | undefined {
    const best = this.best(now);
    if (!best) return undefined;
    const node = (this.classes[best.cls] as ClassQueue).byV.peek() as Node;
    return { rec: node.rec, rank: { prio: best.prio, cls: best.cls, key: node.key, seq: node.seq } };
  }

  pop(now: number): SchedRecord | undefined {
    const best = this.best(now);
    if (!best) return undefined;
    const node = (this.classes[best.cls] as ClassQueue).byV.peek() as Node;
    this.unlink(node);
    return node.rec;
  }

  bestPrio(now: number): number | undefined {
    return this.best(now)?.prio;
  }

  nextAgingAt(now: number): number | undefined {
    let next: number | undefined;
    for (const cls of this.live) {
      const oldest = (this.classes[cls] as ClassQueue).byT.peek() as Node;
      const t = this.policy.nextAging(cls, oldest.t0, now);
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  *records(): IterableIterator<SchedRecord> {
    for (const n of this.nodes.values()) yield n.rec;
  }

  /** @internal the by-vruntime head of one class (for the policy's minimum). */
  classHead(cls: number): Node | undefined {
    return this.classes[cls]?.byV.peek();
  }

  /** The class to serve now: lowest effective priority after aging; ties go to the lower base class. */
  private best(now: number): { cls: number; prio: number } | undefined {
    let bestCls = -1;
    let bestPrio = Number.POSITIVE_INFINITY;
    const aging = this.policy.agingMs;
    for (const cls of this.live) {
      if (bestPrio === PRIORITY_MIN) break; // a later (higher) class can at best tie, and ties go to the lower class
      const oldest = (this.classes[cls] as ClassQueue).byT.peek() as Node;
      const waited = Math.max(0, now - oldest.t0);
      const eff = Math.max(PRIORITY_MIN, cls - Math.floor(waited / aging));
      if (eff < bestPrio) {
        bestPrio = eff;
        bestCls = cls;
      }
    }
    return bestCls < 0 ? undefined : { cls: bestCls, prio: bestPrio };
  }

  private unlink(node: Node): void {
    const cq = this.classes[node.cls] as ClassQueue;
    cq.byV.remove(node);
    cq.byT.remove(node);
    this.nodes.delete(node.rec.pid);
    if (cq.byV.size === 0) {
      const i = this.live.indexOf(node.cls);
      if (i >= 0) this.live.splice(i, 1);
    }
  }
}

function insertSorted(arr: number[], v: number): void {
  let i = arr.length;
  while (i > 0 && (arr[i - 1] as number) > v) i--;
  arr.splice(i, 0, v);
}
