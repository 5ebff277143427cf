import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelError } from '../errors.js';
import type { SimulatorOptions } from '../llm/simulated/engine.js';
import { SimulatedProvider } from '../llm/simulated/simulated-provider.js';
import { createKernel, type Kernel } from './kernel.js';
import { resolverFromProvider } from './model-resolver.js';
import { type AgentProgram, continueWith, done } from './program.js';

const kernels: Kernel[] = [];
afterEach(async () => {
  await Promise.all(kernels.splice(0).map((k) => k.shutdown()));
});

async function boot(
  sim: SimulatorOptions = {},
  extra: { slots?: number; programs?: Array<AgentProgram<any>> } = {},
) {
  const k = await createKernel({
    storage: 'memory://',
    config: {
      security: { sandbox: 'none', workspace: mkdtempSync(join(tmpdir(), 'aos-ws-')) },
      scheduler: { slots_per_model: extra.slots ?? 4 },
    },
    models: resolverFromProvider(new SimulatedProvider(sim)),
    programs: extra.programs ?? [],
    plugins: false,
  });
  kernels.push(k);
  return k;
}

/** A program that makes one model call per step and finishes after `steps` steps. */
const counter: AgentProgram<{ n: number; steps: number; seen: string[] }> = {
  name: 'counter',
  init: ({ args }) => ({ n: 0, steps: (args as { steps?: number } | undefined)?.steps ?? 3, seen: [] }),
  async step(s, sys) {
    const r = await sys.call('llm.chat', { messages: [{ role: 'user', content: `count ${s.n}` }] });
    const next = { ...s, n: s.n + 1, seen: [...s.seen, r.content] };
    return next.n >= s.steps ? done(next, next.n) : continueWith(next, { kind: 'count', text: r.content });
  },
};

describe('kernel: the ReAct agent', () => {
  it('runs a tool-calling agent to its final answer, every step committed and audited', async () => {
    const k = await boot({
      scenario: [
        {
          toolCalls: [{ name: 'calculator', arguments: { expression: '(2+3)*7' } }],
          text: 'I will compute it.',
        },
        { toolCalls: [{ name: 'final_answer', arguments: { answer: 'The result is 35.' } }] },
      ],
    });
    const pid = await k.spawn({ name: 'calc', task: 'What is (2+3)*7?' });
    const st = await k.wait(pid);
    expect(st.exitReason).toBeNull();
    expect(st.result).toBe('The result is 35.');
    const steps = await k.steps(pid);
    expect(steps.map((s) => s.stepNo)).toEqual([1, 2]);
    const first = steps[0]!.record as { toolCalls: Array<{ name: string; output: string; ok: boolean }> };
    expect(first.toolCalls[0]).toMatchObject({ name: 'calculator', ok: true });
    expect(first.toolCalls[0]!.output).toContain('35');
    const info = await k.get(pid);
    expect(info.usage.apiCalls).toBe(2);
    expect(info.usage.tokensIn).toBeGreaterThan(0);
    const audit = await k.storage.audit.list({ stream: `proc:${pid}` });
    const kinds = audit.map((a) => a.kind);
    expect(kinds.filter((x) => x === 'llm.chat')).toHaveLength(2);
    expect(kinds).toContain('proc.exit');
    expect((await k.storage.audit.verify()).ok).toBe(true);
  });

  it('turns a malformed tool call into an observation the model can correct', async () => {
    const k = await boot({
      scenario: [
        { toolCalls: [{ name: 'calculator', arguments: '{"expression": ' }] },
        { toolCalls: [{ name: 'calculator', arguments: { expression: '1+1' } }] },
        { text: 'It is 2.' },
      ],
    });
    const pid = await k.spawn({ name: 'fix', task: '1+1?' });
    const st = await k.wait(pid);
    expect(st.result).toBe('It is 2.');
    const steps = await k.steps(pid);
    const bad = (steps[0]!.record as { toolCalls: Array<{ ok: boolean; output: string }> }).toolCalls[0]!;
    expect(bad.ok).toBe(false);
    expect(bad.output).toMatch(/JSON|argument/i);
  });
});

