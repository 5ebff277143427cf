/**
 * Runs a conformance suite once per storage backend: in-memory PGlite, and the real PostgreSQL server
 * (AOS_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test) in a throwaway schema that is created
 * and dropped per run. When the server is unreachable the Postgres run fails under CI=true and is skipped
 * with the reason otherwise.
 */
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe } from 'vitest';
import type { StorageDriver } from '../driver.js';
import { openStorage } from '../open.js';
import { ident } from '../sql.js';

export const TEST_PG_URL = process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BackendContext {
  readonly kind: 'pglite' | 'postgres';
  readonly driver: StorageDriver;
  /** A second, independent connection to the same database and schema (Postgres only; null on PGlite). */
  openAnother(): Promise<StorageDriver | null>;
}

export type Suite = (ctx: () => BackendContext) => void;

let reachable: Promise<string | null> | null = null;

/** null when the server accepts TCP connections, else the reason it does not. */
export function pgUnreachableReason(url = TEST_PG_URL): Promise<string | null> {
  reachable ??= new Promise((resolve) => {
    const u = new URL(url);
    const sock = new Socket();
    const done = (why: string | null) => {
      sock.destroy();
      resolve(why);
    };
    sock.setTimeout(1500, () => done(`PostgreSQL at ${u.host} did not answer within 1.5 s`));
    sock.once('error', (e) => done(`PostgreSQL at ${u.host} is unreachable (${e.message})`));
    sock.connect(Number(u.port || 5432), u.hostname, () => done(null));
  });
  return reachable;
}

export function randomSchema(): string {
  return `aos_test_${Math.random().toString(36).slice(2, 10)}`;
}

/** Opens a migrated Postgres driver in a fresh schema; drop() removes the schema. */
export async function openTestPostgres(): Promise<{
  driver: StorageDriver;
  schema: string;
  drop(): Promise<void>;
}> {
  const schema = randomSchema();
  console.info(`[storage tests] PostgreSQL run at ${new URL(TEST_PG_URL).host}, throwaway schema ${schema}`);
  const driver = await openStorage(TEST_PG_URL, { schema });
  return {
    driver,
    schema,
    async drop() {
      try {
        await driver.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
        console.info(`[storage tests] dropped schema ${schema}`);
      } finally {
        await driver.close();
      }
    },
  };
}

export async function describeBackends(title: string, suite: Suite): Promise<void> {
  describe(`${title} [pglite memory://]`, () => {
    let driver: StorageDriver | undefined;
    beforeAll(async () => {
      driver = await openStorage('memory://');
    });
    afterAll(async () => {
      await driver?.close();
    });
    suite(() => ({ kind: 'pglite', driver: driver!, openAnother: async () => null }));
  });

  const why = await pgUnreachableReason();
  const ci = process.env.CI === 'true' || process.env.CI === '1';
  if (why && !ci) {
    describe.skip(`${title} [postgres] — skipped: ${why} (set AOS_TEST_PG_URL; under CI=true this fails)`, () => {
      suite(() => {
        throw new Error('skipped');
      });
    });
    return;
  }
  describe(`${title} [postgres ${new URL(TEST_PG_URL).host}]`, () => {
    let pg: Awaited<ReturnType<typeof openTestPostgres>> | undefined;
    const extra: StorageDriver[] = [];
    beforeAll(async () => {
      if (why) throw new Error(`CI requires the PostgreSQL run: ${why}`);
      pg = await openTestPostgres();
    });
    afterAll(async () => {
      for (const d of extra) await d.close();
      await pg?.drop();
    });
    suite(() => ({
      kind: 'postgres',
      driver: pg!.driver,
      openAnother: async () => {
        const d = await openStorage(TEST_PG_URL, { schema: pg!.schema, migrate: false });
        extra.push(d);
        return d;
      },
    }));
  });
}
