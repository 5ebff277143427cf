/**
 * Intent and result records of tool calls, keyed `${pid}:${stepNo}:${callIndex}` (the same for a re-run
 * step). The executor writes the intent (tool, arguments hash) BEFORE the effect and the result after it,
 * each committed on its own, so a crash leaves one of three facts behind: nothing (the call never started),
 * an intent without a result (it may or may not have had its effect), or the result (replayed, never re-run).
 * A tool may attach a plan to its intent (what the effect will leave behind, e.g. a file's content hash) so a
 * re-run can tell whether the interrupted attempt already took effect.
 * `MemoryIdempotencyStore` for tests and single runs; `SqlIdempotencyStore` on the kernel's storage (table
 * `tool_calls`, migrations 007 and 010).
 */
import { KernelError } from '../errors.js';
import type { Queryable } from '../storage/driver.js';
import { jsonbText } from '../util/storable.js';
import type { ToolResult } from './tool.js';

export interface IdempotencyRecord {
  key: string;
  tool: string;
  argsHash: string;
  result: ToolResult;
}

/** What a crash may leave: an intent whose outcome is unknown, or a finished call's result. */
export type CallRecord =
  | { state: 'intent'; key: string; tool: string; argsHash: string; plan: unknown; attempts: number }
  | { state: 'done'; key: string; tool: string; argsHash: string; result: ToolResult; attempts: number };

export interface IntentInput {
  key: string;
  tool: string;
  argsHash: string;
  pid?: number;
  stepNo?: number;
  callIndex?: number;
}

export interface IdempotencyStore {
  /** The finished call's record, if any (intents are not returned). */
  get(key: string): Promise<IdempotencyRecord | undefined>;
  /** Intent or result, whichever the key has. */
  lookup(key: string): Promise<CallRecord | undefined>;
  /** Writes the intent before the effect; an existing intent counts one more attempt. */
  intend(rec: IntentInput): Promise<void>;
  /** Attaches the tool's plan to its intent (before the effect is made). */
  plan(key: string, plan: unknown): Promise<void>;
  /** Records the result; a result already recorded is never replaced. */
  put(rec: IdempotencyRecord): Promise<void>;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly m = new Map<string, CallRecord>();
  async get(key: string): Promise<IdempotencyRecord | undefined> {
    const r = this.m.get(key);
    return r?.state === 'done' ? { key, tool: r.tool, argsHash: r.argsHash, result: r.result } : undefined;
  }
  async lookup(key: string): Promise<CallRecord | undefined> {
    return this.m.get(key);
  }
  async intend(rec: IntentInput): Promise<void> {
    const cur = this.m.get(rec.key);
    if (!cur) this.m.set(rec.key, { state: 'intent', ...pick(rec), plan: null, attempts: 1 });
    else if (cur.state === 'intent') cur.attempts += 1;
  }
  async plan(key: string, plan: unknown): Promise<void> {
    const cur = this.m.get(key);
    if (cur?.state === 'intent') cur.plan = plan;
  }
  async put(rec: IdempotencyRecord): Promise<void> {
    const cur = this.m.get(rec.key);
    if (cur?.state === 'done') return;
    this.m.set(rec.key, { state: 'done', ...pick(rec), result: rec.result, attempts: cur?.attempts ?? 1 });
  }
  get size(): number {
    return this.m.size;
  }
}

function pick(r: { key: string; tool: string; argsHash: string }) {
  return { key: r.key, tool: r.tool, argsHash: r.argsHash };
}

type Row = {
  key: string;
  tool: string;
  args_hash: string;
  result: unknown;
  state: string;
  plan: unknown;
  attempts: number | string;
};

const parse = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

/**
 * `epochOf` (on a node of a cluster) gives the lease epoch this writer holds for a pid: every intent and
 * result is then written only while the process row still carries that epoch and an unexpired lease, so a
 * node that was paused past its lease, or lost the process to another node, writes no record (EFENCED).
 * Calls from outside any process (`api:` keys) are not fenced.
 */
