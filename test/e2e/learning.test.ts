/**
 * The learning layer as a user drives it from the terminal, on the built package: `aos eval` runs the
 * shipped suites (twice: the second report carries the first as its baseline), a failing check fails the
 * command and says which, a bad suite names its key; `aos run` then `aos trajectories` / `aos analyze`
 * read the runs back from storage (JSONL export included).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const CLI = join(root, 'dist/cli/main.js');

function aos(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, AOS_LOG: 'error', NO_COLOR: '1', AOS_URL: 'http://127.0.0.1:9', AOS_TOKEN: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!existsSync(CLI))('aos eval, trajectories, analyze', () => {
  it('runs the shipped suites; the second run reports the first beside it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-eval-'));
    for (const suite of ['simulator', 'examples']) {
      const first = aos(dir, 'eval', join(root, 'evals', `${suite}.yaml`), '--json');
      expect(first.code, first.err + first.out).toBe(0);
      const r1 = JSON.parse(first.out);
      expect(r1.summary.passRate).toBe(1);
      expect(r1.previous).toBeNull();
      expect(r1.runs.every((r: { steps: number }) => r.steps > 0)).toBe(true);
    }
    const again = aos(dir, 'eval', join(root, 'evals', 'simulator.yaml'), '--json');
    expect(again.code, again.err).toBe(0);
    const r2 = JSON.parse(again.out);
    expect(r2.previous).toMatchObject({ passRate: 1 });
    expect(r2.regressions).toEqual([]);
  }, 300_000);

  it('fails on a failing check and names it; a bad suite names the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-eval-'));
    writeFileSync(
      join(dir, 'wrong.yaml'),
      'name: wrong\ntasks:\n  - name: sum\n    task: What is 2 + 2?\n    checks:\n      - number: 5\n      - no_tool: calculator\n',
    );
    const r = aos(dir, 'eval', 'wrong.yaml');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL sum#0 .*number 5 — numbers in answer: .*4/);
    expect(r.out).toMatch(/no_tool calculator — tools: calculator/);
    writeFileSync(join(dir, 'bad.yaml'), 'name: bad\ntasks:\n  - name: x\n    task: y\n    checks: []\n');
    const b = aos(dir, 'eval', 'bad.yaml');
    expect(b.code).not.toBe(0);
    expect(b.err).toMatch(/bad\.yaml: tasks\.0\.checks: a task needs at least one check/);
  }, 300_000);

  it('reads runs back as trajectories (table, JSON, JSONL) and analyses them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-traj-'));
    const run = aos(dir, 'run', 'What is 17 * 23 + 4?');
    expect(run.code, run.err + run.out).toBe(0);
    const list = aos(dir, 'trajectories', '--json');
    expect(list.code, list.err).toBe(0);
    const ts = JSON.parse(list.out);
    expect(ts).toHaveLength(1);
    expect(ts[0]).toMatchObject({ outcome: 'done', success: true });
    const pid = ts[0].pid;
    const jsonl = aos(dir, 'trajectories', String(pid), '--jsonl');
    const lines = jsonl.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBe(ts[0].steps.length);
    expect(lines[0]).toMatchObject({ schema: 'aos.trajectory.step/1', pid, stepNo: 1 });
    expect(lines.flatMap((l) => l.toolCalls.map((c: { name: string }) => c.name))).toContain('calculator');
    const an = aos(dir, 'analyze', ts[0].agent);
    expect(an.code, an.err).toBe(0);
    expect(an.out).toMatch(/1 finished run\(s\), success rate 100%/);
  }, 300_000);
});
