/**
 * The call journal (table gateway_journal, migration 009): one row per call the gateway answered — request
 * hash, the response, usage, cost, latency, and whether it was served from the journal. Replay: the k-th
 * occurrence of a request hash in a session (counted within the session's current process) is answered by
 * the k-th journaled live answer to that hash in the same tenant + session, when there is one. Identical
 * agents re-run after a crash ask the same things in the same order, so their finished calls replay.
 */
import type { ChatResponse } from '../llm/model.js';
import { GATEWAY_JOURNAL_BATCH_ROWS } from '../param.js';
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

const COLUMNS = 13;

export class CallJournal {
  /** Entries waiting for the next group write, and the promise every one of their writers awaits. */
  private pending: Array<{ e: JournalEntry; done: () => void; fail: (err: unknown) => void }> = [];
  private scheduled: Promise<void> | null = null;

  constructor(private readonly driver: StorageDriver) {}

  /**
   * Journals a call. Writes are grouped: every entry appended in the same turn of the event loop goes to
   * storage in one multi-row INSERT (one statement, one commit) — with 100 sessions answering at once that
   * is one write instead of 100, and the first write starts only after the answers went out (setImmediate
   * runs after the HTTP replies' microtasks). Resolves once this entry is stored.
   */
  append(e: JournalEntry): Promise<void> {
    return new Promise<void>((done, fail) => {
      this.pending.push({ e, done, fail });
      if (!this.scheduled)
        this.scheduled = new Promise<void>((r) => setImmediate(r)).then(() => this.flushNow());
    });
  }

  /** Writes what is pending now (lookups call this first, so a replay always sees every answered call). */
  async flush(): Promise<void> {
    if (this.scheduled) await this.scheduled;
  }

  private async flushNow(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    this.scheduled = null;
    for (let i = 0; i < all.length; i += GATEWAY_JOURNAL_BATCH_ROWS)
      await this.write(all.slice(i, i + GATEWAY_JOURNAL_BATCH_ROWS));
  }

  private async write(batch: CallJournal['pending']): Promise<void> {
    const values: string[] = [];
    const params: unknown[] = [];
    for (const { e } of batch) {
      const base = params.length;
      values.push(`(${Array.from({ length: COLUMNS }, (_, i) => `$${base + i + 1}`).join(',')})`);
      params.push(
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
      );
    }
    try {
      // Rows keep their arrival order (ids ascend in VALUES order): replay matches occurrences by id.
      await this.driver.query(
        `INSERT INTO gateway_journal (tenant, session, pid, request_hash, dialect, model, response, error, usage,
           cost_usd, latency_ms, replayed, cache)
         VALUES ${values.join(',')}`,
        params,
      );
      for (const b of batch) b.done();
    } catch (err) {
      for (const b of batch) b.fail(err);
    }
  }

  /** The `occurrence`-th (0-based) live answer journaled for this hash in the session, or null. */
  async lookup(
    tenant: string,
    session: string,
    hash: string,
    occurrence: number,
  ): Promise<ChatResponse | null> {
    await this.flush();
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
    await this.flush();
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
    await this.flush();
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
