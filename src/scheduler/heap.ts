/**
 * An indexed binary min-heap: push, pop, peek and remove-by-node in O(log n). Each node remembers its
 * position in a field the heap owns (named at construction), so one node can sit in several heaps at once
 * (the fair policy keeps every ready entity in a by-vruntime heap and a by-arrival heap).
 */

export class IndexedHeap<T extends object> {
  private readonly items: T[] = [];

  /**
   * @param less strict ordering: true when `a` must come out before `b`
   * @param posKey the field of T where this heap stores the node's index (-1 when not in the heap)
   */
  constructor(
    private readonly less: (a: T, b: T) => boolean,
    private readonly posKey: keyof T,
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  has(node: T): boolean {
    const i = this.pos(node);
    return i >= 0 && this.items[i] === node;
  }

  push(node: T): void {
    this.items.push(node);
    this.setPos(node, this.items.length - 1);
    this.up(this.items.length - 1);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Removes `node` if it is in this heap; returns whether it was. */
  remove(node: T): boolean {
    if (!this.has(node)) return false;
    this.removeAt(this.pos(node));
    return true;
  }

  /** Re-establishes order after the caller changed `node`'s sort key in place. */
  update(node: T): void {
    const i = this.pos(node);
    if (!this.up(i)) this.down(i);
  }

  *[Symbol.iterator](): IterableIterator<T> {
    yield* this.items;
  }

  private removeAt(i: number): void {
    const items = this.items;
    const gone = items[i] as T;
    const last = items.pop() as T;
    this.setPos(gone, -1);
    if (i < items.length) {
      items[i] = last;
      this.setPos(last, i);
      if (!this.up(i)) this.down(i);
    }
  }

  private up(i: number): boolean {
    const items = this.items;
    const node = items[i] as T;
    const start = i;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as T;
      if (!this.less(node, parent)) break;
      items[i] = parent;
      this.setPos(parent, i);
      i = p;
    }
    items[i] = node;
    this.setPos(node, i);
    return i !== start;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const node = items[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.less(items[r] as T, items[l] as T)) c = r;
      const child = items[c] as T;
      if (!this.less(child, node)) break;
      items[i] = child;
      this.setPos(child, i);
      i = c;
    }
    items[i] = node;
    this.setPos(node, i);
  }

  private pos(node: T): number {
    return node[this.posKey] as unknown as number;
  }

  private setPos(node: T, i: number): void {
    (node as Record<keyof T, unknown>)[this.posKey] = i;
  }
}
