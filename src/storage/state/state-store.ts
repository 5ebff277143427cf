/**
 * The state role: process table, per-step log, snapshots, retention, and agents' shared kv. A step commits
 * once: (pid, step_no) is unique, and the step row, the process row and any periodic snapshot are written
 * in one transaction. Writers that hold a lease pass expectEpoch; a row owned by a newer epoch is EFENCED.
 * Size: Over 500 lines because the step commit has two shapes (in a transaction, and one statement on a
 * single connection) that share the process-patch SQL and the refusal diagnosis; restore and rows are apart.
 */
import { KernelError } from '../../errors.js';
import { SNAPSHOT_EVERY_STEPS, STEP_LOG_RETAIN_SNAPSHOTS, TERMINATED_RETAIN_MS } from '../../param.js';
import { jsonbText } from '../../util/storable.js';
import type { Queryable, StorageDriver } from '../driver.js';
import { inTx, num, sqlState } from '../sql.js';
import { type RestoreInput, type RestoreResult, restoreSnapshot } from './restore.js';
import { jsonParam, programStateOf, stateDeltasColumn, toProcess, toSnapshot } from './rows.js';

export type { RestoreInput, RestoreResult } from './restore.js';
export { JsonText, jsonParam, toProcess } from './rows.js';

import {
  type ChainedAuditRows,
  type CommitStepInput,
  type CommitStepResult,
  type CreateProcessInput,
  type KvEntry,
  PROCESS_STATES,
  type ProcessPatch,
  type ProcessRow,
  type ProcessState,
  type PruneResult,
  type SnapshotReason,
  type SnapshotRow,
  type StepRow,
  ZERO_USAGE,
} from './types.js';

export interface StateStoreOptions {
  /** Periodic snapshot every K committed steps (config storage.snapshot_every_steps). */
  snapshotEverySteps?: number;
}

type Row = Record<string, unknown>;

const UNIQUE_VIOLATION = '23505';

/** camelCase patch field → column, and whether the column is jsonb. */
const COLUMNS: Record<keyof ProcessPatch, [string, boolean]> = {
  name: ['name', false],
  task: ['task', false],
  priority: ['priority', false],
  state: ['state', false],
  waitOn: ['wait_on', false],
  model: ['model', false],
  program: ['program', false],
  policy: ['policy', true],
  budgets: ['budgets', true],
  usage: ['usage', true],
  stepNo: ['step_no', false],
  programState: ['program_state', true],
  result: ['result', true],
  exitReason: ['exit_reason', false],
  checkpointId: ['checkpoint_id', false],
  ownerNode: ['owner_node', false],
  leaseEpoch: ['lease_epoch', false],
  vruntime: ['vruntime', false],
  parentPid: ['parent_pid', false],
};

export class StateStore {
  readonly snapshotEverySteps: number;

  constructor(
    private readonly driver: StorageDriver,
    opts: StateStoreOptions = {},
  ) {
    this.snapshotEverySteps = opts.snapshotEverySteps ?? SNAPSHOT_EVERY_STEPS;
    if (!Number.isInteger(this.snapshotEverySteps) || this.snapshotEverySteps < 1) {
      throw new KernelError(
        'EINVAL',
        `snapshotEverySteps must be a positive integer, got ${this.snapshotEverySteps}`,
      );
    }
  }

  // ── processes ──

  async createProcess(input: CreateProcessInput, tx?: Queryable): Promise<ProcessRow> {
    if (!input.name) throw new KernelError('EINVAL', 'createProcess: name is required');
    if (input.state !== undefined) checkState(input.state);
    const q = tx ?? this.driver;
    const { rows } = await q.query<Row>(
      `INSERT INTO processes (parent_pid, name, task, priority, state, model, program, policy, budgets, usage,
         program_state, owner_node, lease_epoch, vruntime, lease_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11::jsonb, $12, $13, $14,
         now() + $15::integer * interval '1 millisecond')
       RETURNING *`,
      [
        input.parentPid ?? null,
        input.name,
        input.task ?? '',
        input.priority ?? 50,
        input.state ?? 'new',
        input.model ?? null,
        input.program ?? 'react',
        jsonbText(input.policy ?? {}),
        jsonbText(input.budgets ?? {}),
        jsonbText(ZERO_USAGE),
        jsonParam(input.programState),
        input.ownerNode ?? null,
        input.leaseEpoch ?? 0,
        input.vruntime ?? 0,
        input.leaseMs ?? null,
      ],
    );
    return toProcess(rows[0]!);
  }

