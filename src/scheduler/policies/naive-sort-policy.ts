/**
 * Reference and bench baseline: exactly the fair policy's ordering rules, kept in a plain array that is
 * fully sorted on every decision — the approach of the seeds' prototype. O(n log n) per dispatch. Tests
 * check that FairPolicy dispatches in the same order; the `scheduler` bench measures the difference.
 * Not for production use.
 */
import { PRIORITY_MAX, PRIORITY_MIN } from '../../param.js';
import type { Pid, Rank, RunQueue, SchedRecord } from '../policy.js';
import { type FairLaneQueue, FairPolicy } from './fair-policy.js';

interface Entry {
  rec: SchedRecord;
  cls: number;
  key: number;
  seq: number;
  t0: number;
}

export class NaiveSortPolicy extends FairPolicy {
  override readonly name: string = 'naive_sort';

  override createQueue(): RunQueue {
    return this.register(new NaiveSortQueue(this));
  }
}

class NaiveSortQueue implements FairLaneQueue {
  private entries: Entry[] = [];

  constructor(private readonly policy: FairPolicy) {}

  get size(): number {
    return this.entries.length;
  }

  push(rec: SchedRecord, now: number): void {
    const cls = Math.min(PRIORITY_MAX, Math.max(PRIORITY_MIN, rec.schedPrio));
    this.entries.push({ rec, cls, key: this.policy.keyFor(rec, cls), seq: this.policy.nextSeq(), t0: now });
  }

  remove(pid: Pid): boolean {
    const i = this.entries.findIndex((e) => e.rec.pid === pid);
    if (i < 0) return false;
    const [e] = this.entries.splice(i, 1);
    if (e) this.policy.unqueued(e.rec);
    return true;
  }

  peek(now: number): { rec: SchedRecord; rank: Rank } | undefined {
    const e = this.sorted(now)[0];
    return e && { rec: e.rec, rank: this.rankOf(e, this.effective(now)) };
  }

  pop(now: number): SchedRecord | undefined {
    const e = this.sorted(now)[0];
    if (e) this.entries.shift();
    return e?.rec;
  }

  bestPrio(now: number): number | undefined {
    const e = this.sorted(now)[0];
    return e && this.rankOf(e, this.effective(now)).prio;
  }

  nextAgingAt(now: number): number | undefined {
    let next: number | undefined;
    for (const e of this.entries) {
      const t = this.policy.nextAging(e.cls, e.t0, now);
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  *records(): IterableIterator<SchedRecord> {
    for (const e of this.entries) yield e.rec;
  }

  regroup(group: string): void {
    for (const e of this.entries)
      if (e.rec.group === group && this.policy.grouped(e.rec, e.cls))
        e.key = this.policy.groupVruntime(group);
  }

  classHead(cls: number): { key: number; rec: SchedRecord } | undefined {
    let best: Entry | undefined;
    for (const e of this.entries) {
      if (e.cls === cls && (!best || e.key < best.key || (e.key === best.key && e.seq < best.seq))) best = e;
    }
    return best;
  }

  /** Effective priority of each class at `now`: its number minus one per aging period its oldest member waited. */
  private effective(now: number): Map<number, number> {
    const oldest = new Map<number, number>();
    for (const e of this.entries)
      oldest.set(e.cls, Math.min(oldest.get(e.cls) ?? Number.POSITIVE_INFINITY, e.t0));
    const eff = new Map<number, number>();
    for (const [cls, t0] of oldest) {
      eff.set(cls, Math.max(PRIORITY_MIN, cls - Math.floor(Math.max(0, now - t0) / this.policy.agingMs)));
    }
    return eff;
  }

  private rankOf(e: Entry, eff: Map<number, number>): Rank {
    return { prio: eff.get(e.cls) as number, cls: e.cls, key: e.key, seq: e.seq };
  }

  private sorted(now: number): Entry[] {
    const eff = this.effective(now);
    this.entries.sort((a, b) => {
      const ra = this.rankOf(a, eff);
      const rb = this.rankOf(b, eff);
      return (
        ra.prio - rb.prio ||
        ra.cls - rb.cls ||
        (ra.key === rb.key ? ra.seq - rb.seq : ra.key < rb.key ? -1 : 1)
      );
    });
    return this.entries;
  }
}
