/**
 * Idempotency records: the result of every non-idempotent tool call, keyed by `${pid}:${stepNo}:${callIndex}`.
 * When a step is retried after a crash, the executor finds the earlier result and returns it (replayed)
 * instead of repeating the side effect. `MemoryIdempotencyStore` for tests and single runs;
 * `SqlIdempotencyStore` on the kernel's storage (table `tool_calls`, migration 007_tool_calls).
 */

import type { Queryable } from '../storage/driver.js';
import { jsonbText } from '../util/storable.js';
import type { ToolResult } from './tool.js';

export interface IdempotencyRecord {
  key: string;
  tool: string;
  argsHash: string;
  result: ToolResult;
}

export interface IdempotencyStore {
  get(key: string): Promise<IdempotencyRecord | undefined>;
  put(rec: IdempotencyRecord): Promise<void>;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly m = new Map<string, IdempotencyRecord>();
  async get(key: string): Promise<IdempotencyRecord | undefined> {
    return this.m.get(key);
  }
  async put(rec: IdempotencyRecord): Promise<void> {
    if (!this.m.has(rec.key)) this.m.set(rec.key, rec);
  }
  get size(): number {
    return this.m.size;
  }
}

export class SqlIdempotencyStore implements IdempotencyStore {
  constructor(private readonly db: Queryable) {}

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    const { rows } = await this.db.query<{ key: string; tool: string; args_hash: string; result: unknown }>(
      'SELECT key, tool, args_hash, result FROM tool_calls WHERE key = $1',
      [key],
    );
    const r = rows[0];
    if (!r) return undefined;
    const result = (typeof r.result === 'string' ? JSON.parse(r.result) : r.result) as ToolResult;
    return { key: r.key, tool: r.tool, argsHash: r.args_hash, result };
  }

  async put(rec: IdempotencyRecord): Promise<void> {
    const pid = Number(rec.key.split(':')[0]);
    await this.db.query(
      `INSERT INTO tool_calls (key, pid, tool, args_hash, result) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (key) DO NOTHING`,
      [rec.key, Number.isFinite(pid) ? pid : null, rec.tool, rec.argsHash, jsonbText(rec.result)],
    );
  }
}