  async getProcess(pid: number, tx?: Queryable): Promise<ProcessRow | null> {
    const { rows } = await (tx ?? this.driver).query<Row>(
      `SELECT p.*, ${stateDeltasColumn('p')} FROM processes p WHERE pid = $1`,
      [pid],
    );
    return rows[0] ? toProcess(rows[0]) : null;
  }

  async listProcesses(
    opts: { states?: ProcessState[]; limit?: number; offset?: number } = {},
  ): Promise<ProcessRow[]> {
    for (const s of opts.states ?? []) checkState(s);
    const { rows } = await this.driver.query<Row>(
      `SELECT p.*, ${stateDeltasColumn('p')} FROM processes p
       WHERE ($1::text[] IS NULL OR state = ANY($1::text[])) ORDER BY pid LIMIT $2 OFFSET $3`,
      [opts.states ?? null, opts.limit ?? 1000, opts.offset ?? 0],
    );
    return rows.map(toProcess);
  }

  /** How many processes the table holds (every state). */
  async countProcesses(): Promise<number> {
    const { rows } = await this.driver.query<Row>('SELECT count(*) AS n FROM processes');
    return Number(rows[0]?.n ?? 0);
  }

  /** Per stored state: how many processes, and their summed usage and steps (the dashboard's totals). */
  async totalsByState(): Promise<
    Array<{
      state: ProcessState;
      n: number;
      tokensIn: number;
      tokensCached: number;
      tokensOut: number;
      cost: number;
      steps: number;
    }>
  > {
    const { rows } = await this.driver.query<Row>(
      `SELECT state, count(*) AS n,
              coalesce(sum((usage->>'tokensIn')::float8), 0) AS tin,
              coalesce(sum((usage->>'tokensCached')::float8), 0) AS tcached,
              coalesce(sum((usage->>'tokensOut')::float8), 0) AS tout,
              coalesce(sum((usage->>'cost')::float8), 0) AS cost,
              coalesce(sum(step_no), 0) AS steps
         FROM processes GROUP BY state`,
    );
    return rows.map((r) => ({
      state: String(r.state) as ProcessState,
      n: Number(r.n),
      tokensIn: Number(r.tin),
      tokensCached: Number(r.tcached),
      tokensOut: Number(r.tout),
      cost: Number(r.cost),
      steps: Number(r.steps),
    }));
  }

  /** Whether the database answers (readiness). */
  async ping(): Promise<boolean> {
    return this.driver.query('SELECT 1').then(
      () => true,
      () => false,
    );
  }

  async updateProcess(
    pid: number,
    patch: ProcessPatch,
    opts: { expectEpoch?: number } = {},
    tx?: Queryable,
  ): Promise<ProcessRow> {
    return this.applyPatch(tx ?? this.driver, pid, patch, opts.expectEpoch);
  }

  // ── steps and snapshots ──

  /** Inserts the step, updates the process and writes a snapshot when due — all or nothing. */
  async commitStep(input: CommitStepInput, tx?: Queryable): Promise<CommitStepResult> {
    if (!Number.isInteger(input.stepNo) || input.stepNo < 1) {
      throw new KernelError('EINVAL', `commitStep: stepNo must be an integer >= 1, got ${input.stepNo}`);
    }
    return inTx(this.driver, tx, async (q) => {
      // One statement: the fenced process update and the step row that depends on it (one round trip, and
      // nothing of the row read back — the caller holds it). A refused step throws, and the transaction it
      // runs in rolls back whatever the statement did.
      const u = this.patchSql(input.pid, { ...input.processPatch, stepNo: input.stepNo }, input.expectEpoch);
      const params = [...u.params, input.stepNo, input.kind, jsonbText(input.record ?? null)];
      params.push(jsonbText(input.usage ?? {}), stateDeltaParam(input));
      const n = u.params.length;
      const { rows } = await q.query<Row>(
        `WITH p AS (UPDATE processes SET ${u.sets} WHERE ${u.where} RETURNING pid),
         s AS (INSERT INTO steps (pid, step_no, kind, record, usage, state_delta)
           SELECT pid, $${n + 1}::integer, $${n + 2}::text, $${n + 3}::jsonb, $${n + 4}::jsonb, $${n + 5}::jsonb
           FROM p ON CONFLICT (pid, step_no) DO NOTHING RETURNING step_no)
         SELECT (SELECT count(*) FROM p)::integer AS updated, (SELECT count(*) FROM s)::integer AS inserted`,
        params,
      );
      if (!num(rows[0]?.updated)) await this.refused(q, input.pid, input.expectEpoch);
      if (!num(rows[0]?.inserted)) throw this.conflict(input);
      let snapshotId: number | null = null;
      if (this.fullStateDue(input.stepNo))
        snapshotId = await this.snapshot(
          q,
          input.pid,
          'periodic',
          input.processPatch?.programState !== undefined,
        );
      return { snapshotId };
    });
  }

