/**
 * The gateway (src/gateway): every call it forwards is journaled by request hash (what was asked, what came
 * back, usage, latency), so a re-run of a killed agent replays its finished calls at no model cost; gateway
 * keys are API tokens with a tenant.
 */
import type { Migration } from './migration.js';

export const m009Gateway: Migration = {
  version: 9,
  name: 'gateway',
  up: () => [
    'ALTER TABLE api_tokens ADD COLUMN tenant text',
    `CREATE TABLE gateway_journal (
      id bigserial PRIMARY KEY,
      tenant text NOT NULL,
      session text NOT NULL,
      pid integer,
      request_hash text NOT NULL,
      dialect text NOT NULL,
      model text NOT NULL,
      response jsonb,
      error jsonb,
      usage jsonb NOT NULL,
      cost_usd double precision NOT NULL DEFAULT 0,
      latency_ms double precision NOT NULL DEFAULT 0,
      replayed boolean NOT NULL DEFAULT false,
      cache jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX gateway_journal_session ON gateway_journal (tenant, session, request_hash, id)',
    'CREATE INDEX gateway_journal_tenant ON gateway_journal (tenant, created_at)',
  ],
};
