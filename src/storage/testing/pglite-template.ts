/**
 * A migrated PGlite database that new test databases are copied from (AOS_PGLITE_TEMPLATE). Booting a
 * PGlite runs initdb (2–8 s on a busy 2-core machine) before our migrations; a copy of a database that
 * has already been through both opens in a fraction of that. vitest's globalSetup (test/global-setup.ts)
 * makes one per run; a third party's suite can do the same with createPgliteTemplate().
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGLITE_TEMPLATE_ENV } from '../../param.js';
import { migrate } from '../migrations/index.js';
import { PgliteDriver } from '../pglite/pglite-driver.js';

export { PGLITE_TEMPLATE_ENV };

/** Writes DIR/data (a closed, migrated PGlite data dir) and DIR/data.tar (the same database, dumped). */
export async function createPgliteTemplate(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const driver = await PgliteDriver.open({ dataDir: join(dir, 'data') });
  try {
    await migrate(driver);
    writeFileSync(join(dir, 'data.tar'), Buffer.from(await (await driver.dump()).arrayBuffer()));
  } finally {
    await driver.close();
  }
  return dir;
}
