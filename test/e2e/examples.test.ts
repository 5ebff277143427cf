/**
 * Every numbered example in examples/ runs as a user would run it (`node examples/NN-name.mjs`, importing
 * the built package) and exits 0. Examples are documentation that CI keeps honest.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const examples = readdirSync(join(root, 'examples'))
  .filter((f) => /^\d\d-.+\.mjs$/.test(f))
  .sort();

describe('examples', () => {
  it('there are numbered examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });
  for (const file of examples) {
    it(`${file} runs and exits 0`, () => {
      const r = spawnSync(process.execPath, [join('examples', file)], {
        cwd: root,
        encoding: 'utf8',
        timeout: 90_000,
        env: { ...process.env, AOS_LOG: 'warn', NO_COLOR: '1' },
      });
      expect(r.status, `${file} failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout.trim().length).toBeGreaterThan(0);
    }, 120_000);
  }
});
