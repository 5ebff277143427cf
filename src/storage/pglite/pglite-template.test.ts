/**
 * The PGlite template (AOS_PGLITE_TEMPLATE) must only ever stand in for initdb + migrations: a new
 * database starts migrated, an existing one keeps its rows, and a caller that skips migrations gets an
 * empty database as before.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../migrations/index.js';
import { openStorage } from '../open.js';
import { createPgliteTemplate, PGLITE_TEMPLATE_ENV } from '../testing/pglite-template.js';
import { PgliteDriver } from './pglite-driver.js';

const tables = async (d: Awaited<ReturnType<typeof openStorage>>) =>
  (
    await d.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'",
    )
  ).rows[0]!.n;

describe('PGlite template', () => {
  let template: string;
  const before = process.env[PGLITE_TEMPLATE_ENV];
  beforeAll(async () => {
    template = await createPgliteTemplate(mkdtempSync(join(tmpdir(), 'aos-tpl-test-')));
    process.env[PGLITE_TEMPLATE_ENV] = template;
  });
  afterAll(() => {
    if (before === undefined) delete process.env[PGLITE_TEMPLATE_ENV];
    else process.env[PGLITE_TEMPLATE_ENV] = before;
  });

  it('a new in-memory or file database starts migrated: migrations find nothing to do', async () => {
    for (const dataDir of [undefined, join(mkdtempSync(join(tmpdir(), 'aos-tpl-')), 'data')]) {
      const d = await PgliteDriver.open({ ...(dataDir ? { dataDir } : {}), template });
      try {
        expect(await tables(d)).toBeGreaterThan(5); // before any migration ran here
        expect((await migrate(d)).applied).toEqual([]);
      } finally {
        await d.close();
      }
    }
    // openStorage takes the template from the environment, and never for a caller that skips migrations
    const opened = Date.now();
    const m = await openStorage('memory://');
    const bare = await openStorage('memory://', { migrate: false });
    try {
      const { rows } = await m.query<{ at: Date }>('SELECT min(applied_at) AS at FROM aos_migrations');
      expect(new Date(rows[0]!.at).getTime()).toBeLessThan(opened);
      expect(await tables(bare)).toBe(0);
    } finally {
      await m.close();
      await bare.close();
    }
  });

  it('an existing database keeps its own rows', async () => {
    const url = `pglite://${join(mkdtempSync(join(tmpdir(), 'aos-tpl-')), 'data')}`;
    const a = await openStorage(url);
    await a.query('CREATE TABLE mine (v text)');
    await a.query("INSERT INTO mine VALUES ('kept')");
    await a.close();
    const b = await openStorage(url);
    try {
      expect((await b.query<{ v: string }>('SELECT v FROM mine')).rows).toEqual([{ v: 'kept' }]);
    } finally {
      await b.close();
    }
  });

  it('a variable that names no template is refused with the fix', async () => {
    const bogus = mkdtempSync(join(tmpdir(), 'aos-tpl-bogus-'));
    writeFileSync(join(bogus, 'data.tar'), '');
    process.env[PGLITE_TEMPLATE_ENV] = bogus;
    try {
      await expect(openStorage('memory://')).rejects.toMatchObject({
        code: 'ECONFIG',
        message: expect.stringContaining('createPgliteTemplate'),
      });
    } finally {
      process.env[PGLITE_TEMPLATE_ENV] = template;
    }
  });
});
