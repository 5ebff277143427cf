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
 * - Groups (tenants): a group's records share one share, as if the group were one process of weight 1 —
 *   two levels, as in hierarchical CFS. The group has the vruntime (charged its estimated tokens when a
 *   member is dispatched, corrected to the tokens used at release, so a burst of slots freeing at once
 *   does not go to one group); its queued members wait in one entry of the class queue, in arrival order.
 *   A group returning from idle starts no lower than the class minimum. So a tenant's newcomers queue
 *   behind its earlier calls however many arrive at once: 150 sessions of one tenant starting together
 *   with 50 of another are served a call of each tenant in turn (the rule before, per-process vruntime
 *   charged × the group's size, served every newcomer's first calls at the class minimum in arrival
 *   order: 3:1 at first, then overcorrected). Time slices do not cut in within or across groups: a grouped
 *   record continuing its slice waits in its group's entry like any other member.
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
  /** The group entry this node waits in (its key is the group's vruntime), or null. */
  grp: GroupEntry | null;
}

/** A group's queued members of one class, in arrival order: one entry in the class's vruntime heap. */
interface GroupEntry {
  group: string;
  /** The group's vruntime. */
  key: number;
  /** The first member's seq. */
  seq: number;
  posV: number;
  members: Node[];
}

type Entry = Node | GroupEntry;

interface ClassQueue {
  byV: IndexedHeap<Entry>;
  byT: IndexedHeap<Node>;
  groups: Map<string, GroupEntry>;
}

/** A group's share: its vruntime, its members ready or running, and the estimates charged for calls in flight. */
interface GroupState {
  vruntime: number;
  active: number;
  inFlight: Map<SchedRecord, number>;
  /** The sum of inFlight's estimates (kept, so the class minimum costs O(1) per group). */
  pending: number;
  /** Weighted tokens its calls used, on average (null before the first release). */
  perCall: number | null;
}

const lessV = (a: Entry, b: Entry): boolean => (a.key !== b.key ? a.key < b.key : a.seq < b.seq);
const lessT = (a: Node, b: Node): boolean => (a.t0 !== b.t0 ? a.t0 < b.t0 : a.seq < b.seq);
const isGroup = (e: Entry): e is GroupEntry => 'members' in e;

