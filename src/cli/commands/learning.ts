/**
 * The learning layer from the terminal:
 *   aos trajectories [pid] [--agent A] [--jsonl]   trajectories (a view over the step log), JSONL export
 *   aos analyze [agent] [--program|--profile|--family]   success rate, failure modes, suggestions + evidence
 *   aos lessons [--task T] [--delete ID]            lessons learned from finished processes
 *   aos profile apply|revert|show <profile> …      apply a suggestion (audited), revert it in one command
 *   aos profile ab <change-id>                     an A/B change's arms compared, with 95 % intervals
 *   aos eval <suite.yaml>                           run a task suite with checks, compare with the last run
 * Reads go to a running server when one answers, else to storage directly. `eval` runs its agents in an
 * in-process kernel on `memory://` storage (its own sandbox of processes) unless --storage says otherwise.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import type { AbReport } from '../../learning/ab.js';
import type { Analysis, Suggestion } from '../../learning/analyze.js';
import type { EvalReport } from '../../learning/eval.js';
import type { StoredLesson } from '../../learning/lessons.js';
import type { AppliedChange, ApplyOptions, ProfileOverrides } from '../../learning/optimizer.js';
import type { Trajectory } from '../../learning/trajectory.js';
import { connect, HttpClient, type KernelClient, type LocalClient } from '../client.js';
import { style, table } from '../format.js';

interface ReadOpts {
  agent?: string;
  program?: string;
  profile?: string;
  family?: string;
  limit?: string;
  json?: boolean;
  jsonl?: boolean;
}

const pct = (x: number | null) => (x === null ? '-' : `${Math.round(x * 1000) / 10}%`);

function qs(o: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** `--value` as JSON when it parses (32, true, ["x"]), else as text (a model id). */
function parseValue(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** One door for the read commands: the server's routes, or the in-process kernel's learning layer. */
async function withLearning<T>(program: Command, fn: (l: LearningReader) => Promise<T>): Promise<T> {
  const client: KernelClient = await connect({ configPath: program.opts().config });
  try {
    return await fn(readerOf(client));
  } finally {
    await client.close();
  }
}

interface LearningReader {
  trajectory(pid: number): Promise<Trajectory>;
  trajectories(o: ReadOpts): Promise<Trajectory[] | string>;
  analyze(o: ReadOpts): Promise<Analysis>;
  lessons(task?: string): Promise<StoredLesson[]>;
  deleteLesson(id: string): Promise<boolean>;
  overrides(profile: string): Promise<ProfileOverrides>;
  apply(profile: string, s: Suggestion, o?: ApplyOptions): Promise<AppliedChange>;
  revert(profile: string, changeId?: string): Promise<AppliedChange>;
  ab(changeId: string): Promise<AbReport>;
}

function readerOf(c: KernelClient): LearningReader {
  if (c instanceof HttpClient) {
    const filter = (o: ReadOpts) => ({
      agent: o.agent,
      program: o.program,
      profile: o.profile,
      family: o.family,
      limit: o.limit,
    });
    return {
      trajectory: (pid) => c.request('GET', `/trajectories/${pid}`),
      async trajectories(o) {
        if (o.jsonl) return c.requestText('GET', `/trajectories${qs({ ...filter(o), format: 'jsonl' })}`);
        // The list route returns summaries; a listing needs the same fields, so fetch each trajectory.
        const { items } = await c.request<{ items: Array<{ pid: number }> }>(
          'GET',
          `/trajectories${qs(filter(o))}`,
        );
        return Promise.all(items.map((i) => c.request<Trajectory>('GET', `/trajectories/${i.pid}`)));
      },
      analyze: (o) => c.request('GET', `/learning/analysis${qs(filter(o))}`),
      lessons: async (task) =>
        (await c.request<{ items: StoredLesson[] }>('GET', `/lessons${qs({ task })}`)).items,
      deleteLesson: async (id) =>
        (await c.request<{ deleted: boolean }>('DELETE', `/lessons/${encodeURIComponent(id)}`)).deleted,
      overrides: (p) => c.request('GET', `/learning/profiles/${encodeURIComponent(p)}`),
      apply: (profile, suggestion, o) => c.request('POST', '/learning/apply', { profile, suggestion, ...o }),
      ab: (id) => c.request('GET', `/learning/ab/${encodeURIComponent(id)}`),
      revert: (profile, changeId) =>
        c.request('POST', '/learning/revert', { profile, ...(changeId ? { changeId } : {}) }),
    };
  }
  const k = (c as LocalClient).kernel;
  const l = k.learning;
  const filter = (o: ReadOpts) => ({
    ...(o.agent ? { agent: o.agent } : {}),
    ...(o.program ? { program: o.program } : {}),
    ...(o.profile ? { profile: o.profile } : {}),
    ...(o.family ? { family: o.family } : {}),
    ...(o.limit ? { limit: Number(o.limit) } : {}),
  });
  return {
    trajectory: (pid) => l.trajectory(pid),
    async trajectories(o) {
      const ts = await l.trajectories(filter(o));
      if (!o.jsonl) return ts;
      const { toJsonl } = await import('../../learning/trajectory.js');
      return toJsonl(ts);
    },
    analyze: (o) => l.analyze(filter(o)),
    lessons: (task) => (task ? l.lessonsFor(task, { k: 20 }) : l.lessons.list()),
    deleteLesson: (id) => l.lessons.delete(id),
    overrides: (p) => k.profileOptimizer.overrides(p),
    apply: (p, s, o) => k.profileOptimizer.apply(p, s, 'cli', o),
    ab: (id) => l.abReport(id),
    revert: (p, id) => k.profileOptimizer.revert(p, 'cli', id),
  };
}

function printTrajectory(t: Trajectory): void {
  const out = process.stdout;
  out.write(
    `${style.bold(`pid ${t.pid}`)} ${t.agent} (${t.program}, ${t.model ?? '-'})  ${t.outcome}${t.exitReason ? `: ${t.exitReason}` : ''}\n`,
  );
  out.write(`task: ${t.task}\n`);
  for (const s of t.steps) {
    out.write(
      `  step ${s.stepNo} [${s.phases.join(' → ')}] ${s.tokensIn}/${s.tokensCached}/${s.tokensOut} tok  cache ${pct(s.cacheHit)}  ${Math.round(s.llmMs)} ms\n`,
    );
    if (s.thought) out.write(`    ${style.dim(`thought: ${s.thought.slice(0, 200)}`)}\n`);
    for (const c of s.toolCalls)
      out.write(
        `    ${c.ok ? '✓' : style.red('✗')} ${c.name}(${JSON.stringify(c.arguments).slice(0, 120)}) → ${c.output.replace(/\s+/g, ' ').slice(0, 120)}\n`,
      );
    if (s.text) out.write(`    ${s.text.slice(0, 300)}\n`);
  }
  out.write(
    `  total ${t.totals.steps} steps, ${t.totals.tokensIn + t.totals.tokensOut} tokens, $${t.totals.cost.toFixed(6)}\n`,
  );
}

export function printAnalysis(a: Analysis): void {
  const out = process.stdout;
  out.write(`${style.bold(a.subject)}: ${a.finished} finished run(s), success rate ${pct(a.successRate)}\n`);
  out.write(
    `steps p50 ${a.steps.all.p50} p90 ${a.steps.all.p90} (success ${a.steps.success.min}–${a.steps.success.max}); tokens p50 ${a.tokens.p50}; cost mean $${a.cost.mean.toFixed(6)}; cache hit ${pct(a.cacheHitRatio)}\n`,
  );
  if (a.failureModes.length)
    out.write(
      table(
        ['FAILURE MODE', 'RUNS', 'SHARE', 'EXAMPLE'],
        a.failureModes.map((f) => [f.mode, f.count, pct(f.share), (f.example ?? '').slice(0, 60)]),
      ),
    );
  if (a.toolErrors.length)
    out.write(
      table(
        ['TOOL', 'CODE', 'ERRORS', 'CALLS', 'RATE', 'EXAMPLES'],
        a.toolErrors.map((e) => [
          e.tool,
          e.code,
          e.count,
          e.calls,
          pct(e.rate),
          e.examples.join(', ').slice(0, 60),
        ]),
      ),
    );
  out.write(`suggestions: ${a.suggestions.length}\n`);
  for (const s of a.suggestions)
    out.write(
      `  [${s.id}] ${s.title}\n    evidence ${JSON.stringify(s.evidence)}\n    change ${JSON.stringify(s.change)}\n`,
    );
}

function printEval(r: EvalReport): void {
  const out = process.stdout;
  const s = r.summary;
  const p = r.previous;
  const vs = (now: number, before: number | undefined, f: (x: number) => string) =>
    before === undefined ? f(now) : `${f(now)} (was ${f(before)})`;
  out.write(
    `${style.bold(`eval ${r.suite}`)}: ${s.runs} run(s), pass rate ${vs(s.passRate, p?.passRate, (x) => pct(x))}\n`,
  );
  out.write(
    `steps ${vs(s.stepsMean, p?.stepsMean, (x) => x.toFixed(2))}, tokens ${vs(s.tokensMean, p?.tokensMean, (x) => x.toFixed(0))}, cost $${vs(s.costTotal, p?.costTotal, (x) => x.toFixed(6))}, cache hit ${pct(s.cacheHit)}, latency p50 ${Math.round(s.latencyP50Ms)} ms\n`,
  );
  out.write(
    table(
      ['TASK', 'PASS', 'BEFORE', 'STEPS'],
      r.perTask.map((t) => [
        t.task,
        pct(t.passRate),
        t.previousPassRate === null ? '-' : pct(t.previousPassRate),
        t.stepsMean.toFixed(1),
      ]),
    ),
  );
  for (const run of r.runs.filter((x) => !x.pass))
    out.write(
      `${style.red('FAIL')} ${run.task}#${run.repetition} (pid ${run.pid}): ${run.checks
        .filter((c) => !c.pass)
        .map((c) => `${c.check} — ${c.detail}`)
        .join('; ')}\n`,
    );
  for (const g of r.regressions) out.write(`${style.red('regression')}: ${g}\n`);
}

export function register(program: Command): void {
  program
    .command('trajectories [pid]')
    .description(
      'trajectories (a view over the step log): one process, or a list; --jsonl exports one line per step',
    )
    .option('--agent <name>', 'only processes with this name')
    .option('--program <name>', 'only this agent program')
    .option('--profile <name>', 'only this profile')
    .option('--family <task>', 'only tasks similar to this text')
    .option('--limit <n>', 'at most this many (newest first)', '50')
    .option('--jsonl', 'export JSONL (schema aos.trajectory.step/1, docs/learning.md)')
    .option('--json', 'print JSON')
    .action(async (pid: string | undefined, o: ReadOpts) => {
      await withLearning(program, async (l) => {
        if (pid !== undefined) {
          const t = await l.trajectory(Number.parseInt(pid, 10));
          if (o.jsonl) {
            const { toJsonl } = await import('../../learning/trajectory.js');
            process.stdout.write(toJsonl([t]));
          } else if (o.json) process.stdout.write(`${JSON.stringify(t, null, 2)}\n`);
          else printTrajectory(t);
          return;
        }
        const ts = await l.trajectories(o);
        if (typeof ts === 'string') process.stdout.write(ts);
        else if (o.json) process.stdout.write(`${JSON.stringify(ts, null, 2)}\n`);
        else
          process.stdout.write(
            table(
              ['PID', 'AGENT', 'OUTCOME', 'STEPS', 'TOKENS', 'CACHE', 'TASK'],
              ts.map((t) => [
                t.pid,
                t.agent,
                t.outcome,
                t.totals.steps,
                t.totals.tokensIn + t.totals.tokensOut,
                pct(t.totals.tokensIn ? t.totals.tokensCached / t.totals.tokensIn : null),
                t.task.slice(0, 50),
              ]),
            ),
          );
      });
    });

  program
    .command('analyze [agent]')
    .description(
      'success rate, failure modes ranked and suggestions with their evidence (an agent, program, profile or task family)',
    )
    .option('--program <name>', 'analyse one agent program')
    .option('--profile <name>', 'analyse one profile')
    .option('--family <task>', 'analyse tasks similar to this text')
    .option('--json', 'print JSON')
    .action(async (agent: string | undefined, o: ReadOpts) => {
      await withLearning(program, async (l) => {
        const a = await l.analyze({ ...o, ...(agent ? { agent } : {}) });
        if (o.json) process.stdout.write(`${JSON.stringify(a, null, 2)}\n`);
        else printAnalysis(a);
      });
    });

  program
    .command('lessons')
    .description('lessons learned from finished processes (memories with provenance and confidence)')
    .option('--task <text>', 'the lessons a new process with this task would get')
    .option('--delete <id>', 'forget one lesson')
    .option('--json', 'print JSON')
    .action(async (o: { task?: string; delete?: string; json?: boolean }) => {
      await withLearning(program, async (l) => {
        if (o.delete) {
          const ok = await l.deleteLesson(o.delete);
          process.stdout.write(ok ? `forgot lesson ${o.delete}\n` : `no lesson ${o.delete}\n`);
          process.exitCode = ok ? 0 : 1;
          return;
        }
        const ls = await l.lessons(o.task);
        if (o.json) process.stdout.write(`${JSON.stringify(ls, null, 2)}\n`);
        else
          process.stdout.write(
            table(
              ['ID', 'KIND', 'CONF', 'USES', 'FROM', 'LESSON'],
              ls.map((x) => [
                x.id.slice(0, 8),
                x.kind,
                x.confidence.toFixed(2),
                `${x.wins}/${x.uses}`,
                `pid ${x.pid} step ${x.stepNo}`,
                x.text.slice(0, 80),
              ]),
            ),
          );
      });
    });

  const profile = program
    .command('profile')
    .description('changes to agent profiles from analysis suggestions (audited, revertible)');
  profile
    .command('show <name>')
    .description('the changes applied to a profile')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      await withLearning(program, async (l) => {
        const ov = await l.overrides(name);
        if (o.json) process.stdout.write(`${JSON.stringify(ov, null, 2)}\n`);
        else
          process.stdout.write(
            table(
              ['CHANGE', 'SUGGESTION', 'KEY', 'VALUE', 'BY', 'STATE'],
              ov.changes.map((c) => [
                c.id.slice(0, 8),
                c.suggestionId,
                c.change.key,
                JSON.stringify(c.change.value),
                c.appliedBy,
                c.revertedAt ? `reverted by ${c.revertedBy}` : 'in force',
              ]),
            ),
          );
      });
    });
  profile
    .command('apply <name> <suggestion-id>')
    .description(
      "apply one of `aos analyze <agent>`'s suggestions to a profile (recorded in the audit log with its evidence)",
    )
    .requiredOption('--agent <agent>', 'the agent whose analysis holds the suggestion')
    .option('--value <json>', 'the value to use where the suggestion names a placeholder (JSON or text)')
    .option('--share <0..1>', 'A/B: the share of new processes that get the change (report: aos profile ab)')
    .action(async (name: string, id: string, o: { agent: string; value?: string; share?: string }) => {
      await withLearning(program, async (l) => {
        const a = await l.analyze({ agent: o.agent });
        const s = a.suggestions.find((x) => x.id === id);
        if (!s) {
          process.stderr.write(
            `no suggestion ${id} for ${o.agent}; \`aos analyze ${o.agent}\` lists: ${a.suggestions.map((x) => x.id).join(', ') || 'none'}\n`,
          );
          process.exitCode = 2;
          return;
        }
        const opts = {
          ...(o.value !== undefined ? { value: parseValue(o.value) } : {}),
          ...(o.share !== undefined ? { share: Number(o.share) } : {}),
        };
        const c = await l.apply(name, s, opts);
        process.stdout.write(
          `applied ${s.id} to profile ${name} as change ${c.id}${c.share !== undefined ? ` for ${Math.round(c.share * 100)} % of new processes (report: aos profile ab ${c.id})` : ''} (revert: aos profile revert ${name} ${c.id})\n`,
        );
      });
    });
  profile
    .command('ab <change-id>')
    .description(
      "an A/B change's report: the arms compared (success, steps, tokens, cost) with 95 % intervals",
    )
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      await withLearning(program, async (l) => {
        const r = await l.ab(id);
        if (o.json) {
          process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          return;
        }
        const iv = (x: { estimate: number; lo: number; hi: number }, f: (v: number) => string) =>
          `${f(x.estimate)} [${f(x.lo)} … ${f(x.hi)}]`;
        const p100 = (v: number) => (Number.isFinite(v) ? `${Math.round(v * 1000) / 10} %` : '–');
        const n1 = (v: number) => (Number.isFinite(v) ? String(Math.round(v * 10) / 10) : '–');
        process.stdout.write(
          table(
            ['ARM', 'RUNS', 'SUCCESS [95 % CI]', 'STEPS [95 % CI]', 'TOKENS [95 % CI]'],
            (['change', 'control'] as const).map((a) => [
              a,
              r.arms[a].runs,
              iv(r.arms[a].successRate, p100),
              iv(r.arms[a].steps, n1),
              iv(r.arms[a].tokens, n1),
            ]),
          ),
        );
        process.stdout.write(`${r.verdict}${r.running ? ` (${r.running} still running)` : ''}\n`);
      });
    });
  profile
    .command('revert <name> [change-id]')
    .description('revert a change (the newest one in force when no id is given)')
    .action(async (name: string, id: string | undefined) => {
      await withLearning(program, async (l) => {
        const c = await l.revert(name, id);
        process.stdout.write(`reverted change ${c.id} (${c.suggestionId}) of profile ${name}\n`);
      });
    });

  program
    .command('eval <suite>')
    .description(
      'run a task suite with checks through the scheduler; pass rate, steps, tokens, cost, cache hit, latency vs the last run',
    )
    .option('--repeat <n>', 'runs per task (default from the suite)')
    .option('--concurrency <n>', 'processes at once (default from the suite)')
    .option('--model <name>', 'model for every task (default from the suite, else the default model)')
    .option(
      '--storage <url>',
      'storage for the eval kernel (default memory://, a sandbox of its own)',
      'memory://',
    )
    .option('--json', 'print the report as JSON')
    .action(
      async (
        file: string,
        o: { repeat?: string; concurrency?: string; model?: string; storage: string; json?: boolean },
      ) => {
        const { loadSuite, runEval } = await import('../../learning/eval.js');
        const { createKernel } = await import('../../kernel/kernel.js');
        const { setLogLevel } = await import('../../util/log.js');
        const suite = loadSuite(resolve(file));
        const { config, file: configFile } = loadConfig({ path: program.opts().config });
        setLogLevel('warn');
        const kernel = await createKernel({
          ...(configFile ? { configPath: configFile } : {}),
          storage: o.storage,
          recover: false,
        });
        try {
          const report = await runEval(kernel, suite, {
            ...(o.repeat ? { repeat: Number(o.repeat) } : {}),
            ...(o.concurrency ? { concurrency: Number(o.concurrency) } : {}),
            ...(o.model ? { model: o.model } : {}),
            historyDir: resolve(config.data_dir, 'evals'),
            ...(o.json
              ? {}
              : {
                  onRun: (r) =>
                    process.stderr.write(
                      `${r.pass ? '✓' : '✗'} ${r.task}#${r.repetition} (${r.steps} steps)\n`,
                    ),
                }),
          });
          if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          else printEval(report);
          process.exitCode = report.summary.passRate === 1 ? 0 : 1;
        } finally {
          await kernel.shutdown();
        }
      },
    );
}
