/**
 * The coordination role: what lets several kernel nodes share one database.
 *   - named leases that expire on the DATABASE clock (now()), each acquisition bumping an epoch that
 *     writers present as a fencing token (assertEpoch inside their write transaction);
 *   - a work queue claimed with FOR UPDATE SKIP LOCKED (concurrent claimers never get the same item);
 *   - a mailbox table for IPC, written in the sender's transaction, with NOTIFY as a wake-up hint only.
 */

import { KernelError } from '../../errors.js';
import { LEASE_TTL_MS } from '../../param.js';
import { jsonbText } from '../../util/storable.js';
import type { Queryable, StorageDriver } from '../driver.js';
import { num } from '../sql.js';

/** NOTIFY channel used as a mailbox wake-up hint; the payload is the recipient. */
export const MAILBOX_CHANNEL = 'aos_mailbox';

export interface Lease {
  name: string;
  holder: string;
  epoch: number;
  expiresAt: Date;
}

export interface QueueItem {
  id: number;
  queue: string;
  payload: unknown;
  priority: number;
  attempts: number;
  claimedBy: string | null;
}

/** Mail between two parties, summed (the process tree's arrows). */
export interface MailEdge {
  from: string;
  to: string;
  count: number;
  pending: number;
}

/** A mailbox row as storage holds it (the receiving process sees `MailMessage` of src/abi.ts). */
export interface StoredMail {
  id: number;
  from: string;
  to: string;
  topic: string | null;
  body: unknown;
  createdAt: Date;
  /** When the recipient consumed it (null while undelivered). */
  deliveredAt: Date | null;
}

type Row = Record<string, unknown>;

export class Coordination {
  constructor(private readonly driver: StorageDriver) {}

  // ── leases ──

  /**
   * Takes the lease if it is free, expired, or already ours; returns the new epoch, or null when someone
   * else holds it. Every successful acquire bumps the epoch, fencing off any earlier incarnation.
   */
  async acquire(
    name: string,
    holder: string,
    ttlMs: number = LEASE_TTL_MS,
    tx?: Queryable,
  ): Promise<{ epoch: number } | null> {
    checkTtl(ttlMs);
    const { rows } = await (tx ?? this.driver).query<Row>(
      `INSERT INTO leases AS l (name, holder, epoch, expires_at)
       VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE
         SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at, acquired_at = now()
         WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder
       RETURNING epoch`,
      [name, holder, ttlMs],
    );
    return rows[0] ? { epoch: num(rows[0].epoch) } : null;
  }

  /** Extends a lease we still hold at this epoch; false when it expired or was taken over. */
  async renew(name: string, holder: string, epoch: number, ttlMs: number = LEASE_TTL_MS): Promise<boolean> {
    checkTtl(ttlMs);
    const r = await this.driver.query(
      `UPDATE leases SET expires_at = now() + $4 * interval '1 millisecond'
       WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()`,
      [name, holder, epoch, ttlMs],
    );
    return r.rowCount === 1;
  }

  /** Gives the lease up now (the epoch stays, so the next holder's epoch is still higher). */
  async release(name: string, holder: string, epoch: number): Promise<boolean> {
    const r = await this.driver.query(
      'UPDATE leases SET expires_at = now() WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()',
      [name, holder, epoch],
    );
    return r.rowCount === 1;
  }

  async getLease(name: string): Promise<(Lease & { live: boolean }) | null> {
    const { rows } = await this.driver.query<Row>(
      'SELECT name, holder, epoch, expires_at, expires_at > now() AS live FROM leases WHERE name = $1',
      [name],
    );
    const r = rows[0];
    return r
      ? {
          name: String(r.name),
          holder: String(r.holder),
          epoch: num(r.epoch),
          expiresAt: r.expires_at as Date,
          live: Boolean(r.live),
        }
      : null;
  }

