/**
 * Nodes and process leases, on the database clock. A node registers and heartbeats; it holds a lease per
 * process it runs (processes.owner_node + lease_expires_at) and renews them all in one statement per
 * heartbeat. A claim takes ready processes that nobody holds (unowned, or a lease that expired) in
 * scheduler order (priority, then virtual runtime) with FOR UPDATE SKIP LOCKED, bumping each one's
 * lease_epoch — the fencing token every later commit of the old holder fails against. A row created by a
 * node before its first heartbeat counts as leased for one period from its last update.
 */
import type { Queryable, StorageDriver } from '../driver.js';
import { num } from '../sql.js';
import { stateDeltasColumn, toProcess } from './rows.js';
import type { ProcessRow } from './types.js';

type Row = Record<string, unknown>;

const LIVE = "('new','ready','running','waiting','suspended')";

export interface NodeRow {
  id: string;
  host: string;
  pid: number | null;
  startedAt: Date;
  heartbeatAt: Date;
  leaseMs: number;
  state: 'up' | 'left';
  processes: number;
  /** Heartbeat within one lease period (database clock). */
  alive: boolean;
}

export class NodeStore {
  constructor(private readonly driver: StorageDriver) {}

  async register(n: { id: string; host: string; pid: number; leaseMs: number }): Promise<void> {
    await this.driver.query(
      `INSERT INTO nodes (id, host, pid, lease_ms) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, lease_ms = EXCLUDED.lease_ms,
         started_at = now(), heartbeat_at = now(), state = 'up', left_at = NULL`,
      [n.id, n.host, n.pid, n.leaseMs],
    );
  }

  /**
   * One heartbeat: renews the lease of every process this node holds and still runs (`running`: the pids
   * it drives; a lease it holds for a process it no longer drives is left to run out, so another node, or
   * this one, claims the process) and returns them (pid → epoch). A process that is not in the answer is
   * no longer this node's to run.
   */
  async heartbeat(node: string, leaseMs: number, running: readonly number[]): Promise<Map<number, number>> {
    return this.driver.transaction(async (q) => {
      const { rows } = await q.query<Row>(
        `UPDATE processes SET lease_expires_at = now() + $2 * interval '1 millisecond'
         WHERE owner_node = $1 AND state IN ${LIVE} AND pid = ANY($3::integer[])
           AND COALESCE(lease_expires_at, updated_at + $2 * interval '1 millisecond') > now()
         RETURNING pid, lease_epoch`,
        [node, leaseMs, [...running]],
      );
      await q.query(`UPDATE nodes SET heartbeat_at = now(), processes = $2, state = 'up' WHERE id = $1`, [
        node,
        rows.length,
      ]);
      return new Map(rows.map((r) => [num(r.pid), num(r.lease_epoch)]));
    });
  }

  /**
   * Renews one process's lease, only while this node still holds it (its epoch, unexpired: a lease that
   * ended is never revived — another node may be claiming it). False: not held.
   */
  async renew(node: string, leaseMs: number, pid: number, epoch: number): Promise<boolean> {
    const r = await this.driver.query(
      `UPDATE processes SET lease_expires_at = now() + $3 * interval '1 millisecond'
       WHERE pid = $1 AND owner_node = $2 AND lease_epoch = $4 AND state IN ${LIVE}
         AND COALESCE(lease_expires_at, updated_at + $3 * interval '1 millisecond') > now()`,
      [pid, node, leaseMs, epoch],
    );
    return r.rowCount === 1;
  }