describe('kernel: scheduling and lifecycle', () => {
  it('grants the LLM slot by priority (lower is more urgent)', async () => {
    const order: number[] = [];
    const k = await boot({ latency: { ttftMs: 30 } }, { slots: 1, programs: [counter] });
    k.hooks.on('llm.before', (e) => void order.push(e.pid));
    const first = await k.spawn({
      name: 'first',
      task: 't',
      priority: 50,
      program: 'counter',
      args: { steps: 1 },
    });
    await new Promise((r) => setTimeout(r, 5));
    const low = await k.spawn({
      name: 'low',
      task: 't',
      priority: 90,
      program: 'counter',
      args: { steps: 1 },
    });
    const high = await k.spawn({
      name: 'high',
      task: 't',
      priority: 5,
      program: 'counter',
      args: { steps: 1 },
    });
    const grants: number[] = [];
    k.hooks.on('llm.after', (e) => void grants.push(e.pid));
    await k.run({ timeoutMs: 10_000 });
    expect(grants).toEqual([first, high, low]);
  });

  it('shows the run queue and busy slots in the metrics while processes wait for a slot', async () => {
    const k = await boot({ latency: { ttftMs: 200 } }, { slots: 1, programs: [counter] });
    for (const n of ['a', 'b', 'c'])
      await k.spawn({ name: n, task: 't', program: 'counter', args: { steps: 1 } });
    const gauge = async (name: string) =>
      (await k.metrics.registry.getSingleMetric(name)!.get()).values.map((v) => v.value);
    const t0 = Date.now();
    while ((await gauge('aos_sched_run_queue_length'))[0] !== 2 && Date.now() - t0 < 5000)
      await new Promise((r) => setTimeout(r, 5));
    expect(await gauge('aos_sched_run_queue_length')).toEqual([2]);
    expect(await gauge('aos_sched_slots_busy')).toEqual([1]);
    expect(await gauge('aos_sched_slots_total')).toEqual([1]);
    await k.run({ timeoutMs: 10_000 });
    expect(await gauge('aos_sched_run_queue_length')).toEqual([0]);
    expect(await gauge('aos_sched_slots_busy')).toEqual([0]);
  });

  it('suspends and resumes a process between steps', async () => {
    const k = await boot({ latency: { ttftMs: 10 } }, { programs: [counter] });
    const pid = await k.spawn({ name: 'c', task: 't', program: 'counter', args: { steps: 6 } });
    await k.suspend(pid);
    await new Promise<void>((resolve) =>
      k.hooks.on('proc.state', (e) => e.pid === pid && e.to === 'suspended' && resolve()),
    );
    const at = (await k.get(pid)).stepNo;
    await new Promise((r) => setTimeout(r, 50));
    expect((await k.get(pid)).stepNo).toBe(at);
    expect((await k.storage.state.getProcess(pid))!.state).toBe('suspended');
    await k.resume(pid);
    const st = await k.wait(pid);
    expect(st.result).toBe(6);
  });

  it('suspends from a proc.step hook (a rule reacting to a step) and resumes to the answer', async () => {
    const k = await boot({ latency: { ttftMs: 2 } }, { programs: [counter] });
    const pid = await k.spawn({ name: 'c', task: 't', program: 'counter', args: { steps: 5 } });
    const suspended = new Promise<void>((resolve) =>
      k.hooks.on('proc.state', (e) => e.pid === pid && e.to === 'suspended' && resolve()),
    );
    let fired = false;
    k.hooks.on('proc.step', (e) => {
      if (e.pid !== pid || e.stepNo !== 2 || fired) return;
      fired = true;
      return k.suspend(pid);
    });
    await suspended;
    const at = (await k.get(pid)).stepNo;
    expect(at).toBeGreaterThanOrEqual(2);
    expect((await k.storage.state.getProcess(pid))!.state).toBe('suspended');
    await k.resume(pid);
    const st = await k.wait(pid);
    expect(st.state).toBe('terminated');
    expect(st.exitReason ?? null).toBeNull();
    expect(st.result).toBe(5);
  });

  it('a proc.step hook that suspends and resumes at once, or suspends on the last step, loses nothing', async () => {
    const k = await boot({ latency: { ttftMs: 1 } }, { programs: [counter] });
    const a = await k.spawn({ name: 'a', task: 't', program: 'counter', args: { steps: 4 } });
    const b = await k.spawn({ name: 'b', task: 't', program: 'counter', args: { steps: 3 } });
    k.hooks.on('proc.step', async (e) => {
      if (e.pid === a) {
        await k.suspend(a);
        await k.resume(a);
      }
      if (e.pid === b && e.stepNo === 3) await k.suspend(b);
    });
    const sa = await k.wait(a);
    expect([sa.state, sa.exitReason ?? null, sa.result]).toEqual(['terminated', null, 4]);
    const sb = await k.wait(b);
    expect([sb.state, sb.exitReason ?? null, sb.result]).toEqual(['terminated', null, 3]);
  });

  it('the built-in agent suspended from a proc.step hook resumes to its answer', async () => {
    const k = await boot({ latency: { ttftMs: 1 } });
    const pid = await k.spawn({ name: 'r', task: 'Add 2 and 3 with the calculator, then answer.' });
    let n = 0;
    k.hooks.on('proc.step', (e) => {
      if (e.pid !== pid || n++ > 0) return;
      void k.suspend(pid);
      setTimeout(() => void k.resume(pid), 30);
    });
    const st = await k.wait(pid);
    expect([st.state, st.exitReason ?? null]).toEqual(['terminated', null]);
    expect(n).toBeGreaterThan(1);
  });

  it('kills gracefully, then forcibly after the grace period', async () => {
    const k = await boot({ scenario: () => ({ hang: true }) }, { programs: [counter] });
    const pid = await k.spawn({ name: 'stuck', task: 't', program: 'counter', args: { steps: 2 } });
    await new Promise((r) => setTimeout(r, 20));
    const st = await k.kill(pid, 'operator request', 50);
    expect(st.state).toBe('terminated');
    expect(st.exitReason).toContain('operator request');
    expect(await k.steps(pid)).toHaveLength(0);
    await expect(k.kill(pid)).rejects.toMatchObject({ code: 'ENOPROC' });
  });

  it('enforces budgets with a clear exit reason', async () => {
    const k = await boot({}, { programs: [counter] });
    const pid = await k.spawn({
      name: 'b',
      task: 't',
      program: 'counter',
      args: { steps: 100 },
      budgets: { maxSteps: 3 },
    });
    const st = await k.wait(pid);
    expect(st.state).toBe('terminated');
    expect(st.exitReason).toMatch(/steps/);
    expect((await k.steps(pid)).length).toBe(3);
  });

  it('checkpoints and restores a process into a new one', async () => {
    const k = await boot({}, { programs: [counter] });
    const pid = await k.spawn({ name: 'c', task: 't', program: 'counter', args: { steps: 4 } });
    await k.wait(pid);
    const cp = await k.checkpoint(pid);
    const snap = await k.storage.state.getSnapshot(cp);
    expect((snap!.programState as { n: number }).n).toBe(4);
    // Restore from the first periodic/exit snapshot: a fresh pid continues from that state.
    const newPid = await k.restore(cp, { name: 'again' });
    expect(newPid).not.toBe(pid);
    const st = await k.wait(newPid);
    expect(st.result).toBe(5);
  });

  it('lets a before-hook veto a syscall', async () => {
    const k = await boot({}, { programs: [counter] });
    k.hooks.on(
      'syscall.before',
      (e) => (e.name === 'llm.chat' ? { veto: 'no model calls today' } : undefined),
      'test',
    );
    const pid = await k.spawn({ name: 'v', task: 't', program: 'counter' });
    const st = await k.wait(pid);
    expect(st.exitReason).toContain('no model calls today');
  });

  it('rejects bad spawn input clearly', async () => {
    const k = await boot();
    await expect(k.spawn({ name: 'x', task: 't', priority: 120 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.spawn({ name: 'x', task: 't', program: 'nope' })).rejects.toBeInstanceOf(KernelError);
  });
});

describe('kernel: IPC', () => {
  const receiver: AgentProgram<{ got: unknown[] }> = {
    name: 'receiver',
    init: () => ({ got: [] }),
    async step(s, sys) {
      const msgs = await sys.call('ipc.recv', { timeoutMs: 5_000 });
      return done(
        { got: msgs.map((m) => m.body) },
        msgs.map((m) => m.body),
      );
    },
  };
  const sender: AgentProgram<{ to: number }> = {
    name: 'sender',
    init: ({ args }) => ({ to: (args as { to: number }).to }),
    async step(s, sys) {
      await sys.call('ipc.send', { to: s.to, body: { hello: 'world' } });
      return done(s, 'sent');
    },
  };
  const parent: AgentProgram<{ child?: number }> = {
    name: 'parent',
    init: () => ({}),
    async step(s, sys) {
      const { pid } = await sys.call('proc.spawn', { name: 'kid', task: 'count', program: 'counter' });
      const st = await sys.call('proc.wait', { pid });
      await sys.call('ipc.kv_cas', { key: 'last-child', expectedVersion: null, value: pid });
      return done({ child: pid }, st.result);
    },
  };

  it('wakes a blocked receiver when the sender commits', async () => {
    const k = await boot({}, { programs: [receiver, sender] });
    const rx = await k.spawn({ name: 'rx', task: 'listen', program: 'receiver' });
    await new Promise<void>((resolve) =>
      k.hooks.on('proc.state', (e) => e.pid === rx && e.to === 'waiting' && resolve()),
    );
    expect((await k.get(rx)).waitOn).toBe('message');
    await k.spawn({ name: 'tx', task: 'talk', program: 'sender', args: { to: rx } });
    const st = await k.wait(rx);
    expect(st.result).toEqual([{ hello: 'world' }]);
  });

  it('spawns a child, waits for it and shares state by compare-and-set', async () => {
    const k = await boot({}, { programs: [parent, counter] });
    const pid = await k.spawn({ name: 'p', task: 'delegate', program: 'parent' });
    const st = await k.wait(pid);
    expect(st.result).toBe(3);
    const kv = await k.storage.state.kvGet('shared', 'last-child');
    expect(typeof kv?.value).toBe('number');
    const child = await k.get(kv!.value as number);
    expect(child.parentPid).toBe(pid);
    expect(child.state).toBe('terminated');
  });
});

describe('kernel: human approval', () => {
  it('parks the process in waiting(approval) until a human approves, then runs the tool', async () => {
    const k = await boot({
      scenario: [
        { toolCalls: [{ name: 'calculator', arguments: { expression: '6*7' } }] },
        { toolCalls: [{ name: 'final_answer', arguments: { answer: '42' } }] },
      ],
    });
    const pending = new Promise<{ id: string }>((resolve) =>
      k.hooks.on('approval.pending', (e) => resolve(e)),
    );
    const waits: string[] = [];
    k.hooks.on('proc.state', (e) => void (e.waitOn && waits.push(e.waitOn)));
    const pid = await k.spawn({ name: 'careful', task: '6*7?', policy: { ask_tools: ['calculator'] } });
    const { id } = await pending;
    expect((await k.get(pid)).state).toBe('waiting');
    expect((await k.get(pid)).waitOn).toBe(`approval:${id}`);
    await k.tools.approvals.approve(id, 'tester');
    const st = await k.wait(pid);
    expect(st.result).toBe('42');
    expect(waits).toContain(`approval:${id}`);
    const kinds = (await k.storage.audit.list({ stream: `proc:${pid}` })).map((a) => a.kind);
    expect(kinds.some((x) => x.startsWith('approval'))).toBe(true);
  });

  it('a denial becomes an observation the model reads', async () => {
    const k = await boot({
      scenario: [
        { toolCalls: [{ name: 'calculator', arguments: { expression: '6*7' } }] },
        { text: 'I was not allowed to compute it.' },
      ],
    });
    k.hooks.on('approval.pending', (e) => void k.tools.approvals.deny(e.id, 'tester', 'not today'));
    const pid = await k.spawn({ name: 'careful', task: '6*7?', policy: { ask_tools: ['calculator'] } });
    const st = await k.wait(pid);
    expect(st.result).toBe('I was not allowed to compute it.');
    const rec = (await k.steps(pid))[0]!.record as { toolCalls: Array<{ ok: boolean; output: string }> };
    expect(rec.toolCalls[0]!.ok).toBe(false);
    expect(rec.toolCalls[0]!.output).toContain('not today');
  });
});

describe('kernel: spawn limits', () => {
  const forker: AgentProgram<{ depth: number }> = {
    name: 'forker',
    init: ({ args }) => ({ depth: (args as { depth?: number } | undefined)?.depth ?? 0 }),
    async step(s, sys) {
      const { pid } = await sys.call('proc.spawn', { name: 'fork', task: 'fork again', program: 'forker' });
      const st = await sys.call('proc.wait', { pid });
      return done(s, st.exitReason ?? st.result);
    },
  };

  it('an agent that spawns copies of itself hits EQUOTA at MAX_SPAWN_DEPTH', async () => {
    const k = await boot({}, { programs: [forker] });
    const pid = await k.spawn({ name: 'root', task: 'fork', program: 'forker' });
    const st = await k.wait(pid, 60_000);
    expect(String(st.result)).toContain('MAX_SPAWN_DEPTH');
    const all = await k.status();
    expect(all.processes.length).toBeLessThanOrEqual(9);
  });
});
