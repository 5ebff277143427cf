/**
 * The audit role: an append-only log with one SHA-256 hash chain per stream.
 *   hash = sha256(prev_hash + canonicalJson({ stream, seq, ts, kind, actor, payload }))
 * Appends to one stream are serialised by a transaction-scoped advisory lock on the stream, so concurrent
 * writers (threads or nodes) never fork a chain. Payloads are redact()ed before they are hashed or stored.
 * Triggers refuse UPDATE/DELETE/TRUNCATE; verify() catches what someone does after disabling them.
 * Any payload is storable (auditPayload): NUL and lone surrogates are kept as escape text, a long string
 * becomes hash + size + preview, depth and width are bounded — an entry is never lost to its content.
 * The newest rows of a stream are not covered by the chain: verify() also checks every head this process
 * appended (and signed anchors, ../../security/anchors.ts, those of earlier runs).
 */
import { KernelError, panic } from '../../errors.js';
import * as P from '../../param.js';
import { canonicalJson, sha256Hex } from '../../util/canonical.js';
import { fieldMark, redactString, secretField } from '../../util/redact.js';
import { storableString } from '../../util/storable.js';
import type { Queryable, StorageDriver } from '../driver.js';
import { inTx, num } from '../sql.js';
import type { ChainedAuditRows } from '../state/types.js';

export interface AuditEntryInput {
  stream: string;
  kind: string;
  actor: string;
  payload?: unknown;
}

/** Anything that appends audit entries (the AuditLog, or a wrapper that names the caller). */
export interface AuditSink {
  append(entry: { stream: string; kind: string; actor: string; payload: unknown }): Promise<unknown>;
}

export interface AuditEntry {
  id: number;
  stream: string;
  seq: number;
  ts: Date;
  kind: string;
  actor: string;
  payload: unknown;
  prevHash: string;
  hash: string;
}

export interface AuditHead {
  stream: string;
  seq: number;
  hash: string;
  /** Rows in the stream (= seq when none was deleted); anchors sign it too. */
  n?: number;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstBad?: { id: number; stream: string; seq: number; reason: string };
}

/** prev_hash of the first entry of every stream. */
export const GENESIS_HASH = '';

export function auditHash(
  prevHash: string,
  e: { stream: string; seq: number; ts: Date | string; kind: string; actor: string; payload: unknown },
): string {
  const ts = e.ts instanceof Date ? e.ts.toISOString() : new Date(e.ts).toISOString();
  return sha256Hex(
    prevHash +
      canonicalJson({ stream: e.stream, seq: e.seq, ts, kind: e.kind, actor: e.actor, payload: e.payload }),
  );
}

type Row = Record<string, unknown>;

/** Per driver and stream, the tail of the appends made outside a transaction (see append). */
const tails = new WeakMap<object, Map<string, Promise<unknown>>>();

function serial<T>(driver: object, stream: string, fn: () => Promise<T>): Promise<T> {
  let m = tails.get(driver);
  if (!m) {
    m = new Map();
    tails.set(driver, m);
  }
  const run = (m.get(stream) ?? Promise.resolve()).then(fn, fn);
  const tail = run.catch(() => undefined);
  m.set(stream, tail);
  void tail.then(() => {
    if (m.get(stream) === tail) m.delete(stream);
  });
  return run;
}

/** `hash + size + preview` of a value too large to keep whole in a chain row. */
function digest(text: string): string {
  const bytes = Buffer.byteLength(text);
  return `${storableString(text.slice(0, P.AUDIT_PREVIEW_CHARS))}… [aos:truncated ${bytes} bytes, sha256 ${sha256Hex(text)}]`;
}

/**
 * What an audit row stores of a payload: redacted, then made storable and bounded. Strings longer than
 * AUDIT_STRING_MAX_CHARS keep a preview with the whole value's sha256 and byte size; arrays and objects
 * keep AUDIT_ARRAY_MAX entries; nesting stops at AUDIT_DEPTH_MAX; the result round-trips through jsonb.
 */