  /**
   * The fencing check a writer runs inside its write transaction: the lease must still be live at this
   * epoch. FOR SHARE makes a concurrent takeover wait for the writer's commit, so a write either lands
   * before the takeover or is refused after it.
   */
  async assertEpoch(name: string, epoch: number, tx: Queryable): Promise<void> {
    const { rows } = await tx.query<Row>(
      'SELECT epoch, holder, expires_at > now() AS live FROM leases WHERE name = $1 FOR SHARE',
      [name],
    );
    const r = rows[0];
    if (!r || num(r.epoch) !== epoch || !r.live) {
      throw new KernelError(
        'EFENCED',
        `lease "${name}" is ${r ? `at epoch ${num(r.epoch)} held by ${String(r.holder)}${r.live ? '' : ' (expired)'}` : 'not held'}, ` +
          `not epoch ${epoch}: this writer lost the lease and must stop; re-acquire it before writing again`,
        {
          details: {
            lease: name,
            expectEpoch: epoch,
            actualEpoch: r ? num(r.epoch) : null,
            live: Boolean(r?.live),
          },
        },
      );
    }
  }

  // ── work queue ──

  async enqueue(
    queue: string,
    payload: unknown,
    opts: { priority?: number; delayMs?: number } = {},
    tx?: Queryable,
  ): Promise<number> {
    const { rows } = await (tx ?? this.driver).query<Row>(
      `INSERT INTO queue_items (queue, payload, priority, available_at)
       VALUES ($1, $2::jsonb, $3, now() + $4 * interval '1 millisecond') RETURNING id`,
      [queue, jsonbText(payload ?? null), opts.priority ?? 0, opts.delayMs ?? 0],
    );
    return num(rows[0]!.id);
  }

  /** Claims up to n pending items (lowest priority value first, then FIFO); never the same item twice. */
  async claim(queue: string, worker: string, n = 1): Promise<QueueItem[]> {
    if (!Number.isInteger(n) || n < 1)
      throw new KernelError('EINVAL', `claim: n must be a positive integer, got ${n}`);
    const { rows } = await this.driver.query<Row>(
      `UPDATE queue_items q SET state = 'claimed', claimed_by = $2, claimed_at = now(), attempts = q.attempts + 1
       FROM (SELECT id FROM queue_items
             WHERE queue = $1 AND state = 'pending' AND available_at <= now()
             ORDER BY priority, id LIMIT $3 FOR UPDATE SKIP LOCKED) picked
       WHERE q.id = picked.id
       RETURNING q.*`,
      [queue, worker, n],
    );
    return rows.map(toItem).sort((a, b) => a.priority - b.priority || a.id - b.id);
  }

  async complete(id: number, worker: string): Promise<void> {
    const r = await this.driver.query(
      "UPDATE queue_items SET state = 'done' WHERE id = $1 AND claimed_by = $2 AND state = 'claimed'",
      [id, worker],
    );
    if (r.rowCount !== 1) throw notClaimed(id, worker);
  }

  /** Returns the item to the queue after retryDelayMs, or marks it failed once maxAttempts is reached. */
  async fail(
    id: number,
    worker: string,
    error: string,
    opts: { retryDelayMs?: number; maxAttempts?: number } = {},
  ): Promise<'retry' | 'failed'> {
    const { rows } = await this.driver.query<Row>(
      `UPDATE queue_items SET
         state = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END,
         last_error = $3, claimed_by = NULL, available_at = now() + $5 * interval '1 millisecond'
       WHERE id = $1 AND claimed_by = $2 AND state = 'claimed' RETURNING state`,
      [id, worker, error, opts.maxAttempts ?? 3, opts.retryDelayMs ?? 0],
    );
    if (!rows[0]) throw notClaimed(id, worker);
    return rows[0].state === 'failed' ? 'failed' : 'retry';
  }

  // ── mailbox ──

  /** Writes a message (in the caller's transaction when given); NOTIFY fires on commit as a wake-up hint. */
  async send(
    msg: { from: string; to: string; topic?: string; body: unknown },
    tx?: Queryable,
  ): Promise<number> {
    if (!msg.from || !msg.to) throw new KernelError('EINVAL', 'mailbox send needs from and to');
    const { rows } = await (tx ?? this.driver).query<Row>(
      `WITH m AS (INSERT INTO mailbox (sender, recipient, topic, body) VALUES ($1, $2, $3, $4::jsonb) RETURNING id)
       SELECT m.id, pg_notify($5, $2) FROM m`,
      [msg.from, msg.to, msg.topic ?? null, jsonbText(msg.body ?? null), MAILBOX_CHANNEL],
    );
    return num(rows[0]!.id);
  }

