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

/** What an example must print besides exiting 0, where the point of the example is checkable. */
const MUST_PRINT: Record<string, RegExp[]> = {
  // The gateway: an unmodified OpenAI-SDK agent is ONE kernel process whose model calls are its steps.
  '13-gateway.mjs': [/program gateway, 2 steps, 2 model calls/, /audit: llm\.chat, llm\.chat/],
};

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
      for (const re of MUST_PRINT[file] ?? []) expect(r.stdout).toMatch(re);
    }, 120_000);
  }
});