export function auditPayload(payload: unknown): unknown {
  // One walk that redacts (util/redact.ts: secret strings masked, secret-named fields replaced) and
  // bounds at once — what bounding redact(payload)'s copy gave, without copying the payload twice.
  const str = (s: string): string => (s.length > P.AUDIT_STRING_MAX_CHARS ? digest(s) : storableString(s));
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return str(redactString(v));
    if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return v === undefined ? null : v;
    if (depth >= P.AUDIT_DEPTH_MAX) return `[aos:nested deeper than ${P.AUDIT_DEPTH_MAX} levels]`;
    if (Array.isArray(v)) {
      const out = v.slice(0, P.AUDIT_ARRAY_MAX).map((x) => walk(x, depth + 1));
      if (v.length > P.AUDIT_ARRAY_MAX) out.push(`[aos:${v.length - P.AUDIT_ARRAY_MAX} more items]`);
      return out;
    }
    // Any other object (a Date, a Map, a class instance) as redact copies it: its own enumerable members.
    const out: Record<string, unknown> = {};
    const keys = Object.keys(v as object);
    for (const k of keys.slice(0, P.AUDIT_ARRAY_MAX)) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined) continue;
      const key = storableString(k.length > 256 ? digest(k) : k);
      out[key] = secretField(k, x) ? str(fieldMark(k, x)) : walk(x, depth + 1);
    }
    if (keys.length > P.AUDIT_ARRAY_MAX) out['aos:more_keys'] = keys.length - P.AUDIT_ARRAY_MAX;
    return out;
  };
  const bounded = walk(payload ?? null, 0);
  const text = JSON.stringify(bounded) ?? 'null';
  // Redact, then round-trip through JSON so what we hash is exactly what jsonb gives back.
  return Buffer.byteLength(text) > P.AUDIT_PAYLOAD_MAX_BYTES
    ? { 'aos:payload': digest(text) }
    : JSON.parse(text);
}

export class AuditLog {
  constructor(private readonly driver: StorageDriver) {}

  /**
   * Heads this process appended and saw committed: what verify() compares the database with, so deleting
   * the newest rows is seen before any anchor covers them.
   */
  private readonly written = new Map<string, { seq: number; hash: string }>();
  /** Head of each stream as this log last appended it (maybe uncommitted, maybe rolled back): a guess only. */
  private readonly guess = new Map<string, { seq: number; hash: string }>();

