/**
 * The exact vector arm of memory search where pgvector is missing (a PostgreSQL server without the
 * extension): each (owner, model)'s vectors held in process as one Float32Array, and top-k by a linear scan
 * in JS — ~100× faster than the SQL function over real[] (100k memories: 9.5 s in SQL). It is a cache of
 * the table, never the truth: every search first asks the database what changed since the copy was taken
 * (one statement: the rows with a newer `rev`, migration 015, and a fingerprint of the scope), so a
 * memory stored, replaced, re-embedded or deleted by this or any other node is seen by the next search.
 * A scope over the size limit is not cached; the caller searches it in SQL.
 */
import { MEM_EXACT_CACHE_FETCH_ROWS, MEM_EXACT_CACHE_MAX_FLOATS } from '../../param.js';
import type { StorageDriver } from '../driver.js';
import { num } from '../sql.js';

type Row = Record<string, unknown>;

export interface ExactHit {
  id: string;
  distance: number;
}

/** One (owner, model)'s vectors: slot i holds ids[i], its namespace, rev and vector (dim floats at i·dim). */
class Scope {
  ids: string[] = [];
  ns: string[] = [];
  revs: number[] = [];
  norms: number[] = [];
  vecs = new Float32Array(0);
  slotOf = new Map<string, number>();
  maxRev = 0;
  revSum = 0;
  dim = 0;
  used = 0; // last use, for eviction

  get size(): number {
    return this.ids.length;
  }

  put(id: string, ns: string, rev: number, v: Float32Array): void {
    if (this.dim === 0) this.dim = v.length;
    if (v.length !== this.dim) return; // another dimension cannot be compared; the SQL scan skips it too
    let slot = this.slotOf.get(id);
    if (slot === undefined) {
      slot = this.ids.length;
      this.ids.push(id);
      this.ns.push(ns);
      this.revs.push(rev);
      this.norms.push(0);
      this.slotOf.set(id, slot);
      if (this.vecs.length < this.ids.length * this.dim) {
        const grown = new Float32Array(Math.max(this.ids.length * this.dim, this.vecs.length * 2));
        grown.set(this.vecs);
        this.vecs = grown;
      }
    } else {
      this.revSum -= this.revs[slot]!;
      this.ns[slot] = ns;
      this.revs[slot] = rev;
    }
    this.revSum += rev;
    if (rev > this.maxRev) this.maxRev = rev;
    this.vecs.set(v, slot * this.dim);
    let n = 0;
    for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
    this.norms[slot] = Math.sqrt(n);
  }

  remove(id: string): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    const last = this.ids.length - 1;
    this.revSum -= this.revs[slot]!;
    if (slot !== last) {
      this.ids[slot] = this.ids[last]!;
      this.ns[slot] = this.ns[last]!;
      this.revs[slot] = this.revs[last]!;
      this.norms[slot] = this.norms[last]!;
      this.vecs.copyWithin(slot * this.dim, last * this.dim, (last + 1) * this.dim);
      this.slotOf.set(this.ids[slot]!, slot);
    }
    this.ids.pop();
    this.ns.pop();
    this.revs.pop();
    this.norms.pop();
    this.slotOf.delete(id);
  }

  /** The `n` nearest by cosine distance, ties by id (as the SQL arm orders them). */
  nearest(q: readonly number[], n: number, namespace?: string): ExactHit[] {
    const dim = this.dim;
    if (q.length !== dim) return [];
    let qn = 0;
    for (let i = 0; i < dim; i++) qn += q[i]! * q[i]!;
    qn = Math.sqrt(qn);
    const qf = Float32Array.from(q);
    const best: ExactHit[] = []; // ascending by (distance, id); at most n
    const v = this.vecs;
    for (let s = 0; s < this.ids.length; s++) {
      if (namespace !== undefined && this.ns[s] !== namespace) continue;
      const norm = this.norms[s]! * qn;
      let d = Number.POSITIVE_INFINITY; // a zero vector has no direction: last, as SQL's NULL sorts
      if (norm > 0) {
        let dot = 0;
        const at = s * dim;
        for (let i = 0; i < dim; i++) dot += v[at + i]! * qf[i]!;
        d = 1 - dot / norm;
      }
      if (best.length === n) {
        const worst = best[n - 1]!;
        if (d > worst.distance || (d === worst.distance && this.ids[s]! > worst.id)) continue;
      }
      const hit = { id: this.ids[s]!, distance: d };
      let i = best.length;
      while (
        i > 0 &&
        (best[i - 1]!.distance > d || (best[i - 1]!.distance === d && best[i - 1]!.id > hit.id))
      )
        i--;
      best.splice(i, 0, hit);
      if (best.length > n) best.pop();
    }
    return best;
  }
}

export class ExactVectorCache {
  private readonly scopes = new Map<string, Scope>();
  private clock = 0;

  constructor(
    private readonly driver: StorageDriver,
    private readonly maxFloats = MEM_EXACT_CACHE_MAX_FLOATS,
  ) {}