  /**
   * Hands process `pid` from `from` (which holds it at `epoch`) straight to node `to`: a new epoch, `to`'s
   * lease from now. Nothing of the old holder's can commit after it (fenced); no other node can claim it
   * meanwhile (it is held). False: `from` no longer held it.
   */
  async transfer(pid: number, from: string, epoch: number, to: string, leaseMs: number): Promise<boolean> {
    const r = await this.driver.query(
      `UPDATE processes SET owner_node = $3, lease_epoch = lease_epoch + 1,
         lease_expires_at = now() + $5 * interval '1 millisecond', updated_at = now()
       WHERE pid = $1 AND owner_node = $2 AND lease_epoch = $4 AND state IN ${LIVE}`,
      [pid, from, to, epoch, leaseMs],
    );
    return r.rowCount === 1;
  }

  /**
   * Takes process `pid` for `node` if nobody else holds it: unowned, handed to `node` (transfer), or its
   * lease ended `graceMs` ago (as claim(): a late holder stops first). Null: another node holds it, or it
   * is not live. Its row, as claim() returns rows.
   */
  async claimOne(node: string, leaseMs: number, pid: number, graceMs = 0): Promise<ProcessRow | null> {
    const { rows } = await this.driver.query<Row>(
      `UPDATE processes p SET owner_node = $1, lease_epoch = p.lease_epoch + 1,
         lease_expires_at = now() + $2 * interval '1 millisecond', updated_at = now()
       WHERE p.pid = $3 AND p.state IN ${LIVE}
         AND (p.owner_node IS NULL OR p.owner_node = $1
              OR COALESCE(p.lease_expires_at, p.updated_at + $2 * interval '1 millisecond')
                   <= now() - $4 * interval '1 millisecond')
       RETURNING p.*, ${stateDeltasColumn('p')}`,
      [node, leaseMs, pid, graceMs],
    );
    return rows[0] ? toProcess(rows[0]) : null;
  }

  /** Who holds `pid`: its owner and whether it is live; null when there is no such process. */
  async holder(pid: number): Promise<{ owner: string | null; live: boolean } | null> {
    const { rows } = await this.driver.query<Row>(
      `SELECT owner_node, state IN ${LIVE} AS live FROM processes WHERE pid = $1`,
      [pid],
    );
    const r = rows[0];
    return r ? { owner: r.owner_node === null ? null : String(r.owner_node), live: Boolean(r.live) } : null;
  }

  /**
   * Takes up to `limit` runnable processes nobody holds, in scheduler order; each gets a new epoch. A lease
   * that ran out is taken only `graceMs` after it did (a handed-back process, owner NULL, at once): time for
   * a holder that is late, not dead, to notice and stop before the new owner redoes its step.
   *
   * The candidates come from the owner index (migration 018), never from a walk over every live process:
   * unowned ones, those of nodes whose heartbeat stopped (`up` rows older than their lease + grace), and
   * `released` — pids this node itself stopped driving while it still owned them (a lost lease nobody took
   * yet). `sweep` walks them all instead (the claim order index, each row's lease read): it also finds a
   * lapsed lease held by a node that is up but does not claim (started without recovery), so a node sweeps
   * at boot and every CLAIM_SWEEP_EVERY claims. Either way every candidate is checked again under its row
   * lock, so two claimers never take one process.
   */
  async claim(
    node: string,
    leaseMs: number,
    limit: number,
    graceMs = 0,
    tx?: Queryable,
    o: { sweep?: boolean; released?: readonly number[] } = {},
  ): Promise<ProcessRow[]> {
    const claimable = `state IN ${LIVE}
               AND (owner_node IS NULL
                    OR COALESCE(lease_expires_at, updated_at + $2 * interval '1 millisecond')
                         <= now() - $4 * interval '1 millisecond')`;
    const candidates = o.sweep
      ? ''
      : `pid = ANY(ARRAY(
                 (SELECT pid FROM processes WHERE state IN ${LIVE} AND owner_node IS NULL
                   ORDER BY owner_node, priority, vruntime, pid LIMIT 2 * $3)
                 UNION ALL
                 (SELECT x.pid FROM nodes n, LATERAL (
                     SELECT pid, priority, vruntime FROM processes WHERE state IN ${LIVE} AND owner_node = n.id
                      ORDER BY owner_node, priority, vruntime, pid LIMIT 2 * $3) x
                   WHERE n.state = 'up' AND n.id <> $1
                     AND n.heartbeat_at + (n.lease_ms + $4) * interval '1 millisecond' <= now()
                   ORDER BY x.priority, x.vruntime, x.pid LIMIT 2 * $3)
                 UNION ALL
                 SELECT unnest($5::integer[]))) AND`;
    const { rows } = await (tx ?? this.driver).query<Row>(
      `UPDATE processes p SET owner_node = $1, lease_epoch = p.lease_epoch + 1,
         lease_expires_at = now() + $2 * interval '1 millisecond', updated_at = now()
       FROM (SELECT pid FROM processes
             WHERE ${candidates} ${claimable}
             ORDER BY priority, vruntime, pid LIMIT $3 FOR UPDATE SKIP LOCKED) c
       WHERE p.pid = c.pid
       RETURNING p.*, ${stateDeltasColumn('p')}`,
      o.sweep ? [node, leaseMs, limit, graceMs] : [node, leaseMs, limit, graceMs, [...(o.released ?? [])]],
    );
    return rows.map(toProcess).sort((a, b) => a.priority - b.priority || a.vruntime - b.vruntime);
  }