  /** Appends one entry; pass tx to make it part of the caller's transaction (e.g. a syscall's step). */
  async append(input: AuditEntryInput, tx?: Queryable): Promise<AuditEntry> {
    if (!input.stream || !input.kind || !input.actor) {
      throw new KernelError('EINVAL', 'audit append needs stream, kind and actor (non-empty strings)', {
        details: { stream: input.stream, kind: input.kind, actor: input.actor },
      });
    }
    const entry = {
      stream: storableString(input.stream),
      kind: storableString(input.kind),
      actor: storableString(input.actor),
    };
    const payload = auditPayload(input.payload);
    // On one connection (PGlite) the append needs no transaction of its own: its insert is one statement
    // that checks the head it extends (BEGIN and COMMIT were two of its three round trips). Appends to one
    // stream queue behind each other in this process, so only a transaction that appended in between can
    // make the insert miss; then the head is read again. Pools and nodes lock the stream in a transaction.
    const single = !tx && !this.driver.capabilities.multipleConnections;
    const body = async (q: Queryable) => {
      // One connection (PGlite) serialises every transaction already: the lock is for pools and nodes.
      if (this.driver.capabilities.multipleConnections)
        await q.query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || ':' || $2))", [
          P.AUDIT_LOCK_CLASS,
          entry.stream,
        ]);
      const ts = new Date(); // millisecond precision survives timestamptz exactly
      // The head this log last wrote is a guess that saves reading it: the insert only happens when that
      // row is still the stream's head (a rolled-back or foreign append makes it miss, and we read the head).
      let head = this.guess.get(entry.stream) ?? null;
      for (let attempt = 0; ; attempt++) {
        if (!head) {
          const { rows } = await q.query<Row>(
            'SELECT seq, hash FROM audit_log WHERE stream = $1 ORDER BY seq DESC LIMIT 1',
            [entry.stream],
          );
          head = rows[0]
            ? { seq: num(rows[0].seq), hash: String(rows[0].hash) }
            : { seq: 0, hash: GENESIS_HASH };
        }
        const seq = head.seq + 1;
        const prevHash = head.hash;
        const hash = auditHash(prevHash, {
          stream: entry.stream,
          seq,
          ts,
          kind: entry.kind,
          actor: entry.actor,
          payload,
        });
        const ins = await q.query<Row>(
          `INSERT INTO audit_log (stream, seq, ts, kind, actor, payload, prev_hash, hash)
           SELECT $1, $2::bigint, $3, $4, $5, $6::jsonb, $7, $8
           WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE stream = $1 AND seq >= $2::bigint)
             AND ($2::bigint = 1 OR EXISTS (SELECT 1 FROM audit_log WHERE stream = $1 AND seq = $2::bigint - 1 AND hash = $7))
           ON CONFLICT (stream, seq) DO NOTHING RETURNING id`,
          [entry.stream, seq, ts, entry.kind, entry.actor, JSON.stringify(payload), prevHash, hash],
        );
        if (ins.rows[0]) {
          if (this.guess.size >= P.AUDIT_HEAD_CACHE_MAX) this.guess.clear();
          this.guess.set(entry.stream, { seq, hash });
          return {
            id: num(ins.rows[0].id),
            stream: entry.stream,
            seq,
            ts,
            kind: entry.kind,
            actor: entry.actor,
            payload,
            prevHash,
            hash,
          };
        }
        // Under the lock (or in a transaction on the single connection) a head just read cannot be stale;
        // outside one, another append may have landed in between: read again. A step commit's one statement
        // (../state/state-store.ts commitStepChained) appends without the lock: its row, committed while
        // this insert waited on the key, makes this one miss once, and the head is read again.
        if (attempt > P.AUDIT_APPEND_RETRIES)
          panic(`audit append to ${entry.stream}: the head just read is not the head`);
        this.guess.delete(entry.stream);
        head = null;
      }
    };
    const e = single
      ? await serial(this.driver, entry.stream, () => body(this.driver))
      : await inTx(this.driver, tx, body);
    const note = () => {
      const cur = this.written.get(e.stream);
      if (!cur || e.seq > cur.seq) this.written.set(e.stream, { seq: e.seq, hash: e.hash });
    };
    if (!tx) note();
    else tx.afterCommit?.(note);
    return e;
  }

  /**
   * Entries for one stream, hashed onto the head this log last wrote, for a caller that writes them inside
   * its own single statement (the step commit, ../state/state-store.ts commitStepChained) which checks the
   * head first. null when this log knows no head for the stream (append the usual way). After the
   * statement: `committed()` when it wrote them, `missed()` when the head had moved.
   */
  chain(
    stream: string,
    entries: { kind: string; actor: string; payload: unknown }[],
  ): { rows: ChainedAuditRows; committed(): void; missed(): void } | null {
    const s = storableString(stream);
    const head = this.guess.get(s);
    if (!head) return null;
    const ts = new Date();
    let cur = head;
    const rows = entries.map((x) => {
      const kind = storableString(x.kind);
      const actor = storableString(x.actor);
      const payload = auditPayload(x.payload);
      const seq = cur.seq + 1;
      const hash = auditHash(cur.hash, { stream: s, seq, ts, kind, actor, payload });
      const row = { stream: s, seq, ts: ts.toISOString(), kind, actor, payload, prev_hash: cur.hash, hash };
      cur = { seq, hash };
      return row;
    });
    const tail = cur;
    return {
      rows: { stream: s, head: { ...head }, rowsJson: JSON.stringify(rows) },
      committed: () => {
        if (!rows.length) return;
        this.guess.set(s, tail);
        const w = this.written.get(s);
        if (!w || tail.seq > w.seq) this.written.set(s, tail);
      },
      missed: () => {
        this.guess.delete(s);
      },
    };
  }

  /**
   * A stream that should be empty (a process just created: its pid is new): its head is guessed to be the
   * genesis, so the process's first step commits in one statement without reading the head. Only a guess
   * like any other: an append or a chained commit that finds rows there reads the head and goes on.
   */
  expectEmpty(stream: string): void {
    const s = storableString(stream);
    if (this.guess.has(s)) return;
    if (this.guess.size >= P.AUDIT_HEAD_CACHE_MAX) this.guess.clear();
    this.guess.set(s, { seq: 0, hash: GENESIS_HASH });
  }

  /** Heads this process is known to have committed (see `written`). */
  writtenHeads(): AuditHead[] {
    return [...this.written].map(([stream, h]) => ({ stream, ...h }));
  }

  async list(opts: { stream?: string; after?: number; limit?: number } = {}): Promise<AuditEntry[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT * FROM audit_log WHERE ($1::text IS NULL OR stream = $1) AND id > $2 ORDER BY id LIMIT $3`,
      [opts.stream ?? null, opts.after ?? 0, opts.limit ?? 1000],
    );
    return rows.map(toEntry);
  }

  /** Latest (seq, hash) and row count per stream: what a signed anchor commits to. */
  async heads(): Promise<AuditHead[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT DISTINCT ON (stream) stream, seq, hash, count(*) OVER (PARTITION BY stream) AS n
       FROM audit_log ORDER BY stream, seq DESC`,
    );
    return rows.map((r) => ({
      stream: String(r.stream),
      seq: num(r.seq),
      hash: String(r.hash),
      n: num(r.n),
    }));
  }

  /**
   * Walks every chain (or one stream) in (stream, seq) order and recomputes it. Finds edited rows (hash
   * mismatch), deleted rows (seq gap), and reordered or spliced rows (prev_hash does not link, or ids out of
   * order), and rows deleted from the end of a stream this process appended to (its written heads).
   * Rows deleted from the end before this process started are found against signed anchors.
   */
  async verify(opts: { stream?: string; batch?: number } = {}): Promise<VerifyResult> {
    const batch = opts.batch ?? 2000;
    let checked = 0;
    let cursor: { stream: string; seq: number } | null = null;
    let prev: { stream: string; seq: number; hash: string; id: number } | null = null;
    for (;;) {
      const { rows }: { rows: Row[] } = await this.driver.query<Row>(
        `SELECT * FROM audit_log
         WHERE ($1::text IS NULL OR stream = $1) AND ($2::text IS NULL OR (stream, seq) > ($2::text, $3::bigint))
         ORDER BY stream, seq LIMIT $4`,
        [opts.stream ?? null, cursor?.stream ?? null, cursor?.seq ?? 0, batch],
      );
      for (const r of rows) {
        const e = toEntry(r);
        const bad = (reason: string): VerifyResult => ({
          ok: false,
          checked,
          firstBad: { id: e.id, stream: e.stream, seq: e.seq, reason },
        });
        const first: boolean = prev === null || prev.stream !== e.stream;
        const expectSeq: number = first ? 1 : prev!.seq + 1;
        if (e.seq !== expectSeq) {
          return bad(
            e.seq > expectSeq
              ? `seq gap: expected seq ${expectSeq}, found ${e.seq} (row(s) deleted)`
              : `seq ${e.seq} repeats or goes backwards (rows reordered)`,
          );
        }
        const expectPrev = first ? GENESIS_HASH : prev!.hash;
        if (e.prevHash !== expectPrev)
          return bad('prev_hash does not link to the previous row (rows reordered or spliced)');
        if (!first && e.id <= prev!.id)
          return bad(`id ${e.id} is not after id ${prev!.id} of seq ${prev!.seq} (rows reordered)`);
        if (auditHash(e.prevHash, e) !== e.hash)
          return bad('hash mismatch: the row was edited after it was written');
        checked++;
        prev = { stream: e.stream, seq: e.seq, hash: e.hash, id: e.id };
      }
      if (rows.length < batch) return this.checkWritten(opts.stream, checked);
      cursor = { stream: prev!.stream, seq: prev!.seq };
    }
  }

  private async checkWritten(stream: string | undefined, checked: number): Promise<VerifyResult> {
    for (const h of this.writtenHeads()) {
      if (stream !== undefined && h.stream !== stream) continue;
      const { rows } = await this.driver.query<Row>(
        'SELECT id, hash FROM audit_log WHERE stream = $1 AND seq = $2',
        [h.stream, h.seq],
      );
      const row = rows[0];
      if (!row || String(row.hash) !== h.hash)
        return {
          ok: false,
          checked,
          firstBad: {
            id: row ? num(row.id) : 0,
            stream: h.stream,
            seq: h.seq,
            reason: row
              ? 'the row this kernel wrote at this seq was replaced (the chain was rewritten)'
              : 'a row this kernel wrote is missing (rows deleted from the end of the stream)',
          },
        };
    }
    return { ok: true, checked };
  }
}

function toEntry(r: Row): AuditEntry {
  return {
    id: num(r.id),
    stream: String(r.stream),
    seq: num(r.seq),
    ts: r.ts instanceof Date ? r.ts : new Date(String(r.ts)),
    kind: String(r.kind),
    actor: String(r.actor),
    payload: r.payload,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}
