/**
 * The kernel's statements on PGlite, prepared once and then run in one call into the WASM backend.
 * PGlite's `query()` parses, describes, binds, describes, executes and syncs as six separate calls into
 * WASM, and parses and plans the SQL again every time: ~220 µs of CPU for a small INSERT. Here a SQL text
 * is parsed once as a named statement (its parameter types described with it), and each run is one
 * message — Bind, Describe, Execute, Sync — answered in one call: ~45 µs. The same serialisers and
 * parsers as `query()`, the same errors (the DatabaseError PGlite throws). A statement whose cached plan
 * no longer fits the table (a migration changed a `RETURNING *` row) is parsed again; the least recently
 * used statements are closed beyond PGLITE_PREPARED_MAX.
 */
import { PGLITE_PREPARED_MAX } from '../../param.js';
import type { QueryResult } from '../driver.js';

type Message = { name: string } & Record<string, unknown>;

/** The parts of a PGlite instance this uses (structural: the driver's `PGlite`). */
export interface ProtocolBackend {
  execProtocol(
    message: Uint8Array,
    o?: { syncToFs?: boolean; throwOnError?: boolean },
  ): Promise<{ messages: Message[] }>;
  syncToFs(): Promise<void>;
  readonly serializers: Record<number | string, (x: unknown) => string>;
  readonly parsers: Record<number | string, (x: string, typeId?: number) => unknown>;
}

/** PGlite's exported `protocol.serialize` and `parse` (loaded with the package, passed in). */
export interface ProtocolModules {
  serialize: {
    parse(o: { name?: string; text: string; types?: number[] }): Uint8Array;
    describe(o: { type: 'S' | 'P'; name?: string }): Uint8Array;
    bind(o: { statement?: string; values?: Array<string | null> }): Uint8Array;
    execute(o?: { portal?: string; rows?: number }): Uint8Array;
    close(o: { type: 'S' | 'P'; name?: string }): Uint8Array;
    sync(): Uint8Array;
  };
  parse: {
    parseDescribeStatementResults(messages: never[]): number[];
    parseResults(
      messages: never[],
      parsers: Record<number | string, unknown>,
    ): Array<{ rows: unknown[]; affectedRows?: number }>;
  };
}

interface Prepared {
  name: string;
  types: number[];
}

const CACHED_PLAN_CHANGED = '0A000'; // "cached plan must not change result type"

export class Statements {
  /** SQL text → its statement; Map order is recency (a hit is moved to the end). */
  private readonly cache = new Map<string, Prepared>();
  private next = 0;

  constructor(
    private readonly db: ProtocolBackend,
    private readonly p: ProtocolModules,
    private readonly max = PGLITE_PREPARED_MAX,
  ) {}

  async run<R>(sql: string, params: readonly unknown[], inTx: boolean): Promise<QueryResult<R>> {
    try {
      return await this.once<R>(sql, params);
    } catch (err) {
      if ((err as { code?: string }).code !== CACHED_PLAN_CHANGED) throw err;
      await this.forget(sql); // parsed again next time; in a transaction the error already aborted it
      if (inTx) throw err;
      return await this.once<R>(sql, params);
    } finally {
      if (!inTx) await this.db.syncToFs();
    }
  }

  private async once<R>(sql: string, params: readonly unknown[]): Promise<QueryResult<R>> {
    const S = this.p.serialize;
    const st = await this.prepare(sql);
    const values = params.map((v, i) => {
      if (v === null || v === undefined) return null;
      const serialize = this.db.serializers[st.types[i]!];
      return serialize ? serialize(v) : String(v);
    });
    const { messages } = await this.db.execProtocol(
      concat([S.bind({ statement: st.name, values }), S.describe({ type: 'P' }), S.execute({}), S.sync()]),
      { syncToFs: false },
    );
    const res = this.p.parse.parseResults(messages as never[], this.db.parsers)[0] ?? { rows: [] };
    return { rows: res.rows as R[], rowCount: res.affectedRows ?? res.rows.length };
  }

  private async prepare(sql: string): Promise<Prepared> {
    const hit = this.cache.get(sql);
    if (hit) {
      this.cache.delete(sql);
      this.cache.set(sql, hit);
      return hit;
    }
    const S = this.p.serialize;
    const name = `aos_${(this.next++).toString(36)}`;
    const { messages } = await this.db.execProtocol(
      concat([S.parse({ name, text: sql }), S.describe({ type: 'S', name }), S.sync()]),
      { syncToFs: false },
    );
    const st = { name, types: this.p.parse.parseDescribeStatementResults(messages as never[]) };
    this.cache.set(sql, st);
    if (this.cache.size > this.max) await this.forget(this.cache.keys().next().value!);
    return st;
  }

  /** Closes a statement on the backend and forgets it (a failed close only leaves it to the session). */
  private async forget(sql: string): Promise<void> {
    const st = this.cache.get(sql);
    if (!st) return;
    this.cache.delete(sql);
    const S = this.p.serialize;
    await this.db
      .execProtocol(concat([S.close({ type: 'S', name: st.name }), S.sync()]), {
        syncToFs: false,
        throwOnError: false,
      })
      .catch(() => undefined);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
