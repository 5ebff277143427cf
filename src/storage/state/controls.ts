/**
 * What a node asks of a process another node runs (kill, suspend, resume, an approval's decision), and the
 * approvals pending on every node. The rows are the truth; a NOTIFY on CONTROL_CHANNEL only wakes the
 * owner, which also reads its processes' requests at every heartbeat and at every claim, so a request
 * reaches the process wherever it runs next — also one that moved or was not running anywhere.
 */

import { jsonbText } from '../../util/storable.js';
import type { StorageDriver } from '../driver.js';
import { num } from '../sql.js';

type Row = Record<string, unknown>;

/** NOTIFY channel: a control request for a process; the payload is `<schema>:<pid>`. */
export const CONTROL_CHANNEL = 'aos_control';

export type ControlVerb = 'kill' | 'suspend' | 'resume' | 'approve' | 'deny';

export interface ControlRow {
  id: number;
  pid: number;
  verb: ControlVerb;
  arg: Record<string, unknown>;
  byNode: string;
}

export interface PendingApprovalRow {
  id: string;
  pid: number;
  node: string;
  tool: string;
  args: unknown;
  reason: string;
  idempotencyKey: string;
  createdAt: Date;
  expiresAt: Date;
}

const parse = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

export class ControlStore {
  constructor(private readonly driver: StorageDriver) {}

  /** Files the request and wakes the owner (the NOTIFY is only a hint: owners also poll). */
  async request(pid: number, verb: ControlVerb, arg: Record<string, unknown>, byNode: string): Promise<void> {
    await this.file(pid, verb, arg, byNode);
    await this.driver.notify(CONTROL_CHANNEL, `${this.driver.schema}:${pid}`).catch(() => undefined);
  }

  private async file(
    pid: number,
    verb: ControlVerb,
    arg: Record<string, unknown>,
    byNode: string,
  ): Promise<void> {
    await this.driver.query(
      'INSERT INTO proc_controls (pid, verb, arg, by_node) VALUES ($1, $2, $3::jsonb, $4)',
      [pid, verb, jsonbText(arg), byNode],
    );
  }

  /** Takes (deletes and returns, oldest first) the requests for these pids; drops those of exited processes. */
  async take(pids: readonly number[]): Promise<ControlRow[]> {
    if (pids.length === 0) return [];
    const { rows } = await this.driver.query<Row>(
      `DELETE FROM proc_controls WHERE pid = ANY($1::integer[]) RETURNING id, pid, verb, arg, by_node`,
      [[...pids]],
    );
    return rows
      .map((r) => ({
        id: num(r.id),
        pid: num(r.pid),
        verb: r.verb as ControlVerb,
        arg: (parse(r.arg) ?? {}) as Record<string, unknown>,
        byNode: String(r.by_node),
      }))
      .sort((a, b) => a.id - b.id);
  }

  async putApproval(p: PendingApprovalRow): Promise<void> {
    await this.driver.query(
      `INSERT INTO approvals_pending (id, pid, node, tool, args, reason, idempotency_key, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
      [
        p.id,
        p.pid,
        p.node,
        p.tool,
        jsonbText(p.args ?? null),
        p.reason,
        p.idempotencyKey,
        p.createdAt,
        p.expiresAt,
      ],
    );
  }

  async dropApproval(id: string): Promise<void> {
    await this.driver.query('DELETE FROM approvals_pending WHERE id = $1', [id]);
  }

  /**
   * Approvals pending anywhere: only those of a live process still held by the node that asked, while that
   * node is up, so an approval left behind by a node that died (its step is redone elsewhere) is not listed.
   */
  async approvals(pid?: number): Promise<PendingApprovalRow[]> {
    const { rows } = await this.driver.query<Row>(
      `SELECT a.* FROM approvals_pending a
         JOIN processes p ON p.pid = a.pid AND p.owner_node = a.node
         JOIN nodes n ON n.id = a.node
       WHERE p.state IN ('new','ready','running','waiting','suspended') AND n.state = 'up'
         AND n.heartbeat_at + n.lease_ms * interval '1 millisecond' > now()
         AND ($1::integer IS NULL OR a.pid = $1::integer)
       ORDER BY a.created_at`,
      [pid ?? null],
    );
    return rows.map((r) => ({
      id: String(r.id),
      pid: num(r.pid),
      node: String(r.node),
      tool: String(r.tool),
      args: parse(r.args),
      reason: String(r.reason),
      idempotencyKey: String(r.idempotency_key),
      createdAt: r.created_at as Date,
      expiresAt: r.expires_at as Date,
    }));
  }

  async approval(id: string): Promise<PendingApprovalRow | null> {
    const all = await this.driver.query<Row>('SELECT pid FROM approvals_pending WHERE id = $1', [id]);
    if (!all.rows[0]) return null;
    return (await this.approvals(num(all.rows[0].pid))).find((a) => a.id === id) ?? null;
  }
}
