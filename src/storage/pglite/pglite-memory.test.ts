/**
 * An embedded kernel's PGlite must not keep initdb's heap: a new file-backed database is initialised in a
 * child process (an in-memory one loads a tarball a child made), and the buffer pool is sized for an embedded kernel (PGLITE_SETTINGS). Own file: the
 * peak-RSS check needs a process that has not opened PGlite before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PgliteDriver } from './pglite-driver.js';

const peakMiB = () => process.resourceUsage().maxRSS / 1024;

describe('PGlite memory', () => {
  it('an in-memory database loads a data dir initialised in a child process', async () => {
    const d = await PgliteDriver.open({});
    try {
      expect((await d.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0]!.shared_buffers).toBe(
        '16MB',
      );
      await d.query('CREATE TABLE t (x int)');
      await d.query('INSERT INTO t VALUES (7)');
      expect((await d.query<{ x: number }>('SELECT x FROM t')).rows).toEqual([{ x: 7 }]);
    } finally {
      await d.close();
    }
  });

  it('a new file database opens without initdb in this process, with a 16MB buffer pool, and reopens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-pgl-mem-'));
    const dataDir = join(dir, 'data');
    try {
      const before = peakMiB();
      const d = await PgliteDriver.open({ dataDir });
      // In-process initdb grows this process's peak by ~600 MiB (its WASM heap never shrinks).
      expect(peakMiB() - before).toBeLessThan(400);
      expect((await d.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0]!.shared_buffers).toBe(
        '16MB',
      );
      await d.query('CREATE TABLE kept (x int)');
      await d.query('INSERT INTO kept VALUES (42)');
      await d.close();
      const again = await PgliteDriver.open({ dataDir });
      expect((await again.query<{ x: number }>('SELECT x FROM kept')).rows).toEqual([{ x: 42 }]);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
