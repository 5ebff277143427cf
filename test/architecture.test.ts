/**
 * Dependencies point inward, checked: every relative import in src/ (static, `import type`, `export … from`
 * and dynamic `import()`) must go from a layer to a strictly lower one, and no file may reach itself through
 * its imports. docs/architecture.md draws the same layers; change both together.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/** Top to bottom. A unit may import units of lower layers only. */
const LAYERS: readonly (readonly string[])[] = [
  ['index', 'testing', 'cli'], // entry points: the package root, the conformance suites, the `aos` CLI
  ['bench'], // drives whole kernels (aos bench)
  ['api'], // the HTTP server and its routes; mounts the gateway
  ['gateway'], // OpenAI/Anthropic-compatible endpoints whose sessions are processes
  ['http'], // HTTP plumbing the api and the gateway share: route definition, auth, error mapping
  ['kernel'], // the facade, the core, the step loop, the syscall gate
  ['scheduler', 'context', 'io', 'learning', 'hooks', 'metrics'], // mechanisms the kernel binds
  ['llm', 'security'], // the model seam; policies, sandboxes, approvals, audit anchors
  ['storage', 'config'], // the database roles; configuration
  ['util'], // leaf helpers
  ['param', 'errors', 'abi'], // limits, the error type, the process ABI: import nothing of ours
];

/** Files that are not in the unit their folder names. */
const UNIT_OF_FILE: Record<string, string> = {
  'api/route.ts': 'http',
  'api/auth.ts': 'http',
  'api/errors.ts': 'http',
};

/** The unit a src-relative file belongs to. Conformance suites and test harnesses are the `testing` unit. */
function unitOf(rel: string): string {
  if (UNIT_OF_FILE[rel]) return UNIT_OF_FILE[rel];
  if (rel.endsWith('.case.ts') || rel.includes('/testing/')) return 'testing';
  const parts = rel.split('/');
  return parts.length === 1 ? parts[0]!.replace(/\.ts$/, '') : parts[0]!;
}

const layerOf = new Map<string, number>();
LAYERS.forEach((units, i) => {
  for (const u of units) layerOf.set(u, i);
});

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports of one file, type-only and dynamic ones included, as src-relative .ts paths. */
function importsOf(file: string, text = readFileSync(file, 'utf8')): string[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(SRC, resolve(dirname(file), s)).replace(/\.js$/, '.ts'));
}

function buildGraph(files: string[] = sourceFiles(SRC)): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files) g.set(relative(SRC, f), importsOf(f));
  return g;
}

function forbiddenImports(g: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [from, targets] of g) {
    const a = unitOf(from);
    const la = layerOf.get(a);
    for (const to of targets) {
      const b = unitOf(to);
      if (a === b) continue;
      const lb = layerOf.get(b);
      if (la === undefined) bad.push(`${from}: unit '${a}' is in no layer (add it to LAYERS)`);
      else if (lb === undefined) bad.push(`${from} → ${to}: unit '${b}' is in no layer (add it to LAYERS)`);
      else if (lb <= la) bad.push(`${from} → ${to}: ${a} (layer ${la}) may not import ${b} (layer ${lb})`);
    }
  }
  return bad;
}

