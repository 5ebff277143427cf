/**
 * An embedded kernel keeps its JS heap near the live set (PGLITE_HEAP_GROWING_PERCENT): checked in a fresh
 * Node process that opens PGlite through the driver and then churns garbage that outlives the young
 * generation — the shape of 200 agents' per-step allocations held across a model call.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_ENV, PGLITE_HEAP_GROWING_PERCENT } from '../../param.js';
import { tightenHeapGrowth } from './heap-growth.js';

const DRIVER = pathToFileURL(join(import.meta.dirname, '../../../dist/storage/pglite/pglite-driver.js')).href;

// Live set ~40 MB, then 600 MB of objects that each stay reachable while 3,000 newer ones are made.
const CHURN = `
const v8 = await import('node:v8');
const { PgliteDriver } = await import(${JSON.stringify(DRIVER)});
const d = await PgliteDriver.open({});
const live = Array.from({ length: 400_000 }, (_, i) => ({ i, s: 'live-' + i }));
const ring = new Array(3000);
const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
let maxOld = 0, minOld = Infinity;
for (let n = 0; n < 60_000; n++) {
  ring[n % ring.length] = Array.from({ length: 100 }, (_, j) => ({ n, j }));
  if (n % 500 === 0) { const o = old(); maxOld = Math.max(maxOld, o); if (n > 10_000) minOld = Math.min(minOld, o); }
}
const out = { maxOld, minOld, live: live.length };
await d.close();
process.stdout.write(JSON.stringify(out));
process.exit(0);
`;

function churn(env: NodeJS.ProcessEnv): Promise<{ maxOld: number; minOld: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', CHURN],
      { env: { ...process.env, ...env }, timeout: 240_000, maxBuffer: 1 << 20 },
      (err, out, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(JSON.parse(out))),
    );
  });
}

describe('embedded heap growth', () => {
  it('a process that opened PGlite collects its old generation before it doubles the live set', async () => {
    const r = await churn({ [HEAP_GROWING_ENV]: '' });
    // Live: ~40 MB of objects plus the ring (~3,000 × 100 small objects): the old generation stays within
    // 1.3× that plus what is promoted between two incremental marks. V8's default lets it reach 2–4×.
    const MiB = 2 ** 20;
    expect(r.maxOld / MiB).toBeLessThan(2 * (r.minOld / MiB) + 16);
    expect(r.maxOld / MiB).toBeLessThan(170);
  }, 300_000);

  it('a bad AOS_HEAP_GROWING_PERCENT is refused, naming the variable and the values that work', () => {
    expect(() => tightenHeapGrowth({ [HEAP_GROWING_ENV]: 'lots' }, [])).toThrow(
      new RegExp(
        `${HEAP_GROWING_ENV}=lots is not a whole percent.*${PGLITE_HEAP_GROWING_PERCENT}.*0 to leave`,
      ),
    );
  });

  it("leaves the embedder's own choice alone", () => {
    expect(tightenHeapGrowth({}, ['--optimize-for-size'])).toBeNull();
  });
});
