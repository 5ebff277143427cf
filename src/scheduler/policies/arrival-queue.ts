/**
 * Arrival-order run queue shared by the baseline policies (FIFO, round-robin): priority and weights are
 * ignored; a process re-queued with slice left (`continuing`) goes to the front, everyone else to the back.
 */
import { IndexedHeap } from '../heap.js';
import type { Pid, Rank, RunQueue, SchedRecord } from '../policy.js';

interface Node {
  rec: SchedRecord;
  key: number;
  seq: number;
  pos: number;
}

const less = (a: Node, b: Node): boolean => (a.key !== b.key ? a.key < b.key : a.seq < b.seq);

export class ArrivalQueue implements RunQueue {
  private readonly heap = new IndexedHeap<Node>(less, 'pos');
  private readonly nodes = new Map<Pid, Node>();

  constructor(private readonly nextSeq: () => number) {}

  get size(): number {
    return this.nodes.size;
  }

  push(rec: SchedRecord, _now: number): void {
    const node: Node = { rec, key: rec.continuing ? 0 : 1, seq: this.nextSeq(), pos: -1 };
    this.heap.push(node);
    this.nodes.set(rec.pid, node);
  }

  remove(pid: Pid): boolean {
    const node = this.nodes.get(pid);
    if (!node) return false;
    this.heap.remove(node);
    this.nodes.delete(pid);
    return true;
  }

  peek(_now: number): { rec: SchedRecord; rank: Rank } | undefined {
    const n = this.heap.peek();
    return n && { rec: n.rec, rank: { prio: 0, cls: 0, key: n.key, seq: n.seq } };
  }

  pop(_now: number): SchedRecord | undefined {
    const n = this.heap.pop();
    if (n) this.nodes.delete(n.rec.pid);
    return n?.rec;
  }

  bestPrio(_now: number): number | undefined {
    return this.heap.size > 0 ? 0 : undefined;
  }

  nextAgingAt(_now: number): number | undefined {
    return undefined; // no aging in arrival order
  }

  *records(): IterableIterator<SchedRecord> {
    for (const n of this.nodes.values()) yield n.rec;
  }
}
