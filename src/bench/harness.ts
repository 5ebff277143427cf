/**
 * The bench harness behind `aos bench` / `npm run bench`. A suite (defineBench) returns cases, each with
 * our samples and optionally a baseline's, measured in the same run on the same machine. The harness
 * reduces samples to median / p99, computes baseline÷ours ratios, checks stated targets, writes
 * bench/results/<suite>.json (…quick.json for --quick) with machine info, and prints a table.
 * Numbers live here and in the JSON, never in unit tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { KernelError } from '../errors.js';

export interface Samples {
  label: string;
  samples: number[];
}

export interface BenchCase {
  name: string;
  /** Unit of the samples, e.g. 'ms'. */
  unit: string;
  baseline?: Samples;
  ours: Samples;
  /** Targets as "<stat> <op> <value> [unit]", e.g. "p99 < 5 ms"; seed = the seeds' claim, ours = DESIGN §5. */
  target?: { seed?: string; ours?: string };
  notes?: string;
}

export interface BenchContext {
  quick: boolean;
  log(msg: string): void;
  /** Attaches a suite-level figure (a summary table, raw runs) to the JSON under `extra.<key>`. */
  record(key: string, value: unknown): void;
}

export interface BenchSuite {
  name: string;
  subsystem: string;
  /** Runs only when named (`aos bench peers`): it installs things or takes minutes. */
  explicit?: boolean;
  run(ctx: BenchContext): Promise<BenchCase[]>;
}

export function defineBench(suite: BenchSuite): BenchSuite {
  if (!/^[a-z][a-z0-9-]*$/.test(suite.name)) {
    throw new KernelError(
      'EINVAL',
      `bench suite name "${suite.name}" must be lowercase letters, digits and -`,
    );
  }
  return suite;
}

export interface Stats {
  n: number;
  median: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank quantile over a sorted copy. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const s = [...samples].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[idx]!;
}

export function stats(samples: readonly number[]): Stats {
  const n = samples.length;
  return {
    n,
    median: quantile(samples, 0.5),
    p99: quantile(samples, 0.99),
    mean: n ? samples.reduce((a, b) => a + b, 0) / n : Number.NaN,
    min: n ? Math.min(...samples) : Number.NaN,
    max: n ? Math.max(...samples) : Number.NaN,
  };
}

/**
 * Runs fn `warmup` times untimed, then up to `n` times, returning each call's wall time in ms. With
 * budgetMs, stops early once that much time was spent and at least minN samples exist (slow cases).
 */
export async function collect(
  n: number,
  fn: (i: number) => unknown,
  opts: { warmup?: number; budgetMs?: number; minN?: number } = {},
): Promise<number[]> {
  for (let i = 0; i < (opts.warmup ?? Math.min(5, n)); i++) await fn(-1 - i);
  const out: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
    if (opts.budgetMs && out.length >= (opts.minN ?? 5) && performance.now() - start > opts.budgetMs) break;
  }
  return out;
}

export interface TargetCheck {
  target: string;
  met: boolean | null;
}

/** Evaluates "p99 < 5 ms" against stats; met is null when the text is not machine-checkable. */
export function checkTarget(target: string | undefined, s: Stats): TargetCheck | undefined {
  if (!target) return undefined;
  const m = /^(median|p99|mean|max|min)\s*(<=|<|>=|>)\s*([\d.]+)/.exec(target.trim());
  if (!m) return { target, met: null };
  const v = s[m[1] as keyof Stats];
  const x = Number(m[3]);
  const met = m[2] === '<' ? v < x : m[2] === '<=' ? v <= x : m[2] === '>' ? v > x : v >= x;
  return { target, met };
}

export interface CaseResult {
  name: string;
  unit: string;
  ours: { label: string } & Stats;
  baseline?: { label: string } & Stats;
  /** baseline ÷ ours: > 1 means ours is faster (for latencies). */
  ratio?: { median: number; p99: number };
  target?: { seed?: TargetCheck; ours?: TargetCheck };
  notes?: string;
}

