/**
 * vitest globalSetup: migrates one PGlite database per run and points AOS_PGLITE_TEMPLATE at it, so every
 * kernel, storage suite and spawned CLI/child process in the run starts from a copy instead of paying
 * initdb + migrations (workers and child processes inherit the variable). An AOS_PGLITE_TEMPLATE that is
 * already set is used as is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgliteTemplate, PGLITE_TEMPLATE_ENV } from '../src/storage/testing/pglite-template.js';

export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env[PGLITE_TEMPLATE_ENV]) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'aos-pglite-template-'));
  await createPgliteTemplate(dir);
  process.env[PGLITE_TEMPLATE_ENV] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
