/**
 * Restore: a snapshot becomes a running process again, in one transaction, either as a NEW process (restore
 * or fork — the original may still be running) or back INTO the snapshot's own pid (a rewind).
 *
 * What travels with it, and why:
 *   - program state and step number: the process continues from the snapshot's step, so its step log stays
 *     contiguous (a new pid numbers its steps from the snapshot's step + 1);
 *   - context pages: the swap space is keyed by pid, so a new pid gets a copy of the source's pages
 *     (`rebind` rewrites the pid inside the program state's exported page tables);
 *   - usage: a new pid starts with what the state cost to reach; a rewind keeps the process's whole usage,
 *     because money spent after the snapshot was really spent;
 *   - mailbox: mail the source had not consumed at the snapshot's step is handed to the restored process
 *     (a copy for a new pid, like fork() duplicating descriptors; un-acknowledged again for a rewind);
 *   - a rewind discards the steps after the snapshot and their tool-call and model-call journals, and takes
 *     a new lease epoch, so a stale writer of the old timeline is fenced off.
 * Mail the process SENT after the snapshot is not recalled: it is an effect on other processes.
 */

import { KernelError } from '../../errors.js';
import { jsonbText } from '../../util/storable.js';
import type { Queryable } from '../driver.js';
import { num } from '../sql.js';
import { jsonParam, toProcess } from './rows.js';
import type { ProcessRow, ProcessState } from './types.js';

const LIVE: readonly ProcessState[] = ['new', 'ready', 'running', 'waiting', 'suspended'];

export interface RestoreInput {
  snapshotId: number;
  /** 'new' (default): a new process; 'same': back into the snapshot's pid, which must not be live. */
  into?: 'new' | 'same';
  name?: string;
  priority?: number;
  ownerNode?: string | null;
  /** The owner's lease from now (database clock), on a node. */
  leaseMs?: number;
  /** Rewrites references to the source pid inside the program state (context page tables). */
  rebind?: (programState: unknown, fromPid: number, toPid: number) => unknown;
  /**
   * A new pid is not handed the source's mail of this topic (a fork with an edited user message: the
   * message the source took after the snapshot is replaced, not repeated).
   */
  skipMailTopic?: string;
}

export interface RestoreResult {
  process: ProcessRow;
  sourcePid: number;
  stepNo: number;
  /** Steps discarded by a rewind (into 'same'); 0 for a new pid. */
  discardedSteps: number;
  /** Messages handed to the restored process (copied or un-acknowledged). */
  mail: number;
  /** Context pages copied to a new pid. */
  pages: number;
}

type Row = Record<string, unknown>;

