import { describe, expect, it } from 'vitest';
import { mulberry32 as rng } from '../util/random.js';
import { IndexedHeap } from './heap.js';

interface N {
  v: number;
  id: number;
  pos: number;
}

describe('IndexedHeap', () => {
  it('matches a sorted reference under random push / pop / remove / update', () => {
    const r = rng(7);
    const less = (a: N, b: N) => (a.v !== b.v ? a.v < b.v : a.id < b.id);
    const heap = new IndexedHeap<N>(less, 'pos');
    const live = new Set<N>();
    let id = 0;
    for (let i = 0; i < 20_000; i++) {
      const op = r();
      if (op < 0.45 || live.size === 0) {
        const n = { v: Math.floor(r() * 1000), id: id++, pos: -1 };
        heap.push(n);
        live.add(n);
      } else if (op < 0.7) {
        const expected = [...live].sort((a, b) => (less(a, b) ? -1 : 1))[0];
        const got = heap.pop();
        expect(got).toBe(expected);
        live.delete(got as N);
        expect(got?.pos).toBe(-1);
      } else if (op < 0.85) {
        const victim = [...live][Math.floor(r() * live.size)] as N;
        expect(heap.remove(victim)).toBe(true);
        expect(heap.remove(victim)).toBe(false);
        live.delete(victim);
      } else {
        const n = [...live][Math.floor(r() * live.size)] as N;
        n.v = Math.floor(r() * 1000);
        heap.update(n);
      }
      expect(heap.size).toBe(live.size);
    }
    const drained: N[] = [];
    for (let n = heap.pop(); n; n = heap.pop()) drained.push(n);
    const sorted = [...live].sort((a, b) => (less(a, b) ? -1 : 1));
    expect(drained).toEqual(sorted);
  });

  it('lets one node sit in two heaps', () => {
    interface M {
      a: number;
      b: number;
      pa: number;
      pb: number;
    }
    const ha = new IndexedHeap<M>((x, y) => x.a < y.a, 'pa');
    const hb = new IndexedHeap<M>((x, y) => x.b < y.b, 'pb');
    const nodes = [1, 2, 3].map((i) => ({ a: i, b: -i, pa: -1, pb: -1 }));
    for (const n of nodes) {
      ha.push(n);
      hb.push(n);
    }
    expect(ha.peek()?.a).toBe(1);
    expect(hb.peek()?.a).toBe(3);
    ha.remove(nodes[2] as M);
    expect(hb.has(nodes[2] as M)).toBe(true);
    expect(ha.size).toBe(2);
  });
});
