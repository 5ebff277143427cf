/**
 * The call journal (table gateway_journal, migration 009): one row per call the gateway answered — request
 * hash, the response, usage, cost, latency, and whether it was served from the journal. Replay: the k-th
 * occurrence of a request hash in a session (counted within the session's current process) is answered by
 * the k-th journaled live answer to that hash in the same tenant + session, when there is one. Identical
 * agents re-run after a crash ask the same things in the same order, so their finished calls replay.
 *
 * A call's row rides its step's commit (hold: one statement per call, the row stored with its step); a row
 * with no step to ride is group-written on its own (append). Reads wait for the rows of calls already
 * answered: a session's next call for its previous step's commit (a session's calls are sequential).
 *
 * A stored Responses API response (./response-store.ts) travels in its call's row (`stored`): the step
 * commit's statement inserts it into gateway_responses too, so storing it costs no statement of its own.
 */
import type { StepContext } from '../abi.js';
import { holdEntry } from '../kernel/held-calls.js';
import type { ChatResponse } from '../llm/model.js';
import { GATEWAY_JOURNAL_BATCH_ROWS } from '../param.js';
import type { Queryable, StorageDriver } from '../storage/driver.js';
import { num } from '../storage/sql.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import { jsonbText } from '../util/storable.js';
import type { GatewayCall } from './call.js';
import type { StoredResponse } from './response-store.js';

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
  /** A Responses API response to store with the row (`store` omitted or true), kept `ttlS` seconds. */
  stored?: { response: StoredResponse; ttlS: number } | null;
}

/** The stored response as the commit's statement reads it from the row's JSON (state-store.ts). */
function storedJson(e: JournalEntry): Record<string, unknown> | null {
  if (!e.stored) return null;
  const r = e.stored.response;
  return {
    id: r.id,
    status: r.status,
    input: r.input,
    output: r.output,
    request: r.request,
    usage: r.usage,
    ttl_s: e.stored.ttlS,
  };
}

/** What identifies "the same request": the model and everything the model sees, not the dialect or stream flag. */
export function requestHash(call: GatewayCall): string {
  return sha256Hex(canonicalJson({ model: call.model, chat: call.chat }));
}

const COLUMNS = 13;

/** A row held for its step's commit: whose it is, and its storing (settled either way). */
type Ride = { tenant: string; stored: Promise<void> };

export class CallJournal {
  /** Entries waiting for the next group write, and the promise every one of their writers awaits. */
  private pending: Array<{ e: JournalEntry; done: () => void; fail: (err: unknown) => void }> = [];
  private scheduled: Promise<void> | null = null;
  /** Per tenant + session: its rows held for their steps' commits (hold), settled once stored or failed. */
  private riding = new Map<string, Ride>();

  constructor(private readonly driver: StorageDriver) {}

  /**
   * Journals a call answered in `step`: its row is written by the step's commit, in the commit's one
   * statement or transaction (../kernel/held-calls.ts holdEntry), or on its own if the step does not
   * commit it. Resolves once it is stored. The step must go on to its commit, not wait for this.
   */
  hold(step: StepContext, e: JournalEntry): Promise<void> {
    let settled!: (err?: unknown) => void;
    const stored = new Promise<void>((done, fail) => {
      settled = (err) => (err === undefined ? done() : fail(err));
    });
    holdEntry(step, {
      json: jsonbText({
        tenant: e.tenant,
        session: e.session,
        request_hash: e.requestHash,
        dialect: e.dialect,
        model: e.model,
        response: e.response,
        error: e.error,
        usage: e.usage ?? {},
        cost_usd: Number.isFinite(e.costUsd) ? e.costUsd : 0,
        latency_ms: Number.isFinite(e.latencyMs) ? e.latencyMs : 0,
        replayed: e.replayed,
        cache: e.cache ?? null,
        stored: storedJson(e),
      }),
      insert: (q) => this.insert(q, [e]),
      settled,
    });
    const key = `${e.tenant}/${e.session}`;
    // After any row of the session still riding (a process of it that is ending while the next one answers).
    const before = this.riding.get(key)?.stored;
    const own = stored.catch(() => undefined);
    const ride: Ride = { tenant: e.tenant, stored: before ? Promise.all([before, own]).then(() => {}) : own };
    this.riding.set(key, ride);
    void ride.stored.then(() => {
      if (this.riding.get(key) === ride) this.riding.delete(key);
    });
    return stored;
  }

