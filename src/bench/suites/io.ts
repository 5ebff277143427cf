/**
 * Bench suite `io`: what tools and security cost.
 *   - tool-call overhead, in-process tool: ToolExecutor.execute(calculator) (parse, zod, policy, limiter,
 *     idempotency lookup, output shaping) against calling the tool's function directly;
 *   - tool-call overhead, sandboxed command: the shell tool on BubblewrapSandbox and on NoSandbox against a
 *     bare child_process spawn of the same `/bin/true`;
 *   - audited tool calls: throughput of tool calls whose audit entry goes to the hash-chained AuditLog
 *     (PGlite), against the same calls without audit (raw AuditLog.append latency is in the storage suite);
 *   - verification: AuditLog.verify (chain only) against verifyWithAnchors (chain + signatures + anchored
 *     heads) over 100k entries (10k with --quick), reported per 100k entries.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { calculatorTool } from '../../io/builtin/calculator.js';
import { builtinTools } from '../../io/builtin/index.js';
import { createToolContext } from '../../io/context.js';
import { createToolExecutor } from '../../io/executor.js';
import { MemoryIdempotencyStore } from '../../io/idempotency.js';
import { ToolRegistry } from '../../io/registry.js';
import { AuditAnchors, verifyWithAnchors } from '../../security/anchors.js';
import { ToolLimiter } from '../../security/limits.js';
import { SecurityPolicy } from '../../security/policy.js';
import { BubblewrapSandbox } from '../../security/sandbox/bubblewrap.js';
import { NoSandbox } from '../../security/sandbox/none.js';
import type { Sandbox } from '../../security/sandbox.js';
import { auditHash, GENESIS_HASH } from '../../storage/audit/audit-log.js';
import { createStorage } from '../../storage/storage.js';
import { type BenchCase, type BenchContext, collect, defineBench } from '../harness.js';

const policy = new SecurityPolicy({ max_wall_seconds: 30 });

function spawnTrue(): Promise<void> {
  return new Promise((res, rej) => {
    const c = spawn('/bin/true', [], { stdio: 'ignore' });
    c.on('error', rej);
    c.on('close', () => res());
  });
}

async function inProcessOverhead(ctx: BenchContext): Promise<BenchCase> {
  const n = ctx.quick ? 500 : 5000;
  const ws = mkdtempSync(join(tmpdir(), 'aos-bench-io-'));
  const sandbox = new NoSandbox({ quiet: true });
  const exec = createToolExecutor({
    registry: new ToolRegistry().registerAll(builtinTools()),
    sandbox,
    idempotency: new MemoryIdempotencyStore(),
    limiter: new ToolLimiter({ ratePerMinute: 1e12 }),
  });
  const tctx = createToolContext({ pid: 1, workspace: ws, sandbox, policy });
  const args = { expression: '2 * (3 + 4) ^ 2 / sqrt(16)' };
  const raw = JSON.stringify(args);
  const baseline = await collect(n, () => calculatorTool.run(args, tctx));
  const ours = await collect(n, (i) =>
    exec.execute(
      { id: String(i), name: 'calculator', arguments: raw },
      { ...tctx, idempotencyKey: `1:${i}:0` },
    ),
  );
  return {
    name: `tool call overhead, in-process tool (calculator), ${n} calls`,
    unit: 'ms',
    baseline: { label: 'tool function called directly', samples: baseline },
    ours: {
      label: 'ToolExecutor.execute (JSON parse, zod, policy, limiter, idempotency, shaping)',
      samples: ours,
    },
    target: { ours: 'p99 < 1 ms' },
  };
}

async function sandboxOverhead(ctx: BenchContext, sandbox: Sandbox, label: string): Promise<BenchCase> {
  const n = ctx.quick ? 20 : 200;
  const ws = mkdtempSync(join(tmpdir(), 'aos-bench-io-'));
  const exec = createToolExecutor({ registry: new ToolRegistry().registerAll(builtinTools()), sandbox });
  const tctx = createToolContext({ pid: 1, workspace: ws, sandbox, policy });
  const baseline = await collect(n, () => spawnTrue());
  const ours = await collect(
    n,
    (i) => exec.execute({ id: String(i), name: 'shell', arguments: '{"command":"/bin/true"}' }, tctx),
    { budgetMs: 60_000 },
  );
  return {
    name: `tool call overhead, shell "/bin/true" on ${label}, ${ours.length} calls`,
    unit: 'ms',
    baseline: { label: 'child_process.spawn("/bin/true"), no executor, no sandbox', samples: baseline },
    ours: {
      label: `shell tool via ToolExecutor on ${label} (bash + limits${label === 'bubblewrap' ? ' + namespaces + cgroup' : ''})`,
      samples: ours,
    },
    notes: 'the ratio is the price of isolation per command, not of the executor',
  };
}

async function auditedCalls(ctx: BenchContext): Promise<BenchCase> {
  const n = ctx.quick ? 300 : 2000;
  const storage = await createStorage('memory://');
  try {
    const ws = mkdtempSync(join(tmpdir(), 'aos-bench-io-'));
    const sandbox = new NoSandbox({ quiet: true });
    const registry = new ToolRegistry().registerAll(builtinTools());
    const plain = createToolExecutor({ registry, sandbox });
    const audited = createToolExecutor({ registry, sandbox, audit: storage.audit });
    const tctx = createToolContext({ pid: 1, workspace: ws, sandbox, policy });
    const call = { id: 'x', name: 'calculator', arguments: '{"expression":"1+2"}' };
    const baseline = await collect(n, () => plain.execute(call, tctx));
    const ours = await collect(n, () => audited.execute(call, tctx));
    const secs = ours.reduce((a, b) => a + b, 0) / 1000;
    return {
      name: `audited tool calls, ${n} calls [pglite memory]`,
      unit: 'ms',
      baseline: { label: 'executor without audit', samples: baseline },
      ours: { label: 'executor + AuditLog.append (redacted, hash-chained)', samples: ours },
      notes: `throughput ≈ ${Math.round(n / secs)} audited tool calls/s on one stream`,
    };
  } finally {
    await storage.driver.close();
  }
}

async function verifyPer100k(ctx: BenchContext): Promise<BenchCase> {
  const total = ctx.quick ? 10_000 : 100_000;
  const streams = 100;
  const storage = await createStorage('memory://');
  try {
    ctx.log(`io: writing ${total} chained audit rows`);
    const heads = new Map<string, { seq: number; hash: string }>();
    const base = Date.now();
    for (let off = 0; off < total; off += 1000) {
      const vals: string[] = [];
      const params: unknown[] = [];
      for (let i = off; i < Math.min(total, off + 1000); i++) {
        const stream = `proc:${i % streams}`;
        const prev = heads.get(stream) ?? { seq: 0, hash: GENESIS_HASH };
        const e = {
          stream,
          seq: prev.seq + 1,
          ts: new Date(base + i),
          kind: 'io.tool_call',
          actor: 'pid:1',
          payload: { tool: 'calculator', i },
        };
        const hash = auditHash(prev.hash, e);
        heads.set(stream, { seq: e.seq, hash });
        const k = params.length;
        vals.push(
          `($${k + 1}, $${k + 2}, $${k + 3}, $${k + 4}, $${k + 5}, $${k + 6}::jsonb, $${k + 7}, $${k + 8})`,
        );
        params.push(e.stream, e.seq, e.ts, e.kind, e.actor, JSON.stringify(e.payload), prev.hash, hash);
      }
      await storage.driver.query(
        `INSERT INTO audit_log (stream, seq, ts, kind, actor, payload, prev_hash, hash) VALUES ${vals.join(',')}`,
        params,
      );
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'aos-bench-anchor-'));
    const anchors = new AuditAnchors(storage.audit, { dataDir });
    await anchors.anchor({ force: true });
    const scale = 100_000 / total;
    const runs = ctx.quick ? 2 : 3;
    const baseline: number[] = [];
    const ours: number[] = [];
    for (let r = 0; r < runs; r++) {
      let t0 = performance.now();
      const chain = await storage.audit.verify();
      baseline.push((performance.now() - t0) * scale);
      t0 = performance.now();
      const full = await verifyWithAnchors(storage.audit, storage.driver, { dataDir });
      ours.push((performance.now() - t0) * scale);
      if (!chain.ok || !full.ok || full.checked !== total)
        throw new Error(`bench data failed verification: ${JSON.stringify(full.firstBad)}`);
    }
    return {
      name: `audit verify, ${total} entries in ${streams} streams, per 100k entries [pglite memory]`,
      unit: 'ms',
      baseline: { label: 'AuditLog.verify (chain only)', samples: baseline },
      ours: { label: 'verifyWithAnchors (chain + Ed25519 anchors + anchored heads)', samples: ours },
      notes:
        total === 100_000
          ? 'measured on 100k entries'
          : `measured on ${total} entries, scaled ×${scale} to per-100k`,
    };
  } finally {
    await storage.driver.close();
  }
}

export const ioBench = defineBench({
  name: 'io',
  subsystem: 'io/security',
  async run(ctx) {
    const cases: BenchCase[] = [];
    ctx.log('io: in-process tool overhead');
    cases.push(await inProcessOverhead(ctx));
    let bwrap: Sandbox | null = null;
    try {
      bwrap = new BubblewrapSandbox();
    } catch (err) {
      ctx.log(`io: bubblewrap unavailable, its case is skipped (${(err as Error).message})`);
    }
    ctx.log('io: sandboxed command overhead');
    cases.push(await sandboxOverhead(ctx, new NoSandbox({ quiet: true }), 'none'));
    if (bwrap) cases.push(await sandboxOverhead(ctx, bwrap, 'bubblewrap'));
    ctx.log('io: audited tool calls');
    cases.push(await auditedCalls(ctx));
    ctx.log('io: audit verification');
    cases.push(await verifyPer100k(ctx));
    return cases;
  },
});
