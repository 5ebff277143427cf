/**
 * The call journal (table gateway_journal, migration 009): one row per call the gateway answered — request
 * hash, the response, usage, cost, latency, and whether it was served from the journal. Replay: the k-th
 * occurrence of a request hash in a session (counted within the session's current process) is answered by
 * the k-th journaled live answer to that hash in the same tenant + session, when there is one. Identical
 * agents re-run after a crash ask the same things in the same order, so their finished calls replay.
 */
import type { ChatResponse } from '../llm/model.js';
import type { StorageDriver } from '../storage/driver.js';
import { num } from '../storage/sql.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import type { GatewayCall } from './call.js';

type Row = Record<string, unknown>;

export interface JournalEntry {
  tenant: string;
  session: string;
  pid: number | null;
  requestHash: string;
  dialect: string;
  model: string;
  response: ChatResponse | null;
  error: { code: string; message: string } | null;
  usage: ChatResponse['usage'] | null;
  costUsd: number;
  latencyMs: number;
  replayed: boolean;
  cache: unknown;
}

/** What identifies "the same request": the model and everything the model sees, not the dialect or stream flag. */
export function requestHash(call: GatewayCall): string {
  return sha256Hex(canonicalJson({ model: call.model, chat: call.chat }));
}

export class CallJournal {
  constructor(private readonly driver: StorageDriver) {}

  async append(e: JournalEntry): Promise<void> {
    await this.driver.query(
      `INSERT INTO gateway_journal (tenant, session, pid, request_hash, dialect, model, response, error, usage,
         cost_usd, latency_ms, replayed, cache)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
      [
        e.tenant,
        e.session,
        e.pid,
        e.requestHash,
        e.dialect,
        e.model,
        e.response === null ? null : JSON.stringify(e.response),
        e.error === null ? null : JSON.stringify(e.error),
        JSON.stringify(e.usage ?? {}),
        e.costUsd,
        e.latencyMs,
        e.replayed,
        e.cache === undefined ? null : JSON.stringify(e.cache),
      ],
    );
  }

  /** The `occurrence`-th (0-based) live answer journaled for this hash in the session, or null. */
  async lookup(
    tenant: string,
    session: string,
    hash: string,
    occurrence: number,
  ): Promise<ChatResponse | null> {
    const { rows } = await this.driver.query<Row>(
      `SELECT response FROM gateway_journal
        WHERE tenant = $1 AND session = $2 AND request_hash = $3 AND replayed = false AND response IS NOT NULL
        ORDER BY id LIMIT 1 OFFSET $4`,
      [tenant, session, hash, occurrence],
    );
    const r = rows[0]?.response;
    if (r === undefined || r === null) return null;
    return (typeof r === 'string' ? JSON.parse(r) : r) as ChatResponse;
  }

  /** Settled usage of a tenant (live calls only: replays cost nothing), for its quotas after a restart. */
  async tenantUsage(tenant: string): Promise<{ tokens: number; costUsd: number; calls: number }> {
    const { rows } = await this.driver.query<Row>(
      `SELECT count(*) AS calls, coalesce(sum(cost_usd), 0) AS cost,
              coalesce(sum(((usage->>'input')::bigint) + ((usage->>'output')::bigint)), 0) AS tokens
         FROM gateway_journal WHERE tenant = $1 AND replayed = false AND response IS NOT NULL`,
      [tenant],
    );
    const r = rows[0] ?? {};
    return { tokens: num(r.tokens ?? 0), costUsd: Number(r.cost ?? 0), calls: num(r.calls ?? 0) };
  }

  /** Per-session counts for the sessions listing. */
  async sessionCounts(
    tenant: string | null,
  ): Promise<Map<string, { calls: number; replayed: number; errors: number }>> {
    const { rows } = await this.driver.query<Row>(
      `SELECT tenant, session, count(*) FILTER (WHERE replayed = false AND error IS NULL) AS calls,
              count(*) FILTER (WHERE replayed) AS replayed, count(*) FILTER (WHERE error IS NOT NULL) AS errors
         FROM gateway_journal ${tenant === null ? '' : 'WHERE tenant = $1'} GROUP BY tenant, session`,
      tenant === null ? [] : [tenant],
    );
    const out = new Map<string, { calls: number; replayed: number; errors: number }>();
    for (const r of rows)
      out.set(`${String(r.tenant)}/${String(r.session)}`, {
        calls: num(r.calls),
        replayed: num(r.replayed),
        errors: num(r.errors),
      });
    return out;
  }
}