export interface SuiteResult {
  suite: string;
  subsystem: string;
  quick: boolean;
  date: string;
  durationMs: number;
  machine: MachineInfo;
  cases: CaseResult[];
  extra?: Record<string, unknown>;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memGiB: number;
  node: string;
  platform: string;
  arch: string;
  /** 1/5/15-minute load averages (os.loadavg, what `uptime` prints) when the suite started and ended. */
  load?: { start: string; end: string };
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: process.platform,
    arch: process.arch,
  };
}

export function summarise(c: BenchCase): CaseResult {
  const ours = { label: c.ours.label, ...stats(c.ours.samples) };
  const baseline = c.baseline ? { label: c.baseline.label, ...stats(c.baseline.samples) } : undefined;
  const oursT = checkTarget(c.target?.ours, ours);
  const seedT = checkTarget(c.target?.seed, ours);
  return {
    name: c.name,
    unit: c.unit,
    ours,
    ...(baseline
      ? {
          baseline,
          ratio: { median: round(baseline.median / ours.median), p99: round(baseline.p99 / ours.p99) },
        }
      : {}),
    ...(c.target ? { target: { ...(seedT ? { seed: seedT } : {}), ...(oursT ? { ours: oursT } : {}) } } : {}),
    ...(c.notes ? { notes: c.notes } : {}),
  };
}

export interface RunOptions {
  quick?: boolean;
  /** Directory for JSON results (default bench/results under the working directory). */
  outDir?: string;
  write?: boolean;
  out?: (line: string) => void;
}

export async function runBenches(
  suites: readonly BenchSuite[],
  opts: RunOptions = {},
): Promise<SuiteResult[]> {
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const quick = opts.quick ?? false;
  const dir = opts.outDir ?? join(process.cwd(), 'bench', 'results');
  const results: SuiteResult[] = [];
  for (const suite of suites) {
    out(`\n── ${suite.name} (${suite.subsystem})${quick ? ' --quick' : ''} ──`);
    const t0 = performance.now();
    const loadNow = () =>
      loadavg()
        .map((x) => x.toFixed(2))
        .join(' ');
    const loadStart = loadNow();
    const extra: Record<string, unknown> = {};
    const cases = await suite.run({
      quick,
      log: (m) => out(`  · ${m}`),
      record: (k, v) => {
        extra[k] = v;
      },
    });
    const res: SuiteResult = {
      suite: suite.name,
      subsystem: suite.subsystem,
      quick,
      date: new Date().toISOString(),
      durationMs: Math.round(performance.now() - t0),
      machine: { ...machineInfo(), load: { start: loadStart, end: loadNow() } },
      cases: cases.map(summarise),
      ...(Object.keys(extra).length ? { extra } : {}),
    };
    results.push(res);
    for (const line of table(res)) out(line);
    out(`  load average ${loadStart} at start, ${res.machine.load?.end} at end (${res.machine.cores} cores)`);
    if (opts.write !== false) {
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${suite.name}${quick ? '.quick' : ''}.json`);
      writeFileSync(file, `${JSON.stringify(res, null, 2)}\n`);
      out(`  → ${file}`);
    }
  }
  return results;
}

export function table(r: SuiteResult): string[] {
  const rows: string[][] = [
    ['case', 'ours median', 'ours p99', 'baseline median', 'baseline p99', 'ratio (b/o)', 'targets'],
  ];
  for (const c of r.cases) {
    const f = (x: number) => `${fmt(x)} ${c.unit}`;
    const t = [c.target?.seed, c.target?.ours]
      .filter((x): x is TargetCheck => !!x)
      .map((x) => `${x.target} ${x.met === null ? '?' : x.met ? '✓' : '✗'}`)
      .join('; ');
    rows.push([
      c.name,
      f(c.ours.median),
      f(c.ours.p99),
      c.baseline ? f(c.baseline.median) : '—',
      c.baseline ? f(c.baseline.p99) : '—',
      c.ratio ? `${c.ratio.median}× / ${c.ratio.p99}×` : '—',
      t || '—',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`);
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