  /** Takes up to limit undelivered messages for `to`, oldest first, marking them delivered atomically. */
  async recv(to: string, opts: { limit?: number } = {}): Promise<StoredMail[]> {
    const { rows } = await this.driver.query<Row>(
      `UPDATE mailbox m SET delivered_at = now()
       FROM (SELECT id FROM mailbox WHERE recipient = $1 AND delivered_at IS NULL
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) picked
       WHERE m.id = picked.id
       RETURNING m.*`,
      [to, opts.limit ?? 100],
    );
    return rows.map(toMessage).sort((a, b) => a.id - b.id);
  }

  /** Undelivered messages for `to` (optionally one topic), without taking them. */
  async peek(to: string, opts: { limit?: number; topic?: string } = {}): Promise<StoredMail[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT * FROM mailbox WHERE recipient = $1 AND delivered_at IS NULL AND ($3::text IS NULL OR topic = $3)
       ORDER BY id LIMIT $2`,
      [to, opts.limit ?? 100, opts.topic ?? null],
    );
    return rows.map(toMessage);
  }

  /** Every message sent to `to`, newest first, delivered or not (what an operator inspects). */
  async list(to: string, opts: { limit?: number; offset?: number } = {}): Promise<StoredMail[]> {
    const { rows } = await this.driver.query<Row>(
      'SELECT * FROM mailbox WHERE recipient = $1 ORDER BY id DESC LIMIT $2 OFFSET $3',
      [to, opts.limit ?? 100, opts.offset ?? 0],
    );
    return rows.map(toMessage);
  }

  /** Who wrote to whom: message counts per (sender, recipient), with how many wait undelivered. */
  async edges(opts: { limit?: number } = {}): Promise<MailEdge[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT sender, recipient, count(*) AS n, count(*) FILTER (WHERE delivered_at IS NULL) AS pending
         FROM mailbox GROUP BY sender, recipient ORDER BY max(id) DESC LIMIT $1`,
      [opts.limit ?? 1000],
    );
    return rows.map((r) => ({
      from: String(r.sender),
      to: String(r.recipient),
      count: num(r.n),
      pending: num(r.pending),
    }));
  }

  /**
   * Marks peeked messages delivered, in the receiver's step transaction: a receiver that crashes before
   * its step commits sees the same messages again (exactly-once per committed step). `stepNo` is the
   * consuming step.
   */
  async ack(to: string, ids: readonly number[], tx?: Queryable, stepNo?: number): Promise<number> {
    if (ids.length === 0) return 0;
    // The consuming step is kept so a restore to an earlier snapshot can hand the message back.
    const { rowCount } = await (tx ?? this.driver).query(
      `UPDATE mailbox SET delivered_at = now(), delivered_step = $3
       WHERE recipient = $1 AND id = ANY($2::bigint[]) AND delivered_at IS NULL`,
      [to, ids, stepNo ?? null],
    );
    return rowCount;
  }
}

function checkTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new KernelError('EINVAL', `lease ttlMs must be a positive number of milliseconds, got ${ttlMs}`);
  }
}

function notClaimed(id: number, worker: string): KernelError {
  return new KernelError(
    'ESTATE',
    `queue item ${id} is not claimed by ${worker} (it was completed, failed, or claimed by another worker)`,
    { details: { id, worker } },
  );
}

function toItem(r: Row): QueueItem {
  return {
    id: num(r.id),
    queue: String(r.queue),
    payload: r.payload,
    priority: num(r.priority),
    attempts: num(r.attempts),
    claimedBy: (r.claimed_by as string | null) ?? null,
  };
}

function toMessage(r: Row): StoredMail {
  return {
    id: num(r.id),
    from: String(r.sender),
    to: String(r.recipient),
    topic: (r.topic as string | null) ?? null,
    body: r.body,
    createdAt: r.created_at as Date,
    deliveredAt: (r.delivered_at as Date | null) ?? null,
  };
}