  /**
   * Milliseconds (database clock) until the earliest lease another live node holds runs out (+ `graceMs`: when
   * claim() will take it), or null when
   * no other node is up: a claimer sleeps that long instead of polling, so a dead node's processes are
   * taken over when its leases end, not up to a poll period later. Read from the nodes table (a row per
   * node, not per process): a heartbeat renews its node's leases to heartbeat_at + lease_ms in the same
   * transaction, so that is when they end if no heartbeat follows (a process the node claimed after its
   * last heartbeat ends a little later, and is found by the next poll).
   */
  async nextExpiryMs(node: string, graceMs = 0): Promise<number | null> {
    const { rows } = await this.driver.query<Row>(
      `SELECT EXTRACT(EPOCH FROM min(e) - now()) * 1000 AS ms FROM (
         SELECT heartbeat_at + (lease_ms + $2) * interval '1 millisecond' AS e FROM nodes
          WHERE id <> $1 AND state = 'up') x
        WHERE e > now()`,
      [node, graceMs],
    );
    const ms = rows[0]?.ms;
    return ms === null || ms === undefined ? null : Math.max(0, Number(ms));
  }

  /** Graceful shutdown: hands every process back at once (no lease wait) and marks the node gone. */
  async leave(node: string): Promise<number> {
    return this.driver.transaction(async (q) => {
      const r = await q.query(
        `UPDATE processes SET owner_node = NULL, lease_expires_at = NULL
         WHERE owner_node = $1 AND state IN ${LIVE}`,
        [node],
      );
      await q.query(`UPDATE nodes SET state = 'left', left_at = now(), processes = 0 WHERE id = $1`, [node]);
      return r.rowCount;
    });
  }

  async list(): Promise<NodeRow[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT n.*, (n.state = 'up' AND n.heartbeat_at + n.lease_ms * interval '1 millisecond' > now()) AS alive,
         (SELECT count(*) FROM processes p WHERE p.owner_node = n.id AND p.state IN ${LIVE}
            AND COALESCE(p.lease_expires_at, p.updated_at + n.lease_ms * interval '1 millisecond') > now()) AS held
       FROM nodes n ORDER BY n.started_at, n.id`,
    );
    return rows.map((r) => ({
      id: String(r.id),
      host: String(r.host),
      pid: r.pid === null ? null : num(r.pid),
      startedAt: r.started_at as Date,
      heartbeatAt: r.heartbeat_at as Date,
      leaseMs: num(r.lease_ms),
      state: r.state as NodeRow['state'],
      processes: num(r.held),
      alive: Boolean(r.alive),
    }));
  }
}
