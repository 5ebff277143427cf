/**
 * Restore that works, through the library on both drivers: a checkpoint of the built-in ReAct agent (with
 * context pages swapped out to storage) restored into a new pid, forked while the original still runs, and
 * rewound into its own pid after a kill; a custom program's unconsumed mail travels with its checkpoint.
 * Every case asserts the restored process FINISHES ITS TASK with the result an uninterrupted run gives.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { type ModelResolver, resolverFromProvider } from '../../src/kernel/model-resolver.js';
import { type AgentProgram, continueWith, done, fail } from '../../src/kernel/program.js';
import type { ScriptedTurn, SimRequest } from '../../src/llm/simulated/scenario.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';
import { pgUnreachableReason, randomSchema, TEST_PG_URL } from '../../src/storage/testing/backends.case.js';

const ROUNDS = 6;
// Three tools keep the static prefix small, so compaction leaves the newest turns resident.
const POLICY = { allowed_tools: ['calculator', 'recall', 'final_answer'] };
// Long assistant turns fill a small window, so early turns are paged out to storage and come back by recall.
const PAD = Array.from({ length: 200 }, (_, i) => `note${i}`).join(' ');

/** A paged-out calculator result in a stub: the call it answered (with its expression), then its value. */
const STUB_LINE = /tool_result calculator\(expression=\d+\+1\), \d+ tokens: (\d+)/g;
/** The same in a stub's summary: `calculator(expression=2+1) returned: 3`. */
const SUMMARY_LINE = /calculator\(expression=\d+\+1\) returned: (\d+)/g;

/**
 * Counts to ROUNDS one calculator call per step, recalls the first paged-out result, then answers. It reads
 * paged-out turns the way a model must: by what their stubs say they stand for (call and arguments).
 */
function script(req: SimRequest): ScriptedTurn {
  const tools = req.messages.filter((m) => m.role === 'tool');
  const lastAssistant = [...req.messages]
    .reverse()
    .find((m) => m.role === 'assistant' && m.toolCalls?.length);
  const lastCall = lastAssistant?.toolCalls?.[0]?.name;
  // The count so far: the newest calculator result, whether it is resident or listed in a paged-out stub
  // (a stub names the call it stands for: `tool_result calculator(expression=2+1), 12 tokens: 3`).
  const text = req.messages.map((m) => m.content).join('\n');
  const values = [
    ...tools.filter((t) => t.name === 'calculator').map((t) => Number(t.content.trim())),
    ...[...text.matchAll(STUB_LINE), ...text.matchAll(SUMMARY_LINE)].map((m) => Number(m[1])),
  ];
  const v = Math.max(0, ...values);
  // Recalled already: the result is resident, or — when the window filled again — its stub names it.
  const recall =
    lastCall === 'recall'
      ? tools.at(-1)!.content
      : /tool_result recall\(page_id=[^)\s]+\), \d+ tokens: (.*)/.exec(text)?.[1];
  if (recall !== undefined) {
    const what = /calculator\(expression=[^)]*\)/.exec(recall)?.[0] ?? 'nothing';
    return { toolCalls: [{ name: 'final_answer', arguments: { answer: `counted ${v}; recalled ${what}` } }] };
  }
  if (v < ROUNDS)
    return {
      text: `Step ${v + 1}. ${v < 2 ? PAD : ''}`,
      toolCalls: [{ name: 'calculator', arguments: { expression: `${v}+1` } }],
    };
  const paged = new RegExp(`- (\\S+) ${STUB_LINE.source}`).exec(text)?.[1];
  if (paged) return { toolCalls: [{ name: 'recall', arguments: { page_id: paged } }] };
  return { toolCalls: [{ name: 'final_answer', arguments: { answer: `counted ${v}; nothing paged out` } }] };
}

/**
 * A small window (with the simulator's own model) so the agent's context really swaps: small enough that
 * calculator results are paged out, large enough that the recall turn stays resident until the answer.
 */
function smallWindow(base: ModelResolver): ModelResolver {
  return { ...base, describe: (n) => ({ ...base.describe(n), contextWindow: 1350, maxOutputTokens: 200 }) };
}

