/**
 * A real PostgreSQL outage for one test's kernel only: a login role of its own (its schemas are the only
 * ones it touches), cut off by refusing new connections (CONNECTION LIMIT 0: 53300) and terminating every
 * backend it has (in-flight queries fail with 57P01), and let back in. Other tests on the same server are
 * untouched. drop() removes the role, what it owns and the schemas it was given.
 */
import pg from 'pg';
import { TEST_PG_URL } from '../../src/storage/testing/backends.case.js';

export interface OutageRole {
  readonly role: string;
  /** The superuser connection the role was made with (for checks on the role's tables). */
  readonly admin: pg.Client;
  /** A storage URL that logs in as the role and keeps its tables in `schema`. */
  url(schema: string): string;
  /** The outage: new connections refused, every open one terminated. */
  cut(): Promise<void>;
  /** The database takes the role's connections again. */
  restore(): Promise<void>;
  /** Drops the schemas, what the role owns and the role; closes the admin connection. Never throws. */
  drop(schemas: string[]): Promise<void>;
}

/** A new role `<prefix>_<pid>_<time>` that may create schemas in the test database. */
export async function outageRole(prefix: string): Promise<OutageRole> {
  const role = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  const db = (await admin.query('SELECT current_database() AS d')).rows[0].d as string;
  await admin.query(`CREATE ROLE ${role} LOGIN`);
  await admin.query(`GRANT CREATE ON DATABASE "${db}" TO ${role}`);
  return {
    role,
    admin,
    url(schema) {
      const u = new URL(TEST_PG_URL);
      u.username = role;
      u.password = '';
      u.searchParams.set('schema', schema);
      return u.toString();
    },
    async cut() {
      await admin.query(`ALTER ROLE ${role} CONNECTION LIMIT 0`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
    },
    async restore() {
      await admin.query(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
    },
    async drop(schemas) {
      const quiet = (sql: string) => admin.query(sql).catch(() => undefined);
      await quiet(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
      for (const s of schemas) await quiet(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await quiet(`DROP OWNED BY ${role}`);
      await quiet(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    },
  };
}