/** Every import cycle between files, as one path per strongly connected component (Tarjan). */
function cycles(g: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

/**
 * Who may build a ToolExecutor: src/io itself (the class), the kernel's device layer (the one executor of a
 * kernel, which the API's tool route uses too), the io bench suite (a standalone executor is what it
 * measures) and tests. Anyone else building one would make a second door with its own hooks and audit.
 */
const EXECUTOR_BUILDERS = new Set(['src/kernel/device-binding.ts', 'src/bench/suites/io.ts']);

function executorViolations(files: { f: string; text: string }[]): string[] {
  return files
    .filter(({ f }) => !f.startsWith('src/io/'))
    .filter(({ f, text }) =>
      /\bnew ToolExecutor\(/.test(text)
        ? true
        : /\bcreateToolExecutor\(/.test(text) && !EXECUTOR_BUILDERS.has(f) && !f.endsWith('.test.ts'),
    )
    .map(({ f }) => `${f} builds a ToolExecutor: call the kernel’s (kernel.devices.callFromOutside)`);
}

/** Numeric constants that define something (a hash, a format, a statistic), so they are not in param.ts. */
const NOT_LIMITS = new Set([
  'util/embedder.ts: TRIGRAM_WEIGHT', // part of the hashing-v1 embedding: changing it changes stored vectors
  'util/embedder.ts: SEED', // FNV-1a offset basis
  'util/embedder.ts: SIGN_SEED', // the second FNV-1a's seed (hashing-v1)
  'util/embedder.ts: PRIME', // FNV-1a prime
  'gateway/journal.ts: COLUMNS', // columns of one gateway_journal row
  'api/route.ts: INT_MAX', // PostgreSQL int4 maximum
  'cli/commands/approvals.ts: SHORT_ID', // characters of an approval id the CLI shows (a format)
  'learning/ab.ts: Z95', // the normal quantile of a 95 % interval
]);

describe('architecture', () => {
  const graph = buildGraph();

  it('sees the whole tree, type-only and dynamic imports included', () => {
    expect(graph.size).toBeGreaterThan(100);
    // a type-only import and a dynamic import, both known to exist
    expect(graph.get('kernel/core.ts')).toContain('storage/storage.ts');
    expect(graph.get('testing.ts')).toContain('storage/testing/conformance.case.ts');
  });

  it('has no import from a layer to the same or a higher one', () => {
    expect(forbiddenImports(graph)).toEqual([]);
  });

  it('has no import cycle between files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('gives every src file over 500 lines a one-line reason in its header', () => {
    const long = sourceFiles(SRC)
      .map((f) => ({ f: relative(SRC, f), text: readFileSync(f, 'utf8') }))
      .filter(({ text }) => text.split('\n').length > 500);
    const header = (text: string) => (text.startsWith('/**') ? text.slice(0, text.indexOf('*/')) : '');
    expect(long.filter(({ text }) => !/\n \* Size: \S/.test(header(text))).map(({ f }) => f)).toEqual([]);
  });

  it('builds tool executors only where allowed: one per kernel, so every tool call passes its hooks once', () => {
    const all = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? all(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
      );
    const files = [...all(SRC), ...all(resolve(SRC, '../test'))].map((f) => ({
      f: relative(resolve(SRC, '..'), f),
      text: readFileSync(f, 'utf8'),
    }));
    expect(executorViolations(files)).toEqual([]);
    expect(
      executorViolations([{ f: 'src/api/routes/io.ts', text: 'const e = createToolExecutor({})' }]),
    ).toEqual([
      'src/api/routes/io.ts builds a ToolExecutor: call the kernel’s (kernel.devices.callFromOutside)',
    ]);
  });

  it('keeps every limit in src/param.ts: a numeric constant elsewhere is a definition, not a limit', () => {
    const stray = sourceFiles(SRC)
      .map((f) => relative(SRC, f))
      .filter((f) => f !== 'param.ts' && !f.startsWith('bench/')) // bench suites: workload shapes, not limits
      .flatMap((f) =>
        [...readFileSync(join(SRC, f), 'utf8').matchAll(/^(?:export )?const ([A-Z][A-Z0-9_]+) = \(?[0-9]/gm)]
          .map((m) => `${f}: ${m[1]}`)
          .filter((x) => !NOT_LIMITS.has(x)),
      );
    expect(stray).toEqual([]);
  });

  it('catches a forbidden import and a cycle when one is added', () => {
    const g = new Map(graph);
    g.set('storage/sql.ts', [...(g.get('storage/sql.ts') ?? []), 'kernel/kernel.ts']);
    expect(forbiddenImports(g)).toContain(
      'storage/sql.ts → kernel/kernel.ts: storage (layer 8) may not import kernel (layer 5)',
    );
    g.set('kernel/pcb.ts', [...(g.get('kernel/pcb.ts') ?? []), 'kernel/kernel.ts']);
    expect(cycles(g).some((c) => c.includes('kernel/pcb.ts') && c.includes('kernel/kernel.ts'))).toBe(true);
    expect(
      importsOf(join(SRC, 'x.ts'), "import type { A } from './a.js';\nconst b = await import('./b.js');"),
    ).toEqual(['a.ts', 'b.ts']);
  });
});