/** Consumes one message per step; finishes with every body it read, in order, once it has `want`. */
const inbox: AgentProgram<{ got: unknown[]; want: number; idle: number }> = {
  name: 'inbox',
  init: ({ args }) => ({ got: [], want: (args as { want: number }).want, idle: 0 }),
  async step(s, sys) {
    const msgs = await sys.call('ipc.recv', { limit: 1, timeoutMs: 2000 });
    const got = [...s.got, ...msgs.map((m) => m.body)];
    const idle = msgs.length ? 0 : s.idle + 1;
    if (got.length >= s.want) return done({ ...s, got }, got);
    if (idle >= 5)
      return fail({ ...s, got, idle }, `no mail after ${idle} steps; got ${JSON.stringify(got)}`);
    return continueWith({ ...s, got, idle }, { kind: 'recv', n: got.length });
  },
};

interface Backend {
  name: string;
  url(): string;
  cleanup(): Promise<void>;
}

const schemas: string[] = [];
const backends: Backend[] = [
  { name: 'pglite', url: () => 'memory://', cleanup: async () => {} },
  {
    name: 'postgres',
    url: () => {
      const s = randomSchema();
      schemas.push(s);
      return `${TEST_PG_URL}${TEST_PG_URL.includes('?') ? '&' : '?'}schema=${s}`;
    },
    async cleanup() {
      const pg = await import('pg');
      const c = new pg.default.Client({ connectionString: TEST_PG_URL });
      await c.connect();
      for (const s of schemas.splice(0)) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await c.end();
    },
  },
];

const pgWhy = await pgUnreachableReason();
const ci = process.env.CI === 'true' || process.env.CI === '1';

