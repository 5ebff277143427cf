/**
 * Stored responses of the OpenAI Responses API (table gateway_responses, migration 020). A response made
 * with `store` omitted or true is kept under its `resp_…` id in its tenant, with the session and process
 * that answered it: the resolved input items (everything the model saw but the instructions), the output
 * items, the request's echoed parameters and the usage — what `previous_response_id` needs to rebuild the
 * conversation and what GET /v1/responses/{id} answers. Kept for config.gateway.response_retention_days;
 * an expired row is never found and is deleted by the purge (Gateway runs it periodically).
 *
 * The row rides its call's step commit (a field of the call's journal row, ./journal.ts: no statement of
 * its own); the answer goes out before that commit, so a lookup first waits for the rows of answers
 * already sent (`landing`), as the journal's reads do. The wire shapes are ./responses-wire.ts's.
 */
import { GATEWAY_RESPONSE_MISS_WAIT_MS } from '../param.js';
import type { StorageDriver } from '../storage/driver.js';
import { num } from '../storage/sql.js';

type Row = Record<string, unknown>;

/** What a stored response holds: the shape the journal row carries to the step commit. */
export interface StoredResponse {
  id: string;
  status: string;
  /** The resolved input items (the previous response's input + output + this request's input), with ids. */
  input: Array<Record<string, unknown>>;
  output: Array<Record<string, unknown>>;
  /** The request's echoed parameters (model, instructions, tools, …, previous_response_id) and `created_at`. */
  request: Record<string, unknown>;
  /** Usage in the Responses API's shape. */
  usage: Record<string, unknown>;
}

/** A stored response as read back, with who answered it. */
export interface StoredRow extends StoredResponse {
  tenant: string;
  session: string;
  pid: number | null;
  model: string;
}

const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

function rowOf(r: Row): StoredRow {
  return {
    tenant: String(r.tenant),
    id: String(r.id),
    session: String(r.session),
    pid: r.pid === null || r.pid === undefined ? null : num(r.pid),
    model: String(r.model),
    status: String(r.status),
    input: json(r.input) as StoredRow['input'],
    output: json(r.output) as StoredRow['output'],
    request: json(r.request) as StoredRow['request'],
    usage: json(r.usage) as StoredRow['usage'],
  };
}

export class ResponseStore {
  /** Rows of answers already sent, still riding their step's commit: id → settled once stored or failed. */
  private readonly riding = new Map<string, Promise<void>>();

  constructor(private readonly driver: StorageDriver) {}

  /** The row of response `id` is on its way (its journal row's storing): lookups of it wait for it. */
  landing(id: string, stored: Promise<void>): void {
    const p = stored.catch(() => undefined);
    this.riding.set(id, p);
    void p.then(() => {
      if (this.riding.get(id) === p) this.riding.delete(id);
    });
  }

  /** The tenant's unexpired stored response `id`, or null (unknown, another tenant's, expired, deleted). */
  async get(tenant: string, id: string): Promise<StoredRow | null> {
    await this.riding.get(id);
    // On a cluster the answer may have come from another node whose step has not committed yet (the answer
    // goes out first): a miss is looked up again for a moment before it is reported.
    const until =
      performance.now() + (this.driver.capabilities.multipleConnections ? GATEWAY_RESPONSE_MISS_WAIT_MS : 0);
    for (;;) {
      const { rows } = await this.driver.query<Row>(
        `SELECT tenant, id, session, pid, model, status, input, output, request, usage FROM gateway_responses
          WHERE tenant = $1 AND id = $2 AND expires_at > now()`,
        [tenant, id],
      );
      if (rows[0]) return rowOf(rows[0]);
      if (performance.now() >= until) return null;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Deletes the tenant's stored response `id`; false when there was none to delete. */
  async delete(tenant: string, id: string): Promise<boolean> {
    await this.riding.get(id);
    const r = await this.driver.query(
      'DELETE FROM gateway_responses WHERE tenant = $1 AND id = $2 AND expires_at > now()',
      [tenant, id],
    );
    return r.rowCount > 0;
  }

  /** Deletes every expired stored response; returns how many. */
  async purge(): Promise<number> {
    const r = await this.driver.query('DELETE FROM gateway_responses WHERE expires_at <= now()');
    return r.rowCount;
  }
}