  /** Waits for the held rows of the session (both given), of the tenant, or of everyone (neither). */
  private async landedFor(tenant: string | null, session?: string): Promise<void> {
    if (tenant !== null && session !== undefined) {
      await this.riding.get(`${tenant}/${session}`)?.stored;
      return;
    }
    const waits: Array<Promise<void>> = [];
    for (const r of this.riding.values()) if (tenant === null || r.tenant === tenant) waits.push(r.stored);
    await Promise.all(waits);
  }

  /**
   * Journals a call that has no step to ride (see hold). Writes are grouped: every entry appended in the
   * same turn of the event loop goes to storage in one multi-row INSERT (one statement, one commit) — with
   * 100 sessions answering at once that is one write instead of 100, and the first write starts only
   * after the answers went out (setImmediate runs after the HTTP replies' microtasks). Resolves once this
   * entry is stored.
   */
  append(e: JournalEntry): Promise<void> {
    return new Promise<void>((done, fail) => {
      this.pending.push({ e, done, fail });
      if (!this.scheduled)
        this.scheduled = new Promise<void>((r) => setImmediate(r)).then(() => this.flushNow());
    });
  }

  /** Writes what append left pending (reads call this first, so a replay always sees every answered call). */
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
    try {
      await this.insert(
        this.driver,
        batch.map((b) => b.e),
      );
      for (const b of batch) b.done();
    } catch (err) {
      for (const b of batch) b.fail(err);
    }
  }

  /** One multi-row INSERT of `entries`, with `q` (the driver, or a step commit's transaction). */
  private async insert(q: Queryable, entries: readonly JournalEntry[]): Promise<void> {
    const values: string[] = [];
    const params: unknown[] = [];
    for (const e of entries) {
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
    // Rows keep their arrival order (ids ascend in VALUES order): replay matches occurrences by id.
    await q.query(
      `INSERT INTO gateway_journal (tenant, session, pid, request_hash, dialect, model, response, error, usage,
         cost_usd, latency_ms, replayed, cache)
       VALUES ${values.join(',')}`,
      params,
    );
    const stored = entries.filter((e) => e.stored);
    if (stored.length) await this.insertStored(q, stored);
  }

  /** The stored responses of `entries` (rows written without a step commit to ride: one more statement). */
  private async insertStored(q: Queryable, entries: readonly JournalEntry[]): Promise<void> {
    await q.query(
      `INSERT INTO gateway_responses (tenant, id, session, pid, model, status, input, output, request, usage,
         expires_at)
       SELECT v.tenant, v.stored->>'id', v.session, v.pid, v.model, v.stored->>'status', v.stored->'input',
         v.stored->'output', v.stored->'request', v.stored->'usage',
         now() + (v.stored->>'ttl_s')::double precision * interval '1 second'
       FROM jsonb_to_recordset($1::jsonb) AS v(tenant text, session text, pid integer, model text, stored jsonb)
       ON CONFLICT (tenant, id) DO NOTHING`,
      [
        jsonbText(
          entries.map((e) => ({
            tenant: e.tenant,
            session: e.session,
            pid: e.pid,
            model: e.model,
            stored: storedJson(e),
          })),
        ),
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
    await this.flush();
    await this.landedFor(tenant, session);
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

  /**
   * Settled usage of a tenant, for its quotas after a restart: live calls only (replays cost nothing), and a
   * call that failed midway counts what it was billed; `calls` counts the answered ones.
   */
  async tenantUsage(tenant: string): Promise<{ tokens: number; costUsd: number; calls: number }> {
    await this.flush();
    await this.landedFor(tenant);
    const { rows } = await this.driver.query<Row>(
      `SELECT count(*) FILTER (WHERE response IS NOT NULL) AS calls, coalesce(sum(cost_usd), 0) AS cost,
              coalesce(sum(((usage->>'input')::bigint) + ((usage->>'output')::bigint)), 0) AS tokens
         FROM gateway_journal WHERE tenant = $1 AND replayed = false`,
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
    await this.landedFor(tenant);
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