for (const b of backends) {
  const skip = b.name === 'postgres' && pgWhy !== null && !ci;
  describe.skipIf(skip)(`restore [${b.name}]${skip ? ` — skipped: ${pgWhy}` : ''}`, () => {
    const kernels: Kernel[] = [];
    afterAll(async () => {
      await Promise.all(kernels.map((k) => k.shutdown()));
      await b.cleanup();
    });

    let shared: Kernel | null = null;
    /** One kernel per backend: the cases are independent processes on it. */
    async function boot(): Promise<Kernel> {
      if (shared) return shared;
      const k = await createKernel({
        storage: b.url(),
        config: {
          data_dir: mkdtempSync(join(tmpdir(), 'aos-restore-')),
          security: { sandbox: 'none', workspace: mkdtempSync(join(tmpdir(), 'aos-ws-')) },
          storage: { snapshot_every_steps: 1 },
          context: { summarizer: 'extractive', output_reserve_tokens: 200, high_water: 0.9, low_water: 0.8 },
        },
        models: smallWindow(resolverFromProvider(new SimulatedProvider({ scenario: script }))),
        programs: [inbox],
        plugins: false,
      });
      kernels.push(k);
      shared = k;
      return k;
    }

    /** The snapshot a process wrote at `stepNo` (snapshot_every_steps: 1 writes one per step). */
    async function snapshotAt(k: Kernel, pid: number, stepNo: number): Promise<number> {
      const snaps = await k.storage.state.listSnapshots(pid);
      const s = snaps.find((x) => x.stepNo === stepNo && x.reason === 'periodic');
      expect(s, `pid ${pid} has a snapshot at step ${stepNo}`).toBeDefined();
      return s!.id;
    }

    async function stepNos(k: Kernel, pid: number): Promise<number[]> {
      return (await k.steps(pid)).map((s) => s.stepNo);
    }

    const TASK = 'Count to six with the calculator.';
    let expected = '';
    let totalSteps = 0;

    it('an uninterrupted ReAct run pages its context out and recalls it (the reference)', async () => {
      const k = await boot();
      const pid = await k.spawn({ name: 'ref', task: TASK, policy: POLICY });
      const st = await k.wait(pid);
      expect(st.exitReason).toBeNull();
      expected = String(st.result);
      expect(expected).toMatch(/^counted 6; recalled /);
      expect(expected).not.toMatch(/no paged-out page|nothing paged out/);
      totalSteps = (await stepNos(k, pid)).length;
      expect(totalSteps).toBe(ROUNDS + 2);
    });

    it('restores a ReAct checkpoint into a new pid: it finishes the task from the checkpoint, with its pages and usage', async () => {
      const k = await boot();
      const pid = await k.spawn({ name: 'orig', task: TASK, policy: POLICY });
      await k.wait(pid);
      const cp = await snapshotAt(k, pid, 4);
      const snap = await k.storage.state.getSnapshot(cp);
      const newPid = await k.restore(cp, { name: 'again' });
      expect(newPid).not.toBe(pid);
      const st = await k.wait(newPid);
      expect(st.exitReason).toBeNull();
      expect(st.result).toBe(expected);
      // It continued from the checkpoint: steps 5.. only, and its usage started where the checkpoint's was.
      expect(await stepNos(k, newPid)).toEqual(Array.from({ length: totalSteps - 4 }, (_, i) => i + 5));
      const info = await k.get(newPid);
      const before = (snap!.process as { usage: { apiCalls: number } }).usage.apiCalls;
      expect(before).toBe(4);
      expect(info.usage.apiCalls).toBe(before + (totalSteps - 4));
      expect((await k.storage.audit.verify()).ok).toBe(true);
    });

    it('forks a checkpoint while the original runs: both finish the task', async () => {
      const k = await boot();
      const pid = await k.spawn({ name: 'runner', task: TASK, policy: POLICY });
      let fork: Promise<number> | null = null;
      k.hooks.on('proc.step', (e) => {
        if (e.pid === pid && e.stepNo === 3 && !fork)
          fork = snapshotAt(k, pid, 2).then((cp) => k.restore(cp));
      });
      const st = await k.wait(pid);
      expect(fork).not.toBeNull();
      const forkPid = await fork!;
      const fst = await k.wait(forkPid);
      expect(st.result).toBe(expected);
      expect(fst.exitReason).toBeNull();
      expect(fst.result).toBe(expected);
      expect(await stepNos(k, forkPid)).toEqual(Array.from({ length: totalSteps - 2 }, (_, i) => i + 3));
    });

    it('rewinds a killed ReAct process into its own pid: it finishes with contiguous steps', async () => {
      const k = await boot();
      const pid = await k.spawn({ name: 'victim', task: TASK, policy: POLICY });
      let killed: Promise<unknown> | null = null;
      k.hooks.on('proc.step', (e) => {
        if (e.pid === pid && e.stepNo === 5 && !killed) killed = k.kill(pid, 'test kill');
      });
      const st = await k.wait(pid);
      expect(st.exitReason).toMatch(/killed/);
      const cp = await snapshotAt(k, pid, 3);
      const again = await k.restore(cp, { into: 'same' });
      expect(again).toBe(pid);
      const st2 = await k.wait(pid);
      expect(st2.exitReason).toBeNull();
      expect(st2.result).toBe(expected);
      expect(await stepNos(k, pid)).toEqual(Array.from({ length: totalSteps }, (_, i) => i + 1));
      const kinds = (await k.storage.audit.list({ stream: `proc:${pid}` })).map((a) => a.kind);
      expect(kinds).toContain('proc.restore');
      expect((await k.storage.audit.verify()).ok).toBe(true);
      // A live process cannot be rewound under itself.
      const live = await k.spawn({ name: 'live', task: 'wait', program: 'inbox', args: { want: 1 } });
      const lcp = await k.checkpoint(live);
      await expect(k.restore(lcp, { into: 'same' })).rejects.toMatchObject({ code: 'ESTATE' });
      await k.kill(live);
    });

    it('carries unconsumed mail: a new pid gets a copy, a rewind gets it back', async () => {
      const k = await boot();
      const pid = await k.spawn({ name: 'mail', task: 'read', program: 'inbox', args: { want: 3 } });
      for (const body of ['m1', 'm2', 'm3'])
        await k.storage.coordination.send({ from: 'test', to: String(pid), body });
      const st = await k.wait(pid);
      expect(st.result).toEqual(['m1', 'm2', 'm3']);
      const cp = await snapshotAt(k, pid, 2);
      const forked = await k.restore(cp);
      expect((await k.wait(forked)).result).toEqual(['m1', 'm2', 'm3']);
      const rewound = await k.restore(cp, { into: 'same' });
      expect((await k.wait(rewound)).result).toEqual(['m1', 'm2', 'm3']);
      expect(await stepNos(k, pid)).toEqual([1, 2, 3]);
    });
  });
}
