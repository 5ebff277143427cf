/** Bearer tokens of the HTTP API (src/api/auth.ts): only the SHA-256 of a token is stored, never the token. */
import type { Migration } from './migration.js';

export const m008ApiTokens: Migration = {
  version: 8,
  name: 'api_tokens',
  up: () => [
    `CREATE TABLE api_tokens (
      id text PRIMARY KEY,
      name text NOT NULL,
      role text NOT NULL CHECK (role IN ('admin','operator','viewer')),
      token_hash text NOT NULL UNIQUE,
      created_by text,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    )`,
  ],
};
