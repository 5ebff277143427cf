/**
 * Peer bench (`aos bench peers`): our built-in ReAct agent (context + tools, one calculator call per
 * step) against LangGraph.js 1.x's prebuilt ReAct agent with its checkpointers, and a bare `openai` SDK
 * loop (the floor), on the identical workload: a fake OpenAI-compatible model on loopback
 * (../peers/fake-openai.ts) that asks for 10 calculator calls, then answers — 11 model calls per agent.
 * Each contestant runs in its own process (../peers/worker.ts, bench/peers/langgraph.mjs), interleaved
 * within each repetition, so CPU, wall and peak RSS are its own and the machine's load hits all alike.
 * LangGraph.js is installed on demand into bench/peers (its own lockfile; the root install stays light).
 * Pairings: memory:// vs MemorySaver, PGlite file vs SqliteSaver, PostgreSQL vs PostgresSaver.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchCase, BenchContext } from '../harness.js';
import { defineBench } from '../harness.js';
import type { WorkerJob, WorkerResult } from '../peers/worker.js';

const WORKER = fileURLToPath(new URL('../peers/worker.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PEERS = join(ROOT, 'bench', 'peers');
const LANGGRAPH = join(PEERS, 'langgraph.mjs');
const TOOL_CALLS = 10;
const CALLS = TOOL_CALLS + 1;
const WORKER_TIMEOUT_MS = 600_000;

type Who = 'ours' | 'langgraph' | 'bare';

function pgBase(): string {
  return process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** npm ci in bench/peers when LangGraph.js is not there yet; false (with the reason logged) when it fails. */
function ensurePeers(ctx: BenchContext): boolean {
  if (existsSync(join(PEERS, 'node_modules', '@langchain', 'langgraph-checkpoint-sqlite', 'package.json')))
    return true;
  ctx.log('installing LangGraph.js into bench/peers (npm ci, once) …');
  try {
    // better-sqlite3 (SqliteSaver) compiles from source here: point node-gyp at this Node's own headers
    // so it never tries to download them.
    const nodedir = join(dirname(process.execPath), '..');
    const env = existsSync(join(nodedir, 'include', 'node', 'node.h'))
      ? { ...process.env, npm_config_nodedir: nodedir }
      : process.env;
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: PEERS, stdio: 'inherit', env });
    return true;
  } catch (err) {
    ctx.log(`LangGraph.js could not be installed (${(err as Error).message}); its cases are skipped`);
    return false;
  }
}

function runChild(args: string[], cwd: string): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), WORKER_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('@@result '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('@@result '.length)) as WorkerResult);
      else reject(new Error(`worker ${args.slice(0, 2).join(' ')} exited ${code}: ${err.slice(-2000)}`));
    });
  });
}

function runWorker(who: Who, job: WorkerJob): Promise<WorkerResult> {
  if (who === 'langgraph') return runChild([LANGGRAPH, JSON.stringify(job)], PEERS);
  return runChild([WORKER, who === 'ours' ? 'kernel' : 'bare', JSON.stringify(job)], ROOT);
}

async function startServer(latencyMs: number): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [WORKER, 'server', JSON.stringify({ latencyMs, toolCalls: TOOL_CALLS })],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /@@url (\S+)/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`fake model server exited ${code}`)));
  });
  return { url, child };
}

async function pgReachable(): Promise<boolean> {
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: pgBase(), connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function dropSchemas(names: string[]): Promise<void> {
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: pgBase() });
  try {
    await c.connect();
    for (const n of names) await c.query(`DROP SCHEMA IF EXISTS ${n} CASCADE`);
  } catch {
    // unreachable server: nothing was created
  } finally {
    await c.end().catch(() => undefined);
  }
}

interface Pairing {
  label: string;
  ours: string;
  theirs: string;
  theirsLabel: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN;
};
const r2 = (x: number) => Math.round(x * 100) / 100;