  /**
   * The `n` nearest memories of `owner` made by `model` (optionally one namespace), brought up to date with
   * the table first; null when the scope is too large to hold (search it in SQL).
   */
  async nearest(
    owner: string,
    model: string,
    q: readonly number[],
    n: number,
    namespace?: string,
  ): Promise<ExactHit[] | null> {
    const key = `${owner}\u0000${model}`;
    let scope = this.scopes.get(key);
    if (!scope) {
      scope = new Scope();
      this.scopes.set(key, scope);
    }
    scope.used = ++this.clock;
    const ok = await this.sync(scope, owner, model, q.length);
    if (!ok) {
      this.scopes.delete(key);
      return null;
    }
    this.evict(key);
    return scope.nearest(q, n, namespace);
  }

  /** Forgets every cached scope (tests; a store that knows the table was rewritten). */
  clear(): void {
    this.scopes.clear();
  }

  /**
   * Applies the rows changed since the copy (rev > maxRev) and compares the scope's fingerprint (count and
   * sum of revs: a rev is never reused, every update draws a new one) with the table's. A mismatch means
   * rows left the scope (deleted, moved to another owner or model) or a row with an older rev committed
   * late: then the list of (id, rev) is read again and the copy made to match it.
   */
  private async sync(scope: Scope, owner: string, model: string, dim: number): Promise<boolean> {
    for (;;) {
      const { rows } = await this.driver.query<Row>(
        `SELECT NULL AS id, NULL AS ns, NULL AS e, count(*) AS rev, coalesce(sum(rev), 0) AS s
           FROM memories WHERE owner = $1 AND embedding_model = $2
         UNION ALL
         (SELECT id, namespace, embedding::text, rev, NULL FROM memories
           WHERE owner = $1 AND embedding_model = $2 AND rev > $3 ORDER BY rev LIMIT $4)`,
        [owner, model, scope.maxRev, MEM_EXACT_CACHE_FETCH_ROWS],
      );
      const head = rows.find((r) => r.id === null)!;
      const count = num(head.rev);
      if (count * dim > this.maxFloats) return false;
      const changed = rows.filter((r) => r.id !== null);
      for (const r of changed) scope.put(String(r.id), String(r.ns), num(r.rev), parseFloats(r.e));
      if (changed.length === MEM_EXACT_CACHE_FETCH_ROWS) continue; // more to fetch
      if (scope.size === count && scope.revSum === num(head.s)) return true;
      await this.resync(scope, owner, model);
      return true;
    }
  }

  private async resync(scope: Scope, owner: string, model: string): Promise<void> {
    const { rows } = await this.driver.query<Row>(
      'SELECT id, rev FROM memories WHERE owner = $1 AND embedding_model = $2',
      [owner, model],
    );
    const live = new Map(rows.map((r) => [String(r.id), num(r.rev)]));
    for (const id of [...scope.ids]) {
      const slot = scope.slotOf.get(id)!;
      if (live.get(id) !== scope.revs[slot]) scope.remove(id);
    }
    const missing = [...live.keys()].filter((id) => !scope.slotOf.has(id));
    for (let at = 0; at < missing.length; at += MEM_EXACT_CACHE_FETCH_ROWS) {
      const { rows: got } = await this.driver.query<Row>(
        `SELECT id, namespace AS ns, embedding::text AS e, rev FROM memories
         WHERE owner = $1 AND embedding_model = $2 AND id = ANY($3::text[])`,
        [owner, model, missing.slice(at, at + MEM_EXACT_CACHE_FETCH_ROWS)],
      );
      for (const r of got) scope.put(String(r.id), String(r.ns), num(r.rev), parseFloats(r.e));
    }
    for (const r of scope.revs) if (r > scope.maxRev) scope.maxRev = r;
  }

  /** Drops the least recently used scopes (never `keep`) until the floats held fit the limit. */
  private evict(keep: string): void {
    let total = 0;
    for (const s of this.scopes.values()) total += s.size * s.dim;
    if (total <= this.maxFloats) return;
    const order = [...this.scopes.entries()]
      .filter(([k]) => k !== keep)
      .sort((a, b) => a[1].used - b[1].used);
    for (const [k, s] of order) {
      if (total <= this.maxFloats) break;
      total -= s.size * s.dim;
      this.scopes.delete(k);
    }
  }
}

/** `{0.1,-0.2,…}` (real[]) or `[0.1,…]` (pgvector) text into floats. */
function parseFloats(v: unknown): Float32Array {
  const s = String(v);
  const out = new Float32Array(s.length < 3 ? 0 : countCommas(s) + 1);
  let i = 0;
  let start = 1;
  for (let p = 1; p < s.length; p++) {
    const c = s.charCodeAt(p);
    if (c === 44 || p === s.length - 1) {
      out[i++] = Number(s.slice(start, p));
      start = p + 1;
    }
  }
  return out;
}

function countCommas(s: string): number {
  let n = 0;
  for (let p = 0; p < s.length; p++) if (s.charCodeAt(p) === 44) n++;
  return n;
}