/** What the policy needs from each of its lane queues to keep the class minimum vruntime. */
export interface FairLaneQueue extends RunQueue {
  /** The entry of class `cls` with the lowest (key, seq), if any. */
  classHead(cls: number): { key: number; rec: SchedRecord } | undefined;
  /** The group's vruntime changed: its entries move. */
  regroup(group: string): void;
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
  private readonly groups = new Map<string, GroupState>();
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
    if (this.grouped(rec, cls)) return this.groupVruntime(rec.group as string);
    if (rec.continuing) return Number.NEGATIVE_INFINITY;
    return cls === rec.priority ? rec.vruntime : this.classMinVruntime(cls);
  }

  /** Whether `rec` waits in class `cls` as a member of its group (a record lifted by inheritance does not). */
  grouped(rec: SchedRecord, cls: number): boolean {
    return rec.group !== null && cls === rec.priority;
  }

  groupVruntime(group: string): number {
    return this.groups.get(group)?.vruntime ?? 0;
  }

  /** The group's vruntime without the estimates of its calls in flight (what the class minimum counts). */
  private groupSettled(group: string): number {
    const g = this.groups.get(group);
    if (!g) return 0;
    return g.vruntime - g.pending;
  }

  /** A grouped record left the queue without being dispatched (suspend, kill, withdrawal). */
  unqueued(rec: SchedRecord): void {
    const g = rec.group === null ? undefined : this.groups.get(rec.group);
    if (g) g.active = Math.max(0, g.active - 1);
  }

  place(rec: SchedRecord, parent: SchedRecord | undefined): void {
    if (rec.group !== null) {
      let g = this.groups.get(rec.group);
      if (!g) {
        g = { vruntime: 0, active: 0, inFlight: new Map(), pending: 0, perCall: null };
        this.groups.set(rec.group, g);
      }
      // A group returning from idle (or seen first) starts no lower than the class minimum.
      if (g.active === 0) this.moveGroup(rec.group, Math.max(g.vruntime, this.minV[rec.priority] ?? 0));
      g.active++;
      this.refreshMin(rec.priority, this.groupSettled(rec.group));
      return;
    }
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
    const g = rec.group === null ? undefined : this.groups.get(rec.group);
    if (g) {
      // Charged an estimate now, so the next free slot does not go to the same group at the same vruntime:
      // what its calls used on average (a call's own estimate is an upper bound, often 10× the use — the
      // group catching up, whose calls are in flight, would look that much dearer).
      const est = g.perCall ?? (rec.estTokens * DEFAULT_WEIGHT) / rec.weight;
      g.inFlight.set(rec, est);
      g.pending += est;
      this.moveGroup(rec.group as string, g.vruntime + est);
    }
    this.refreshMin(rec.priority);
  }

  charge(rec: SchedRecord, tokens: number): void {
    this.running.delete(rec);
    const used = (tokens * DEFAULT_WEIGHT) / rec.weight;
    rec.vruntime += used;
    const g = rec.group === null ? undefined : this.groups.get(rec.group);
    if (g) {
      const est = g.inFlight.get(rec) ?? 0;
      g.inFlight.delete(rec);
      g.pending -= est;
      g.active = Math.max(0, g.active - 1);
      g.perCall = g.perCall === null ? used : 0.8 * g.perCall + 0.2 * used;
      this.moveGroup(rec.group as string, g.vruntime + used - est);
    }
    // Counted as present: it is usually re-queued right after, and must not find the floor raised past it
    // merely because it was briefly neither running nor queued.
    this.refreshMin(rec.priority, rec.group !== null ? this.groupSettled(rec.group) : rec.vruntime);
  }

  forget(rec: SchedRecord): void {
    this.running.delete(rec);
    const g = rec.group === null ? undefined : this.groups.get(rec.group);
    const est = g?.inFlight.get(rec);
    if (g && est !== undefined) {
      // It exited with a call in flight, whose release will find no record: the estimate goes back.
      g.inFlight.delete(rec);
      g.pending -= est;
      g.active = Math.max(0, g.active - 1);
      this.moveGroup(rec.group as string, g.vruntime - est);
    }
  }

  private moveGroup(group: string, vruntime: number): void {
    const g = this.groups.get(group);
    if (!g || g.vruntime === vruntime) return;
    g.vruntime = vruntime;
    for (const q of this.queues) q.regroup(group);
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
      if (head && head.rec.priority === cls)
        m = Math.min(m, head.rec.group !== null ? this.groupSettled(head.rec.group) : head.rec.vruntime);
    }
    // A group's estimates for its calls in flight do not count: they would lift a newcomer group's floor.
    for (const [r, c] of this.running)
      if (c === cls) m = Math.min(m, r.group !== null ? this.groupSettled(r.group) : r.vruntime);
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
    const seq = this.policy.nextSeq();
    const node: Node = { rec, cls, key, seq, t0: now, posV: -1, posT: -1, grp: null };
    let cq = this.classes[cls];
    if (!cq) {
      cq = {
        byV: new IndexedHeap<Entry>(lessV, 'posV'),
        byT: new IndexedHeap<Node>(lessT, 'posT'),
        groups: new Map(),
      };
      this.classes[cls] = cq;
    }
    if (cq.byT.size === 0) insertSorted(this.live, cls);
    if (this.policy.grouped(rec, cls)) {
      const name = rec.group as string;
      let g = cq.groups.get(name);
      if (!g) {
        g = { group: name, key, seq, posV: -1, members: [] };
        cq.groups.set(name, g);
        cq.byV.push(g);
      }
      g.members.push(node);
      node.grp = g;
    } else cq.byV.push(node);
    cq.byT.push(node);
    this.nodes.set(rec.pid, node);
  }

  remove(pid: Pid): boolean {
    const node = this.nodes.get(pid);
    if (!node) return false;
    this.unlink(node);
    this.policy.unqueued(node.rec);
    return true;
  }

  peek(now: number): { rec: SchedRecord; rank: Rank } | undefined {
    const best = this.best(now);
    if (!best) return undefined;
    const e = (this.classes[best.cls] as ClassQueue).byV.peek() as Entry;
    const node = isGroup(e) ? (e.members[0] as Node) : e;
    return { rec: node.rec, rank: { prio: best.prio, cls: best.cls, key: e.key, seq: e.seq } };
  }

  pop(now: number): SchedRecord | undefined {
    const best = this.best(now);
    if (!best) return undefined;
    const e = (this.classes[best.cls] as ClassQueue).byV.peek() as Entry;
    const node = isGroup(e) ? (e.members[0] as Node) : e;
    this.unlink(node);
    return node.rec;
  }

  regroup(group: string): void {
    const key = this.policy.groupVruntime(group);
    for (const cls of this.live) {
      const cq = this.classes[cls] as ClassQueue;
      const g = cq.groups.get(group);
      if (!g || g.key === key) continue;
      g.key = key;
      cq.byV.update(g);
    }
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
  classHead(cls: number): { key: number; rec: SchedRecord } | undefined {
    const e = this.classes[cls]?.byV.peek();
    if (!e) return undefined;
    return isGroup(e) ? { key: e.key, rec: (e.members[0] as Node).rec } : e;
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
    const g = node.grp;
    if (g) {
      const i = g.members.indexOf(node);
      g.members.splice(i, 1);
      node.grp = null;
      if (!g.members.length) {
        cq.byV.remove(g);
        cq.groups.delete(g.group);
      } else if (i === 0) {
        g.seq = (g.members[0] as Node).seq;
        cq.byV.update(g);
      }
    } else cq.byV.remove(node);
    cq.byT.remove(node);
    this.nodes.delete(node.rec.pid);
    if (cq.byT.size === 0) {
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
