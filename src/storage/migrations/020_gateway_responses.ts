/**
 * Stored responses of the gateway's OpenAI Responses API (src/gateway/response-store.ts): a response made
 * with `store` omitted or true is kept under its `resp_…` id, in its tenant, with the session and process
 * that answered it — the resolved input items (everything the model saw but the instructions) and the
 * output items, so `previous_response_id` can rebuild the conversation and GET can answer — until
 * `expires_at` (config.gateway.response_retention_days), after which it is neither found nor kept.
 */
import type { Migration } from './migration.js';

export const m020GatewayResponses: Migration = {
  version: 20,
  name: 'gateway_responses',
  up: () => [
    `CREATE TABLE gateway_responses (
      tenant text NOT NULL,
      id text NOT NULL,
      session text NOT NULL,
      pid integer,
      model text NOT NULL,
      status text NOT NULL,
      input jsonb NOT NULL,
      output jsonb NOT NULL,
      request jsonb NOT NULL,
      usage jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (tenant, id)
    )`,
    'CREATE INDEX gateway_responses_expiry ON gateway_responses (expires_at)',
  ],
};