export async function restoreSnapshot(q: Queryable, input: RestoreInput): Promise<RestoreResult> {
  const { rows: snaps } = await q.query<Row>('SELECT * FROM snapshots WHERE id = $1', [input.snapshotId]);
  const snap = snaps[0];
  if (!snap) throw new KernelError('ENOTFOUND', `no checkpoint ${input.snapshotId}`);
  const sourcePid = num(snap.pid);
  const stepNo = num(snap.step_no);
  const p = (snap.process ?? {}) as Row;
  const { rows: cur } = await q.query<Row>('SELECT * FROM processes WHERE pid = $1 FOR UPDATE', [sourcePid]);
  const source = cur[0];
  if (!source)
    throw new KernelError('ENOPROC', `checkpoint ${input.snapshotId}: process ${sourcePid} is gone`);

  if ((input.into ?? 'new') === 'same') {
    const state = String(source.state) as ProcessState;
    if (LIVE.includes(state)) {
      throw new KernelError(
        'ESTATE',
        `process ${sourcePid} is ${state}; restoring into its own pid rewinds it, so it must have exited — ` +
          'kill it first, or restore into a new pid (fork)',
        { details: { pid: sourcePid, state } },
      );
    }
    const discarded = await q.query('DELETE FROM steps WHERE pid = $1 AND step_no > $2', [sourcePid, stepNo]);
    await q.query('DELETE FROM tool_calls WHERE pid = $1 AND (step_no IS NULL OR step_no > $2)', [
      sourcePid,
      stepNo,
    ]);
    await q.query('DELETE FROM llm_calls WHERE pid = $1 AND step_no > $2', [sourcePid, stepNo]);
    const mail = await q.query(
      `UPDATE mailbox SET delivered_at = NULL, delivered_step = NULL
       WHERE recipient = $1 AND delivered_step > $2`,
      [String(sourcePid), stepNo],
    );
    const { rows } = await q.query<Row>(
      `UPDATE processes SET state = 'ready', wait_on = NULL, step_no = $2, program_state = $3::jsonb,
         state_step = $2, result = NULL, exit_reason = NULL, restored_from = $4, lease_epoch = lease_epoch + 1,
         owner_node = $5, priority = COALESCE($6, priority), name = COALESCE($7, name), updated_at = now(),
         lease_expires_at = now() + $8::integer * interval '1 millisecond'
       WHERE pid = $1 RETURNING *`,
      [
        sourcePid,
        stepNo,
        jsonParam(snap.program_state),
        input.snapshotId,
        input.ownerNode ?? null,
        input.priority ?? null,
        input.name ?? null,
        input.leaseMs ?? null,
      ],
    );
    return {
      process: toProcess(rows[0]!),
      sourcePid,
      stepNo,
      discardedSteps: discarded.rowCount,
      mail: mail.rowCount,
      pages: 0,
    };
  }

  const { rows } = await q.query<Row>(
    `INSERT INTO processes (parent_pid, name, task, priority, state, model, program, policy, budgets, usage,
       step_no, program_state, owner_node, lease_epoch, vruntime, restored_from, lease_expires_at)
     VALUES (NULL, $1, $2, $3, 'ready', $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9, NULL, $10, 0, $11, $12,
       now() + $13::integer * interval '1 millisecond')
     RETURNING pid`,
    [
      input.name ?? `${String(p.name ?? source.name)}@${input.snapshotId}`,
      String(p.task ?? source.task ?? ''),
      input.priority ?? num(p.priority ?? source.priority),
      (p.model as string | null) ?? (source.model as string | null) ?? null,
      String(p.program ?? source.program ?? 'react'),
      jsonbText(p.policy ?? source.policy ?? {}),
      jsonbText(p.budgets ?? source.budgets ?? {}),
      jsonbText(p.usage ?? {}),
      stepNo,
      input.ownerNode ?? null,
      num(p.vruntime ?? 0),
      input.snapshotId,
      input.leaseMs ?? null,
    ],
  );
  const pid = num(rows[0]!.pid);
  const programState = input.rebind
    ? input.rebind(snap.program_state ?? null, sourcePid, pid)
    : (snap.program_state ?? null);
  const { rows: done } = await q.query<Row>(
    'UPDATE processes SET program_state = $2::jsonb, state_step = step_no WHERE pid = $1 RETURNING *',
    [pid, jsonParam(programState)],
  );
  const pages = await q.query(
    `INSERT INTO context_pages (pid, page_id, kind, content, summary, tokens, importance, embedding, meta)
     SELECT $2, page_id, kind, content, summary, tokens, importance, embedding, meta
       FROM context_pages WHERE pid = $1
     ON CONFLICT (pid, page_id) DO NOTHING`,
    [sourcePid, pid],
  );
  const mail = await q.query(
    `INSERT INTO mailbox (sender, recipient, topic, body, created_at)
     SELECT sender, $2, topic, body, created_at FROM mailbox
      WHERE recipient = $1 AND (delivered_at IS NULL OR delivered_step > $3)
        AND ($4::text IS NULL OR topic IS DISTINCT FROM $4)
      ORDER BY id`,
    [String(sourcePid), String(pid), stepNo, input.skipMailTopic ?? null],
  );
  return {
    process: toProcess(done[0]!),
    sourcePid,
    stepNo,
    discardedSteps: 0,
    mail: mail.rowCount,
    pages: pages.rowCount,
  };
}