export class SqlIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly db: Queryable,
    private readonly epochOf?: (pid: number) => number | undefined,
  ) {}

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    const r = await this.lookup(key);
    return r?.state === 'done' ? { key, tool: r.tool, argsHash: r.argsHash, result: r.result } : undefined;
  }

  async lookup(key: string): Promise<CallRecord | undefined> {
    const { rows } = await this.db.query<Row>(
      'SELECT key, tool, args_hash, result, state, plan, attempts FROM tool_calls WHERE key = $1',
      [key],
    );
    const r = rows[0];
    if (!r) return undefined;
    const base = { key: r.key, tool: r.tool, argsHash: r.args_hash, attempts: Number(r.attempts) };
    return r.state === 'intent' || r.result === null
      ? { state: 'intent', ...base, plan: parse(r.plan) ?? null }
      : { state: 'done', ...base, result: parse(r.result) as ToolResult };
  }

  async intend(rec: IntentInput): Promise<void> {
    const pid = rec.pid ?? pidOf(rec.key);
    const params = [rec.key, pid, rec.tool, rec.argsHash, rec.stepNo ?? null, rec.callIndex ?? null];
    const epoch = this.fence(rec.key, pid);
    if (epoch === undefined) {
      await this.db.query(
        `INSERT INTO tool_calls AS t (key, pid, tool, args_hash, result, state, step_no, call_index)
         VALUES ($1, $2, $3, $4, NULL, 'intent', $5, $6)
         ON CONFLICT (key) DO UPDATE SET attempts = t.attempts + 1 WHERE t.state = 'intent'`,
        params,
      );
      return;
    }
    const r = await this.db.query(
      `INSERT INTO tool_calls AS t (key, pid, tool, args_hash, result, state, step_no, call_index)
       SELECT $1::text, $2::bigint, $3::text, $4::text, NULL, 'intent', $5::integer, $6::integer
       WHERE ${fenced('$2', '$7')}
       ON CONFLICT (key) DO UPDATE SET attempts = t.attempts + 1 WHERE t.state = 'intent'`,
      [...params, epoch],
    );
    if (r.rowCount === 0) await this.checkFence(pid as number, epoch);
  }

  async plan(key: string, plan: unknown): Promise<void> {
    await this.db.query("UPDATE tool_calls SET plan = $2::jsonb WHERE key = $1 AND state = 'intent'", [
      key,
      jsonbText(plan ?? null),
    ]);
  }

  async put(rec: IdempotencyRecord): Promise<void> {
    const pid = pidOf(rec.key);
    const params = [rec.key, pid, rec.tool, rec.argsHash, jsonbText(rec.result)];
    const epoch = this.fence(rec.key, pid);
    if (epoch === undefined) {
      await this.db.query(
        `INSERT INTO tool_calls AS t (key, pid, tool, args_hash, result, state) VALUES ($1, $2, $3, $4, $5::jsonb, 'done')
         ON CONFLICT (key) DO UPDATE SET result = EXCLUDED.result, state = 'done' WHERE t.state = 'intent'`,
        params,
      );
      return;
    }
    const r = await this.db.query(
      `INSERT INTO tool_calls AS t (key, pid, tool, args_hash, result, state)
       SELECT $1::text, $2::bigint, $3::text, $4::text, $5::jsonb, 'done' WHERE ${fenced('$2', '$6')}
       ON CONFLICT (key) DO UPDATE SET result = EXCLUDED.result, state = 'done' WHERE t.state = 'intent'`,
      [...params, epoch],
    );
    if (r.rowCount === 0) await this.checkFence(pid as number, epoch);
  }

  /** The epoch to fence a write of `key` with, or undefined (no fencing: one node, or an API call). */
  private fence(key: string, pid: number | null): number | undefined {
    if (!this.epochOf || pid === null || key.startsWith('api:')) return undefined;
    return this.epochOf(pid);
  }

  /** A fenced write that wrote nothing: EFENCED when the lease is the reason (else the record existed). */
  private async checkFence(pid: number, epoch: number): Promise<void> {
    const { rows } = await this.db.query<{ ok: boolean }>(`SELECT ${fenced('$1', '$2')} AS ok`, [pid, epoch]);
    if (rows[0]?.ok) return;
    throw new KernelError(
      'EFENCED',
      `pid ${pid}: this node no longer holds lease epoch ${epoch} (taken over, or its lease ran out): ` +
        'the tool call record is not written and the node must stop driving the process',
      { details: { pid, expectEpoch: epoch } },
    );
  }
}

/** The writer still holds the process: its epoch and an unexpired lease (pid and epoch parameters). */
const fenced = (pid: string, epoch: string) => `EXISTS (SELECT 1 FROM processes WHERE pid = ${pid}::bigint
  AND lease_epoch = ${epoch}::bigint AND (lease_expires_at IS NULL OR lease_expires_at > now()))`;

function pidOf(key: string): number | null {
  const pid = Number(key.split(':')[0]);
  return Number.isFinite(pid) ? pid : null;
}
