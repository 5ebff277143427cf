/**
 * Priority inheritance: who waits on whom. When a process waits on a less urgent one (proc.wait on a
 * child, a lock, a reply), the holder runs at the waiter's priority until the wait ends — transitively,
 * so in A(10) → B(50) → C(90) C runs at 10. A wait that would close a cycle is refused: it can never end.
 */
import { KernelError } from '../errors.js';
import type { Pid } from './policy.js';

export class WaitGraph {
  private readonly holdersOf = new Map<Pid, Set<Pid>>(); // waiter → what it waits on
  private readonly waitersOf = new Map<Pid, Set<Pid>>(); // holder → who waits on it

  add(waiter: Pid, holder: Pid): void {
    if (waiter === holder || this.reaches(holder, waiter)) {
      throw new KernelError(
        'ESTATE',
        `pid ${waiter} waiting on pid ${holder} would deadlock: ${holder} already waits on ${waiter}`,
        {
          details: { waiter, holder },
        },
      );
    }
    link(this.holdersOf, waiter, holder);
    link(this.waitersOf, holder, waiter);
  }

  /** Ends `waiter`'s wait on `holder` (or on everything when holder is omitted); returns the former holders. */
  remove(waiter: Pid, holder?: Pid): Pid[] {
    const holders = holder === undefined ? [...(this.holdersOf.get(waiter) ?? [])] : [holder];
    for (const h of holders) {
      unlink(this.holdersOf, waiter, h);
      unlink(this.waitersOf, h, waiter);
    }
    return holders;
  }

  /** Drops every edge touching `pid` (it exited); returns the pids whose inherited priority may change. */
  drop(pid: Pid): Pid[] {
    const affected = this.remove(pid);
    for (const w of [...(this.waitersOf.get(pid) ?? [])]) this.remove(w, pid);
    return affected;
  }

  /** `pid` and everything it waits on, transitively: whose inherited priority depends on pid's. */
  downstream(pid: Pid): Pid[] {
    const seen = new Set<Pid>([pid]);
    const stack = [pid];
    while (stack.length) {
      const p = stack.pop() as Pid;
      for (const h of this.holdersOf.get(p) ?? []) {
        if (!seen.has(h)) {
          seen.add(h);
          stack.push(h);
        }
      }
    }
    return [...seen];
  }

  /** min(base(pid), priority of every transitive waiter). `base` returns undefined for unknown pids. */
  inherited(pid: Pid, base: (p: Pid) => number | undefined): number {
    const own = base(pid) ?? Number.POSITIVE_INFINITY;
    let best = own;
    const seen = new Set<Pid>([pid]);
    const stack = [pid];
    while (stack.length) {
      const p = stack.pop() as Pid;
      for (const w of this.waitersOf.get(p) ?? []) {
        if (seen.has(w)) continue;
        seen.add(w);
        best = Math.min(best, base(w) ?? Number.POSITIVE_INFINITY);
        stack.push(w);
      }
    }
    return best;
  }

  waitsOn(waiter: Pid): Pid[] {
    return [...(this.holdersOf.get(waiter) ?? [])];
  }

  private reaches(from: Pid, to: Pid): boolean {
    return this.downstream(from).includes(to);
  }
}

function link(m: Map<Pid, Set<Pid>>, k: Pid, v: Pid): void {
  let s = m.get(k);
  if (!s) {
    s = new Set();
    m.set(k, s);
  }
  s.add(v);
}

function unlink(m: Map<Pid, Set<Pid>>, k: Pid, v: Pid): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}