  /**
   * The whole step commit as ONE statement outside any transaction — process row (fenced), step row with
   * its state delta, the step's audit rows and the periodic snapshot when due — one round trip, atomic by
   * itself, on either driver. Writes nothing unless everything holds: the epoch, the step not yet
   * committed, and the audit head the rows were chained onto. Returns false (nothing written) when that
   * head moved or, on a pool, a concurrent writer took a key first — the caller commits in a transaction;
   * throws ECONFLICT, EFENCED or ENOPROC like commitStep. `calls`: the step's model-call journal rows
   * (JSON array of { call_index, attempt, request_hash, model, response, usage, cost, rerun }, see
   * src/kernel/held-calls.ts), written only with the step; one whose key is taken makes it write nothing
   * (false), and the caller writes them on their own. `gateway`: the step's gateway journal rows (JSON
   * array of { tenant, session, request_hash, dialect, model, response, error, usage, cost_usd,
   * latency_ms, replayed, cache, stored }, src/gateway/journal.ts), their pid the process's, written only
   * with the step — so a gateway call is this one statement; a row's `stored` (a Responses API response
   * to keep, or null) goes to gateway_responses in the same statement.
   */
  async commitStepChained(
    input: CommitStepInput,
    audit: ChainedAuditRows,
    calls?: string,
    gateway?: string,
  ): Promise<CommitStepResult | false> {
    if (!Number.isInteger(input.stepNo) || input.stepNo < 1) {
      throw new KernelError('EINVAL', `commitStep: stepNo must be an integer >= 1, got ${input.stepNo}`);
    }
    const due = this.fullStateDue(input.stepNo);
    if (due && input.stateDelta !== undefined) {
      throw new KernelError(
        'EINVAL',
        `commitStepChained: step ${input.stepNo} of pid ${input.pid} is snapshotted, so it must carry its whole ` +
          'program state (processPatch.programState), not a delta',
      );
    }
    const u = this.patchSql(input.pid, { ...input.processPatch, stepNo: input.stepNo }, input.expectEpoch);
    const n = u.params.length;
    const params = [...u.params, input.stepNo, input.kind, jsonbText(input.record ?? null)];
    params.push(jsonbText(input.usage ?? {}), audit.stream, audit.head.seq, audit.head.hash, audit.rowsJson);
    params.push(stateDeltaParam(input));
    const [S, K, R, U, ST, HS, HH, A, D] = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `$${n + i}`);
    const C = calls === undefined ? '' : `$${params.push(calls)}`;
    const G = gateway === undefined ? '' : `$${params.push(gateway)}`;
    const sql = `WITH p AS (
         UPDATE processes SET ${u.sets} WHERE ${u.where}
           AND NOT EXISTS (SELECT 1 FROM steps WHERE pid = $1 AND step_no = ${S}::integer)
           AND NOT EXISTS (SELECT 1 FROM audit_log WHERE stream = ${ST}::text AND seq > ${HS}::bigint)
           AND (${HS}::bigint = 0 OR EXISTS (SELECT 1 FROM audit_log
                WHERE stream = ${ST}::text AND seq = ${HS}::bigint AND hash = ${HH}::text))
         RETURNING ${due ? '*' : 'pid'}),
       s AS (INSERT INTO steps (pid, step_no, kind, record, usage, state_delta)
         SELECT pid, ${S}::integer, ${K}::text, ${R}::jsonb, ${U}::jsonb, ${D}::jsonb FROM p RETURNING step_no),
       a AS (INSERT INTO audit_log (stream, seq, ts, kind, actor, payload, prev_hash, hash)
         SELECT v.stream, v.seq, v.ts, v.kind, v.actor, v.payload, v.prev_hash, v.hash
         FROM p, jsonb_to_recordset(${A}::jsonb) AS v(stream text, seq bigint, ts timestamptz, kind text,
           actor text, payload jsonb, prev_hash text, hash text)
         ORDER BY v.seq RETURNING id)${
           calls === undefined
             ? ''
             : `,
       c AS (INSERT INTO llm_calls (pid, step_no, call_index, attempt, request_hash, model, response, usage,
           cost, rerun)
         SELECT p.pid, ${S}::integer, v.call_index, v.attempt, v.request_hash, v.model, v.response, v.usage,
           v.cost, v.rerun
         FROM p, jsonb_to_recordset(${C}::jsonb) AS v(call_index integer, attempt integer, request_hash text,
           model text, response jsonb, usage jsonb, cost double precision, rerun boolean)
         RETURNING 1)`
         }${
           gateway === undefined
             ? ''
             : `,
       g AS (INSERT INTO gateway_journal (tenant, session, pid, request_hash, dialect, model, response, error,
           usage, cost_usd, latency_ms, replayed, cache)
         SELECT v.tenant, v.session, p.pid, v.request_hash, v.dialect, v.model, v.response, v.error, v.usage,
           v.cost_usd, v.latency_ms, v.replayed, v.cache
         FROM p, jsonb_to_recordset(${G}::jsonb) AS v(tenant text, session text, request_hash text,
           dialect text, model text, response jsonb, error jsonb, usage jsonb, cost_usd double precision,
           latency_ms double precision, replayed boolean, cache jsonb)
         RETURNING 1),
       gr AS (INSERT INTO gateway_responses (tenant, id, session, pid, model, status, input, output, request,
           usage, expires_at)
         SELECT v.tenant, v.stored->>'id', v.session, p.pid, v.model, v.stored->>'status', v.stored->'input',
           v.stored->'output', v.stored->'request', v.stored->'usage',
           now() + (v.stored->>'ttl_s')::double precision * interval '1 second'
         FROM p, jsonb_to_recordset(${G}::jsonb) AS v(tenant text, session text, model text, stored jsonb)
         WHERE v.stored IS NOT NULL AND jsonb_typeof(v.stored) = 'object'
         ON CONFLICT (tenant, id) DO NOTHING RETURNING 1)`
         }${
           due
             ? `,
       sn AS (INSERT INTO snapshots (pid, step_no, program_state, process, reason)
         SELECT pid, step_no, program_state, to_jsonb(p) - 'program_state', 'periodic' FROM p RETURNING id)`
             : ''
         }
       SELECT (SELECT count(*) FROM s)::integer AS inserted${due ? ', (SELECT id FROM sn) AS snapshot_id' : ''},
         (SELECT count(*) FROM a)::integer AS audited`;
    let rows: Row[];
    try {
      ({ rows } = await this.driver.query<Row>(sql, params));
    } catch (err) {
      // On a pool, a writer that committed between this statement's snapshot and its inserts (the same
      // step from another node, an audit entry on the same stream) makes a unique key refuse them: the
      // statement wrote nothing, and the caller commits the usual way, under the stream's lock.
      if (sqlState(err) === UNIQUE_VIOLATION) return false;
      throw err;
    }
    if (num(rows[0]?.inserted)) return { snapshotId: due ? num(rows[0]?.snapshot_id) : null };
    // Nothing was written: say why.
    const why = await this.driver.query<Row>(
      `SELECT EXISTS (SELECT 1 FROM steps WHERE pid = $1 AND step_no = $2) AS committed,
         NOT EXISTS (SELECT 1 FROM audit_log WHERE stream = $3 AND seq > $4)
           AND ($4 = 0 OR EXISTS (SELECT 1 FROM audit_log WHERE stream = $3 AND seq = $4 AND hash = $5)) AS head`,
      [input.pid, input.stepNo, audit.stream, audit.head.seq, audit.head.hash],
    );
    if (why.rows[0]?.committed === true) throw this.conflict(input);
    if (why.rows[0]?.head !== true) return false;
    return this.refused(this.driver, input.pid, input.expectEpoch);
  }

  /**
   * Whether step `stepNo` writes the whole program state (and a periodic snapshot of it): every
   * snapshotEverySteps-th step, so a state is never more than that many deltas from a full one.
   */
  fullStateDue(stepNo: number): boolean {
    return stepNo % this.snapshotEverySteps === 0;
  }

  private conflict(input: CommitStepInput): KernelError {
    return new KernelError(
      'ECONFLICT',
      `step ${input.stepNo} of pid ${input.pid} is already committed; a step commits once (another node ` +
        `or a retry got there first — reload the process and continue from its step_no)`,
      { details: { pid: input.pid, stepNo: input.stepNo } },
    );
  }

  async listSteps(pid: number, opts: { after?: number; limit?: number } = {}): Promise<StepRow[]> {
    const { rows } = await this.driver.query<Row>(
      'SELECT * FROM steps WHERE pid = $1 AND step_no > $2 ORDER BY step_no LIMIT $3',
      [pid, opts.after ?? 0, opts.limit ?? 1000],
    );
    return rows.map((r) => ({
      pid: num(r.pid),
      stepNo: num(r.step_no),
      kind: String(r.kind),
      record: r.record,
      usage: (r.usage ?? {}) as StepRow['usage'],
      createdAt: r.created_at as Date,
    }));
  }

  /** Snapshot of the process as it stands; 'checkpoint' also records it as the process's checkpoint. */
  checkpoint(pid: number, reason: SnapshotReason = 'checkpoint', tx?: Queryable): Promise<number> {
    return inTx(this.driver, tx, async (q) => {
      const id = await this.snapshot(q, pid, reason);
      if (reason === 'checkpoint') {
        await q.query('UPDATE processes SET checkpoint_id = $2, updated_at = now() WHERE pid = $1', [
          pid,
          id,
        ]);
      }
      return id;
    });
  }

  async getSnapshot(id: number): Promise<SnapshotRow | null> {
    const { rows } = await this.driver.query<Row>('SELECT * FROM snapshots WHERE id = $1', [id]);
    return rows[0] ? toSnapshot(rows[0]) : null;
  }

  /** Snapshots of a process, oldest first (explicit checkpoints, periodic and exit snapshots). */
  async listSnapshots(pid: number, tx?: Queryable): Promise<SnapshotRow[]> {
    const { rows } = await (tx ?? this.driver).query<Row>(
      'SELECT * FROM snapshots WHERE pid = $1 ORDER BY step_no, id',
      [pid],
    );
    return rows.map(toSnapshot);
  }

  /** A snapshot as a running process again: a new pid, or back into its own (see ./restore.ts). */
  restore(input: RestoreInput, tx?: Queryable): Promise<RestoreResult> {
    return inTx(this.driver, tx, (q) => restoreSnapshot(q, input));
  }

  async latestSnapshot(pid: number): Promise<SnapshotRow | null> {
    const { rows } = await this.driver.query<Row>(
      'SELECT * FROM snapshots WHERE pid = $1 ORDER BY id DESC LIMIT 1',
      [pid],
    );
    return rows[0] ? toSnapshot(rows[0]) : null;
  }

  /**
   * Retention. Per process, steps at or before the `retainSnapshots`-th newest snapshot are covered by it and
   * deleted (never a step whose state delta the process row still needs: one after its whole state), as are
   * older periodic snapshots (explicit checkpoints and exit snapshots stay while the process does).
   * Terminated processes untouched for `terminatedRetainMs` go with all their rows.
   */
  prune(
    opts: { now?: Date; retainSnapshots?: number; terminatedRetainMs?: number } = {},
  ): Promise<PruneResult> {
    const keep = opts.retainSnapshots ?? STEP_LOG_RETAIN_SNAPSHOTS;
    const cutoff = new Date(
      (opts.now ?? new Date()).getTime() - (opts.terminatedRetainMs ?? TERMINATED_RETAIN_MS),
    );
    return this.driver.transaction(async (q) => {
      const steps = await q.query(
        `WITH ranked AS (
           SELECT pid, step_no, row_number() OVER (PARTITION BY pid ORDER BY step_no DESC, id DESC) AS rn
           FROM snapshots),
         edge AS (SELECT pid, step_no FROM ranked WHERE rn = $1)
         DELETE FROM steps s USING edge, processes p
         WHERE s.pid = edge.pid AND s.step_no <= edge.step_no
           AND p.pid = s.pid AND (s.state_delta IS NULL OR s.step_no <= p.state_step)`,
        [keep],
      );
      const snaps = await q.query(
        `WITH ranked AS (
           SELECT id, row_number() OVER (PARTITION BY pid ORDER BY step_no DESC, id DESC) AS rn
           FROM snapshots WHERE reason = 'periodic')
         DELETE FROM snapshots s USING ranked WHERE s.id = ranked.id AND ranked.rn > $1`,
        [keep],
      );
      const procs = await q.query("DELETE FROM processes WHERE state = 'terminated' AND updated_at < $1", [
        cutoff,
      ]);
      return { steps: steps.rowCount, snapshots: snaps.rowCount, processes: procs.rowCount };
    });
  }

  // ── kv: agents' shared named keys with compare-and-set ──

  async kvGet(ns: string, key: string, tx?: Queryable): Promise<KvEntry | null> {
    const { rows } = await (tx ?? this.driver).query<Row>(
      'SELECT value, version, updated_at FROM kv WHERE ns = $1 AND key = $2',
      [ns, key],
    );
    const r = rows[0];
    return r ? { value: r.value, version: num(r.version), updatedAt: r.updated_at as Date } : null;
  }

  /** Writes value if the stored version is expectedVersion (null = key must not exist); returns the new version. */
  async kvCas(
    ns: string,
    key: string,
    expectedVersion: number | null,
    value: unknown,
    tx?: Queryable,
  ): Promise<number> {
    const q = tx ?? this.driver;
    const json = jsonbText(value ?? null);
    const { rows } =
      expectedVersion === null
        ? await q.query<Row>(
            `INSERT INTO kv (ns, key, version, value) VALUES ($1, $2, 1, $3::jsonb)
             ON CONFLICT (ns, key) DO NOTHING RETURNING version`,
            [ns, key, json],
          )
        : await q.query<Row>(
            `UPDATE kv SET value = $4::jsonb, version = version + 1, updated_at = now()
             WHERE ns = $1 AND key = $2 AND version = $3 RETURNING version`,
            [ns, key, expectedVersion, json],
          );
    if (!rows[0]) {
      const cur = await this.kvGet(ns, key, tx);
      throw new KernelError(
        'ECONFLICT',
        `kv ${ns}/${key}: expected version ${expectedVersion ?? '(absent)'} but found ${cur ? cur.version : '(absent)'}; ` +
          'read it again and retry',
        { details: { ns, key, expectedVersion, actualVersion: cur?.version ?? null }, retryable: true },
      );
    }
    return num(rows[0].version);
  }

  // ── internals ──

  private async applyPatch(
    q: Queryable,
    pid: number,
    patch: ProcessPatch,
    expectEpoch?: number,
  ): Promise<ProcessRow> {
    const u = this.patchSql(pid, patch, expectEpoch);
    const { rows } = await q.query<Row>(
      `UPDATE processes SET ${u.sets} WHERE ${u.where} RETURNING *, ${stateDeltasColumn('processes')}`,
      u.params,
    );
    if (rows[0]) return toProcess(rows[0]);
    return this.refused(q, pid, expectEpoch);
  }

  /** SET list, WHERE clause (pid = $1, fenced by the epoch when given) and parameters of a process patch. */
  private patchSql(
    pid: number,
    patch: ProcessPatch,
    expectEpoch?: number,
  ): { sets: string; where: string; params: unknown[] } {
    const sets: string[] = ['updated_at = now()'];
    const params: unknown[] = [pid];
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      const col = COLUMNS[k as keyof ProcessPatch];
      if (!col) throw new KernelError('EINVAL', `updateProcess: "${k}" is not a writable process field`);
      if (k === 'state') checkState(v as ProcessState);
      params.push(col[1] ? jsonParam(v) : v);
      sets.push(`${col[0]} = $${params.length}${col[1] ? '::jsonb' : ''}`);
    }
    if (patch.programState !== undefined) {
      // A whole state: the steps' deltas before it are history, not part of it.
      if (patch.stepNo === undefined) sets.push('state_step = step_no');
      else {
        params.push(patch.stepNo);
        sets.push(`state_step = $${params.length}::integer`);
      }
    }
    let where = 'pid = $1';
    if (expectEpoch !== undefined) {
      // The holder's epoch, and (on a node) a lease that has not run out: a writer paused past its lease
      // is fenced even before anyone else takes the process.
      params.push(expectEpoch);
      where += ` AND lease_epoch = $${params.length} AND (lease_expires_at IS NULL OR lease_expires_at > now())`;
    }
    return { sets: sets.join(', '), where, params };
  }

  /** Why a fenced process update matched no row: throws ENOPROC or EFENCED. */
  private async refused(q: Queryable, pid: number, expectEpoch?: number): Promise<never> {
    const cur = await q.query<Row>(
      'SELECT lease_epoch, owner_node, lease_expires_at <= now() AS expired FROM processes WHERE pid = $1',
      [pid],
    );
    if (!cur.rows[0]) throw new KernelError('ENOPROC', `no process with pid ${pid}`, { details: { pid } });
    if (cur.rows[0].expired === true && num(cur.rows[0].lease_epoch) === expectEpoch)
      throw new KernelError(
        'EFENCED',
        `pid ${pid}: the lease of node ${String(cur.rows[0].owner_node)} ran out before this write (a paused or ` +
          'partitioned node): it must stop driving the process; another node will claim it',
        { details: { pid, expectEpoch, expired: true } },
      );
    throw new KernelError(
      'EFENCED',
      `pid ${pid} is owned by lease epoch ${num(cur.rows[0].lease_epoch)} (node ${String(cur.rows[0].owner_node)}), ` +
        `not ${expectEpoch}: this writer lost its lease and must stop driving the process`,
      { details: { pid, expectEpoch, actualEpoch: num(cur.rows[0].lease_epoch) } },
    );
  }

  /**
   * Snapshot of the process row. `whole`: the caller just wrote the whole state; otherwise the state is
   * made whole first (the base with the deltas after it, written back as the new base under a row lock)
   * when steps after the base carry deltas.
   */
  private async snapshot(q: Queryable, pid: number, reason: SnapshotReason, whole = false): Promise<number> {
    if (!whole) {
      const { rows: cur } = await q.query<Row>(
        `SELECT p.program_state, ${stateDeltasColumn('p')} FROM processes p WHERE pid = $1 FOR UPDATE`,
        [pid],
      );
      if (cur[0] && (cur[0].state_deltas as unknown[] | null)?.length) {
        await q.query('UPDATE processes SET program_state = $2::jsonb, state_step = step_no WHERE pid = $1', [
          pid,
          jsonParam(programStateOf(cur[0])),
        ]);
      }
    }
    const { rows } = await q.query<Row>(
      `INSERT INTO snapshots (pid, step_no, program_state, process, reason)
       SELECT pid, step_no, program_state, to_jsonb(p) - 'program_state', $2 FROM processes p WHERE pid = $1
       RETURNING id`,
      [pid, reason],
    );
    if (!rows[0]) throw new KernelError('ENOPROC', `no process with pid ${pid}`, { details: { pid } });
    return num(rows[0].id);
  }
}

function stateDeltaParam(input: CommitStepInput): string | null {
  if (input.stateDelta === undefined) return null;
  if (input.processPatch?.programState !== undefined) {
    throw new KernelError(
      'EINVAL',
      `commitStep: step ${input.stepNo} of pid ${input.pid} carries both a whole program state and a delta; pass one`,
    );
  }
  return input.stateDelta;
}

function checkState(s: string): void {
  if (!PROCESS_STATES.includes(s as ProcessState)) {
    throw new KernelError(
      'EINVAL',
      `invalid process state "${s}": expected one of ${PROCESS_STATES.join(', ')}`,
    );
  }
}
