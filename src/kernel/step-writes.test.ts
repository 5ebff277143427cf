/**
 * What a step writes, and when: a pure tool's call (the calculator) is audited with the step that made it —
 * in the step's one commit, after the model call that asked for it — while an effectful tool's entry is
 * written the moment the call ends, so a step that never commits still leaves it. Through the agent loop,
 * against the project's simulator over HTTP (official OpenAI SDK).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type SimulatorHandle } from '../llm/simulated/server.js';
import type { Kernel } from './kernel.js';
import { bootTestKernel, openAiModel, type TestKernel } from './testing/test-kernel.js';

let sim: SimulatorHandle;
const kernels: TestKernel[] = [];

beforeAll(async () => {
  sim = await createSimulator();
});
afterEach(async () => {
  await Promise.all(kernels.splice(0).map((k) => k.close()));
});
afterAll(async () => {
  await sim?.close();
});

async function boot(): Promise<Kernel> {
  const t = await bootTestKernel({
    config: {
      default_model: 'gpt-sim',
      llms: { models: [openAiModel('gpt-sim', sim.urlFor('openai'), 'sk-t')] },
    },
  });
  kernels.push(t);
  return t.kernel;
}

/**
 * audit_log INSERTs the kernel sends as statements of their own, outside any transaction — not with a step
 * commit (its one statement, or its transaction).
 */
function auditWrites(k: Kernel): { alone: number; journalAlone: number } {
  const n = { alone: 0, journalAlone: 0 };
  const d = k.storage.driver as unknown as { query: (sql: string, p?: unknown[]) => unknown };
  const q = d.query.bind(d);
  d.query = (sql, p) => {
    if (/^\s*INSERT INTO audit_log/.test(sql)) n.alone++;
    if (/^\s*INSERT INTO llm_calls/.test(sql)) n.journalAlone++;
    return q(sql, p);
  };
  return n;
}

/** The model-call journal rows of a process: `step:call` and whether the answer is kept. */
async function journal(k: Kernel, pid: number): Promise<string[]> {
  const { rows } = await k.storage.driver.query<Record<string, unknown>>(
    'SELECT step_no, call_index, response IS NOT NULL AS kept FROM llm_calls WHERE pid = $1 ORDER BY step_no',
    [pid],
  );
  return rows.map((r) => `${r.step_no}:${r.call_index}:${r.kept}`);
}

describe('step writes: a pure tool is audited with its step', () => {
  it('commits the calculator call’s entry with the step, after the model call that asked for it', async () => {
    sim.engine.script([
      { toolCalls: [{ name: 'calculator', arguments: { expression: '6*7' } }] },
      { toolCalls: [{ name: 'calculator', arguments: { expression: '42+1' } }] },
      { text: 'It is 43.' },
    ]);
    const k = await boot();
    const writes = auditWrites(k);
    const pid = await k.spawn({ name: 'calc', task: 'What is 6*7, plus one?' });
    const st = await k.wait(pid);
    expect(st.state).toBe('terminated');
    expect(st.result).toBe('It is 43.');
    // no statement of its own for either call: both entries went out with their steps' commits
    expect(writes.alone).toBe(0);
    // each step's model answer is journaled, every one with its step's one statement — the final step's
    // too, which carries the process's exit (its row and its proc.exit entry) in the same statement
    expect(await journal(k, pid)).toEqual(['1:0:true', '2:0:true', '3:0:true']);
    expect(writes.journalAlone).toBe(0);
    const entries = await k.audit.list({ stream: `proc:${pid}` });
    const steps = entries
      .filter((e) => e.kind === 'llm.chat' || e.kind === 'io.tool_call')
      .map((e) => `${(e.payload as { stepNo: number }).stepNo}:${e.kind}`);
    // in the order things happened: each step's model call, then the tool call it asked for
    expect(steps).toEqual(['1:llm.chat', '1:io.tool_call', '2:llm.chat', '2:io.tool_call', '3:llm.chat']);
    const calls = entries.filter((e) => e.kind === 'io.tool_call').map((e) => e.payload);
    expect(calls).toMatchObject([
      { tool: 'calculator', args: { expression: '6*7' }, ok: true, output: '42', callIndex: 0 },
      { tool: 'calculator', args: { expression: '42+1' }, ok: true, output: '43' },
    ]);
    const exit = entries.at(-1)!;
    expect(exit).toMatchObject({
      kind: 'proc.exit',
      actor: 'kernel',
      payload: { outcome: 'done', steps: 3 },
    });
    expect(entries.at(-2)?.kind).toBe('llm.chat');
    expect((await k.audit.verify({ stream: `proc:${pid}` })).ok).toBe(true);
  });

  it('writes an effectful tool’s entry at once: a step killed before its commit still leaves it', async () => {
    sim.engine.script([
      { toolCalls: [{ name: 'write_file', arguments: { path: 'note.txt', content: 'hello' } }] },
      { text: 'done' },
    ]);
    const k = await boot();
    const writes = auditWrites(k);
    let pid = 0;
    // killed while its step is still running, right after the tool call: that step never commits
    k.hooks.on('io.tool_call.after', () => {
      void k.kill(pid);
    });
    pid = await k.spawn({ name: 'writer', task: 'Write hello to note.txt' });
    const st = await k.wait(pid);
    expect(st.state).not.toBe('running');
    expect((await k.storage.state.listSteps(pid)).filter((s) => s.kind !== 'exit')).toEqual([]);
    const entries = await k.audit.list({ stream: `proc:${pid}` });
    expect(entries.filter((e) => e.kind === 'io.tool_call').map((e) => e.payload)).toMatchObject([
      { tool: 'write_file', ok: true },
    ]);
    expect(writes.alone).toBeGreaterThanOrEqual(1);
    // the answer that led to the effect was journaled before the effect: the step's redo would replay it
    expect(await journal(k, pid)).toEqual(['1:0:true']);
  });
});
