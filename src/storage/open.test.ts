/**
 * Driver-level behaviour: URL parsing, clear errors for bad URLs and a dead server, migrations that are
 * idempotent, refuse an edited migration, and serialise two nodes migrating one fresh schema at once.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../errors.js';
import { PG_CONNECT_TIMEOUT_MS } from '../param.js';
import { MIGRATIONS, migrate, migrationChecksum } from './migrations/index.js';
import type { Migration } from './migrations/migration.js';
import { openStorage, parseStorageUrl } from './open.js';
import { ident } from './sql.js';
import { pgUnreachableReason, randomSchema, TEST_PG_URL } from './testing/backends.case.js';

describe('storage URLs', () => {
  it('parses memory://, pglite:// and postgres:// (schema from the query string)', () => {
    expect(parseStorageUrl('memory://')).toEqual({ kind: 'memory' });
    expect(parseStorageUrl('pglite:///var/aos')).toEqual({ kind: 'pglite', dataDir: '/var/aos' });
    expect(parseStorageUrl('pglite://', { dataDir: '/srv/aos' })).toEqual({
      kind: 'pglite',
      dataDir: '/srv/aos/data',
    });
    const pg = parseStorageUrl('postgres://u:secret@db:5432/k?schema=tenant1&sslmode=disable');
    expect(pg).toEqual({
      kind: 'postgres',
      url: 'postgres://u:secret@db:5432/k?sslmode=disable',
      schema: 'tenant1',
    });
  });

  it('rejects unsupported URLs without echoing the password', () => {
    const err = (() => {
      try {
        parseStorageUrl('mysql://root:hunter2hunter2@db/x');
      } catch (e) {
        return e as KernelError;
      }
    })();
    expect(err?.code).toBe('EINVAL');
    expect(err?.message).toMatch(/memory:\/\/, pglite:\/\/PATH or postgres:\/\//);
    expect(() => parseStorageUrl('pglite://')).toThrow(/no path/);
  });

  it('a refused connection names the URL (password redacted) and the fix', async () => {
    const err = await openStorage('postgres://aos:topsecretpw@127.0.0.1:1/none').catch((e: unknown) => e);
    expect(KernelError.is(err, 'EBACKEND')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain(
      'cannot connect to PostgreSQL at postgres://aos:[redacted:postgres-password]@127.0.0.1:1/none',
    );
    expect(msg).not.toContain('topsecretpw');
    expect(msg).toMatch(/start the server/);
  });

  it('rejects an invalid schema name', async () => {
    await expect(openStorage('memory://', { schema: 'bad-name;drop' })).rejects.toMatchObject({
      code: 'EINVAL',
    });
  });
});

describe('migrations [pglite memory://]', () => {
  it('apply once, are idempotent, and refuse an edited migration', async () => {
    const d = await openStorage('memory://', { migrate: false });
    try {
      const first = await migrate(d);
      expect(first.applied.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect((await migrate(d)).applied).toEqual([]);
      const rows = await d.query<{ version: number; checksum: string }>(
        'SELECT version, checksum FROM aos_migrations',
      );
      expect(rows.rows.length).toBe(MIGRATIONS.length);
      expect(rows.rows[0]!.checksum).toBe(migrationChecksum(MIGRATIONS[0]!));
      const edited: Migration[] = MIGRATIONS.map((m, i) =>
        i === 1 ? { ...m, up: (c) => [...m.up(c), 'CREATE INDEX x ON audit_log (kind)'] } : m,
      );
      await expect(migrate(d, edited)).rejects.toMatchObject({ code: 'EINTEGRITY' });
      await expect(migrate(d, MIGRATIONS.slice(0, 3))).rejects.toThrow(/newer kernel/);
    } finally {
      await d.close();
    }
  });

  it('a failing migration rolls back completely', async () => {
    const d = await openStorage('memory://', { migrate: false });
    try {
      const broken: Migration[] = [
        ...MIGRATIONS,
        {
          version: MIGRATIONS.length + 1,
          name: 'broken',
          up: () => ['CREATE TABLE ok_t (a int)', 'SELECT nope()'],
        },
      ];
      await expect(migrate(d, broken)).rejects.toMatchObject({ code: 'EBACKEND' });
      const t = await d.query("SELECT to_regclass('processes') AS p, to_regclass('ok_t') AS o");
      expect(t.rows[0]).toEqual({ p: null, o: null });
    } finally {
      await d.close();
    }
  });
});

const why = await pgUnreachableReason();
const ci = process.env.CI === 'true' || process.env.CI === '1';
describe.skipIf(why !== null && !ci)(`migrations [postgres]${why ? ` — skipped: ${why}` : ''}`, () => {
  it('two nodes migrating one fresh schema at once: one applies, the other sees it done', async () => {
    if (why) throw new Error(`CI requires the PostgreSQL run: ${why}`);
    const schema = randomSchema();
    console.info(`[storage tests] concurrent migration on PostgreSQL, throwaway schema ${schema}`);
    const a = await openStorage(TEST_PG_URL, { schema, migrate: false });
    const b = await openStorage(TEST_PG_URL, { schema, migrate: false });
    try {
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      const counts = [ra.applied.length, rb.applied.length].sort();
      expect(counts).toEqual([0, MIGRATIONS.length]);
      const col = await a.query<{ t: string }>(
        "SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'memories'::regclass AND attname = 'embedding'",
      );
      expect(col.rows[0]?.t).toBe(a.capabilities.vector ? 'vector(256)' : 'real[]');
    } finally {
      await a.query(`DROP SCHEMA ${ident(schema)} CASCADE`);
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe.skipIf(why !== null && !ci)(`the pool [postgres]${why ? ` — skipped: ${why}` : ''}`, () => {
  it('a statement waits for a busy pool instead of failing after the connect timeout', async () => {
    if (why) throw new Error(`CI requires the PostgreSQL run: ${why}`);
    // One connection, held by a transaction for longer than PG_CONNECT_TIMEOUT_MS: the second statement
    // queues for it (200 agents on 10 connections under load); before, it failed "timeout exceeded".
    const d = await openStorage(TEST_PG_URL, { migrate: false, poolMax: 1 });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      const tx = d.transaction(async (q) => {
        await q.query('SELECT 1');
        await held;
      });
      const waiting = d.query<{ n: number }>('SELECT 2 AS n');
      await new Promise((r) => setTimeout(r, PG_CONNECT_TIMEOUT_MS + 1_000));
      release();
      await tx;
      expect((await waiting).rows[0]?.n).toBe(2);
    } finally {
      await d.close();
    }
  }, 30_000);
});