export const peersBench = defineBench({
  name: 'peers',
  subsystem: 'kernel',
  explicit: true,
  async run(ctx) {
    const cases: BenchCase[] = [];
    const haveLg = ensurePeers(ctx);
    const havePg = await pgReachable();
    if (!havePg) ctx.log(`PostgreSQL at ${pgBase()} unreachable: server pairings skipped`);
    const reps = ctx.quick ? 2 : 3;
    const oneAgents = ctx.quick ? 4 : 10;
    const many = ctx.quick ? 200 : 200;
    const schemas: string[] = [];
    const tag = Date.now().toString(36);
    const pairings: Pairing[] = [
      { label: 'in memory', ours: 'memory://', theirs: 'memory', theirsLabel: 'MemorySaver' },
      { label: 'embedded', ours: 'pglite://{dir}', theirs: 'sqlite:file', theirsLabel: 'SqliteSaver' },
    ];
    if (havePg) {
      pairings.push({
        label: 'PostgreSQL server',
        ours: `${pgBase()}?schema=aos_peers_${tag}_1`,
        theirs: `postgres:${pgBase()}#lg_peers_${tag}_1`,
        theirsLabel: 'PostgresSaver',
      });
      schemas.push(`aos_peers_${tag}_1`, `lg_peers_${tag}_1`);
    }
    const summary: Record<string, unknown>[] = [];
    const fast = await startServer(0);
    try {
      // ── one agent at a time, model latency 0: the per-step cost of each stack ─────────────────────
      const per: Record<
        string,
        { wall: number[]; cpu: number[]; rss: number[]; ratioWall: number[]; ratioCpu: number[] }
      > = {};
      const bucket = (k: string) => {
        per[k] ??= { wall: [], cpu: [], rss: [], ratioWall: [], ratioCpu: [] };
        return per[k]!;
      };
      for (let rep = 0; rep < reps; rep++) {
        const job = (storage: string): WorkerJob => ({
          url: fast.url,
          agents: oneAgents,
          sequential: true,
          warmup: 1,
          storage,
          calls: CALLS,
        });
        const bare = await runWorker('bare', job(''));
        const bb = bucket('bare');
        bb.wall.push(...bare.perAgentMs.map((x) => x / CALLS));
        bb.cpu.push(...bare.perAgentCpuMs.map((x) => x / CALLS));
        bb.rss.push(bare.peakRssMiB);
        for (const p of pairings) {
          const order: Who[] = rep % 2 ? ['langgraph', 'ours'] : ['ours', 'langgraph'];
          const got: Partial<Record<Who, WorkerResult>> = {};
          for (const who of order) {
            if (who === 'langgraph' && !haveLg) continue;
            ctx.log(`rep ${rep + 1}/${reps}: 1 agent × ${oneAgents} runs, ${p.label}, ${who}`);
            got[who] = await runWorker(who, job(who === 'ours' ? p.ours : p.theirs));
            if (got[who]!.ok !== oneAgents)
              ctx.log(`  ${who}: only ${got[who]!.ok}/${oneAgents} agents answered right`);
          }
          for (const who of ['ours', 'langgraph'] as const) {
            const g = got[who];
            if (!g) continue;
            const b = bucket(`${p.label}/${who}`);
            b.wall.push(...g.perAgentMs.map((x) => x / CALLS));
            b.cpu.push(...g.perAgentCpuMs.map((x) => x / CALLS));
            b.rss.push(g.peakRssMiB);
          }
          if (got.ours && got.langgraph) {
            const b = bucket(`${p.label}/ours`);
            b.ratioWall.push(got.ours.wallMs / got.langgraph.wallMs);
            b.ratioCpu.push(got.ours.cpuMs / got.langgraph.cpuMs);
          }
        }
      }
      const bare = bucket('bare');
      for (const p of pairings) {
        const o = per[`${p.label}/ours`];
        const t = per[`${p.label}/langgraph`];
        if (!o) continue;
        for (const [metric, key] of [
          ['wall', 'wall'],
          ['CPU', 'cpu'],
        ] as const) {
          cases.push({
            name: `1 agent, latency 0, ${p.label}: ${metric} per step`,
            unit: 'ms',
            ...(t ? { baseline: { label: `LangGraph.js + ${p.theirsLabel}`, samples: t[key] } } : {}),
            ours: {
              label: `built-in ReAct agent, ${p.ours.replace(/\?.*/, '').replace('{dir}', 'FILE')}`,
              samples: o[key],
            },
            notes:
              `paired ratio ours ÷ LangGraph (median over ${reps} reps): ${t ? r2(median(key === 'wall' ? o.ratioWall : o.ratioCpu)) : 'n/a'}; ` +
              `ours ÷ bare SDK floor: ${r2(median(o[key]) / median(bare[key]))} (floor ${median(bare[key]).toFixed(2)} ms)`,
          });
        }
        summary.push({
          configuration: `1 agent, latency 0, ${p.label}`,
          oursWallMsPerStep: r2(median(o.wall)),
          oursCpuMsPerStep: r2(median(o.cpu)),
          peer: `LangGraph.js + ${p.theirsLabel}`,
          peerWallMsPerStep: t ? r2(median(t.wall)) : null,
          peerCpuMsPerStep: t ? r2(median(t.cpu)) : null,
          ratioWall: t ? r2(median(o.ratioWall)) : null,
          ratioCpu: t ? r2(median(o.ratioCpu)) : null,
          oursPeakRssMiB: Math.max(...o.rss),
          peerPeakRssMiB: t ? Math.max(...t.rss) : null,
        });
      }
      cases.push({
        name: '1 agent, latency 0: bare openai SDK loop (floor)',
        unit: 'ms',
        ours: { label: 'bare SDK, CPU per step', samples: bare.cpu },
        notes: `wall per step median ${median(bare.wall).toFixed(2)} ms; peak RSS ${Math.max(...bare.rss)} MiB`,
      });
      summary.push({
        configuration: '1 agent, latency 0, bare openai SDK (floor)',
        wallMsPerStep: r2(median(bare.wall)),
        cpuMsPerStep: r2(median(bare.cpu)),
        peakRssMiB: Math.max(...bare.rss),
      });
    } finally {
      fast.child.kill('SIGTERM');
    }

    // ── many agents at once, 200 ms model latency: does the stack approach the ideal? ────────────────
    const latency = 200;
    const ideal = (CALLS * latency) / 1000;
    const slow = await startServer(latency);
    try {
      const manyJob = (storage: string, slots?: number, agents = many): WorkerJob => ({
        url: slow.url,
        agents,
        sequential: false,
        warmup: 0,
        storage,
        calls: CALLS,
        ...(slots ? { slots } : {}),
      });
      const runs: Array<{ who: string; label: string; r: WorkerResult }> = [];
      // Ours on a default config (slots_per_model: auto), and 50 agents default vs slots = 50.
      const contest: Array<{ who: Who; label: string; storage: string; slots?: number; agents?: number }> = [
        { who: 'ours', label: 'ours 50 agents, default slots', storage: 'pglite://{dir}', agents: 50 },
        { who: 'ours', label: 'ours 50 agents, slots 50', storage: 'pglite://{dir}', slots: 50, agents: 50 },
        { who: 'bare', label: 'bare SDK', storage: '' },
        { who: 'ours', label: 'ours PGlite file', storage: 'pglite://{dir}' },
        { who: 'langgraph', label: 'LangGraph.js + SqliteSaver', storage: 'sqlite:file' },
      ];
      if (havePg) {
        contest.push(
          {
            who: 'ours',
            label: 'ours PostgreSQL',
            storage: `${pgBase()}?schema=aos_peers_${tag}_2`,
            slots: many,
          },
          {
            who: 'langgraph',
            label: 'LangGraph.js + PostgresSaver',
            storage: `postgres:${pgBase()}#lg_peers_${tag}_2`,
          },
        );
        schemas.push(`aos_peers_${tag}_2`, `lg_peers_${tag}_2`);
      }
      for (const c of contest) {
        if (c.who === 'langgraph' && !haveLg) continue;
        ctx.log(`${c.agents ?? many} agents × ${CALLS} calls @${latency} ms: ${c.label}`);
        try {
          const r = await runWorker(c.who, manyJob(c.storage, c.slots, c.agents));
          runs.push({ who: c.who, label: c.label, r });
          ctx.log(
            `  wall ${(r.wallMs / 1000).toFixed(2)} s (${(r.wallMs / 1000 / ideal).toFixed(2)}× ideal), ${r.ok}/${r.agents} ok, CPU ${(r.cpuMs / (r.agents * CALLS)).toFixed(2)} ms/step, peak RSS ${r.peakRssMiB} MiB, loop delay p99 ${r.loopDelayP99Ms.toFixed(1)} ms max ${r.loopDelayMaxMs.toFixed(0)} ms`,
          );
          const failures = (r.extra?.failures as string[] | undefined) ?? [];
          if (failures.length) ctx.log(`  failures: ${failures.join(' | ')}`);
        } catch (err) {
          ctx.log(`  failed: ${(err as Error).message.slice(0, 500)}`);
        }
      }
      const find = (label: string) => runs.find((x) => x.label === label)?.r;
      for (const [oursLabel, theirsLabel] of [
        ['ours PGlite file', 'LangGraph.js + SqliteSaver'],
        ['ours PostgreSQL', 'LangGraph.js + PostgresSaver'],
      ] as const) {
        const o = find(oursLabel);
        if (!o) continue;
        const t = find(theirsLabel);
        cases.push({
          name: `${many}×${CALLS} @${latency}ms, ${oursLabel.replace('ours ', '')}: wall`,
          unit: 's',
          ...(t ? { baseline: { label: theirsLabel, samples: [t.wallMs / 1000] } } : {}),
          ours: { label: 'built-in ReAct agent, default config', samples: [o.wallMs / 1000] },
          target: { ours: `median <= ${(1.3 * ideal).toFixed(2)} s` },
          notes: `ideal ${ideal.toFixed(1)} s; ours ${(o.wallMs / 1000 / ideal).toFixed(2)}× ideal, ${o.ok}/${o.agents} ok; CPU ${(o.cpuMs / (many * CALLS)).toFixed(2)} ms/step${t ? ` vs ${(t.cpuMs / (many * CALLS)).toFixed(2)}` : ''}`,
        });
        cases.push({
          name: `${many} live agents, ${oursLabel.replace('ours ', '')}: peak RSS`,
          unit: 'MiB',
          ...(t ? { baseline: { label: theirsLabel, samples: [t.peakRssMiB] } } : {}),
          ours: { label: 'built-in ReAct agent', samples: [o.peakRssMiB] },
          ...(oursLabel === 'ours PGlite file' ? { target: { ours: 'max <= 286' } } : {}),
          notes: 'process peak RSS (getrusage maxrss); target ≤ 300 MB = 286 MiB for the embedded kernel',
        });
      }
      const d = find('ours 50 agents, default slots');
      const f = find('ours 50 agents, slots 50');
      if (d && f) {
        cases.push({
          name: `50×${CALLS} @${latency}ms, PGlite file: default config vs slots = 50`,
          unit: 's',
          baseline: { label: 'slots_per_model: 50', samples: [f.wallMs / 1000] },
          ours: { label: 'default (slots_per_model: auto)', samples: [d.wallMs / 1000] },
          target: { ours: `median <= ${((1.2 * f.wallMs) / 1000).toFixed(2)} s` },
          notes: `target: default within 1.2× of slots = 50; ratio default ÷ slots50 = ${r2(d.wallMs / f.wallMs)}; effective slots ${JSON.stringify((d.extra?.scheduler as { slots?: unknown } | undefined)?.slots ?? null)}`,
        });
      }
      summary.push(
        ...runs.map(({ label, r }) => ({
          configuration: `${r.agents} agents × ${CALLS} calls @${latency} ms, ${label}`,
          wallS: r2(r.wallMs / 1000),
          xIdeal: r2(r.wallMs / 1000 / ideal),
          ok: r.ok,
          cpuMsPerStep: r2(r.cpuMs / (r.agents * CALLS)),
          statementsPerStep: (r.extra?.statementsPerStep as number | undefined) ?? null,
          peakRssMiB: r.peakRssMiB,
          loopDelayP99Ms: r2(r.loopDelayP99Ms),
          loopDelayMaxMs: r2(r.loopDelayMaxMs),
        })),
      );
    } finally {
      slow.child.kill('SIGTERM');
      await dropSchemas(schemas);
    }
    ctx.record('summary', summary);
    for (const row of summary) ctx.log(JSON.stringify(row));
    return cases;
  },
});
