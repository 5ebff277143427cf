/**
 * The audit role: an append-only log with one SHA-256 hash chain per stream.
 *   hash = sha256(prev_hash + canonicalJson({ stream, seq, ts, kind, actor, payload }))
 * Appends to one stream are serialised by a transaction-scoped advisory lock on the stream, so concurrent
 * writers (threads or nodes) never fork a chain. Payloads are redact()ed before they are hashed or stored.
 * Triggers refuse UPDATE/DELETE/TRUNCATE; verify() catches what someone does after disabling them.
 */
import { KernelError } from '../../errors.js';
import { canonicalJson, sha256Hex } from '../../util/canonical.js';
import { redact } from '../../util/redact.js';
import type { Queryable, StorageDriver } from '../driver.js';
import { inTx, num } from '../sql.js';

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
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstBad?: { id: number; stream: string; seq: number; reason: string };
}

/** prev_hash of the first entry of every stream. */
export const GENESIS_HASH = '';

/** Advisory-lock class for audit streams (the second key is hashtext(stream)). */
const AUDIT_LOCK_CLASS = 0x41554454; // "AUDT"

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

export class AuditLog {
  constructor(private readonly driver: StorageDriver) {}

  /** Appends one entry; pass tx to make it part of the caller's transaction (e.g. a syscall's step). */
  async append(entry: AuditEntryInput, tx?: Queryable): Promise<AuditEntry> {
    if (!entry.stream || !entry.kind || !entry.actor) {
      throw new KernelError('EINVAL', 'audit append needs stream, kind and actor (non-empty strings)', {
        details: { stream: entry.stream, kind: entry.kind, actor: entry.actor },
      });
    }
    // Redact, then round-trip through JSON so what we hash is exactly what jsonb gives back.
    const payload = JSON.parse(JSON.stringify(redact(entry.payload ?? null)) ?? 'null') as unknown;
    return inTx(this.driver, tx, async (q) => {
      await q.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [AUDIT_LOCK_CLASS, entry.stream]);
      const { rows } = await q.query<Row>(
        'SELECT seq, hash FROM audit_log WHERE stream = $1 ORDER BY seq DESC LIMIT 1',
        [entry.stream],
      );
      const seq = rows[0] ? num(rows[0].seq) + 1 : 1;
      const prevHash = rows[0] ? String(rows[0].hash) : GENESIS_HASH;
      const ts = new Date(); // millisecond precision survives timestamptz exactly
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
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) RETURNING id`,
        [entry.stream, seq, ts, entry.kind, entry.actor, JSON.stringify(payload), prevHash, hash],
      );
      return {
        id: num(ins.rows[0]!.id),
        stream: entry.stream,
        seq,
        ts,
        kind: entry.kind,
        actor: entry.actor,
        payload,
        prevHash,
        hash,
      };
    });
  }

  async list(opts: { stream?: string; after?: number; limit?: number } = {}): Promise<AuditEntry[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT * FROM audit_log WHERE ($1::text IS NULL OR stream = $1) AND id > $2 ORDER BY id LIMIT $3`,
      [opts.stream ?? null, opts.after ?? 0, opts.limit ?? 1000],
    );
    return rows.map(toEntry);
  }

  /** Latest (seq, hash) per stream: what a signed anchor commits to. */
  async heads(): Promise<AuditHead[]> {
    const { rows } = await this.driver.query<Row>(
      'SELECT DISTINCT ON (stream) stream, seq, hash FROM audit_log ORDER BY stream, seq DESC',
    );
    return rows.map((r) => ({ stream: String(r.stream), seq: num(r.seq), hash: String(r.hash) }));
  }

  /**
   * Walks every chain (or one stream) in (stream, seq) order and recomputes it. Finds edited rows (hash
   * mismatch), deleted rows (seq gap), and reordered or spliced rows (prev_hash does not link, or ids out of
   * order). Deleting the newest rows of a stream is only detectable against a signed anchor of heads().
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
      if (rows.length < batch) return { ok: true, checked };
      cursor = { stream: prev!.stream, seq: prev!.seq };
    }
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
