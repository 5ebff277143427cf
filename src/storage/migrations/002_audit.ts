/** Append-only audit log: a hash chain per stream; triggers refuse UPDATE, DELETE and TRUNCATE. */
import type { Migration } from './migration.js';

export const m002Audit: Migration = {
  version: 2,
  name: 'audit',
  up: () => [
    `CREATE TABLE audit_log (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      stream text NOT NULL,
      seq bigint NOT NULL,
      ts timestamptz NOT NULL,
      kind text NOT NULL,
      actor text NOT NULL,
      payload jsonb NOT NULL,
      prev_hash text NOT NULL,
      hash text NOT NULL,
      UNIQUE (stream, seq)
    )`,
    `CREATE FUNCTION aos_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$`,
    `CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION aos_audit_append_only()`,
    `CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION aos_audit_append_only()`,
  ],
};
