/**
 * The syscall gate is the only door: a plugin's hooks see every tool call exactly once with its parsed
 * arguments (an agent's and the API's alike), and the context summariser's model calls pass the gate as
 * `llm.chat` with `purpose: 'summary'` — in the audit log and in the process's usage. The model is the
 * project's simulator over HTTP, spoken to with the official OpenAI SDK.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../api/server.js';
import type { AosConfigInput } from '../config/schema.js';
import { HOOK_ALIASES } from '../hooks/bus.js';
import { createSimulator, type SimulatorHandle } from '../llm/simulated/server.js';
import type { Kernel } from './kernel.js';
import { type AgentProgram, continueWith, done } from './program.js';
import { SYSCALL_ARGS } from './syscalls.js';
import { bootTestKernel, openAiModel } from './testing/test-kernel.js';

let sim: SimulatorHandle;
const dirs: string[] = [];
const kernels: Kernel[] = [];

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  sim = await createSimulator();
});
afterEach(async () => {
  await Promise.all(kernels.splice(0).map((k) => k.shutdown()));
});
afterAll(async () => {
  await sim?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A plugin module on disk, loaded by the kernel from `plugins:`, recording every tool.before it sees. */
function recorderPlugin(dir: string): string {
  const file = join(dir, 'recorder.mjs');
  writeFileSync(
    file,
    `export const seen = [];
export default {
  name: 'recorder',
  setup(kernel) {
    globalThis.__aosToolBefore = seen;
    kernel.hooks.on('tool.before', (e) => { seen.push({ pid: e.pid, tool: e.tool, args: e.args }); });
  },
};
`,
  );
  return file;
}

async function boot(extra: Partial<AosConfigInput> = {}, programs: Array<AgentProgram<any>> = []) {
  const dir = tempDir('aos-gate-');
  const url = sim.urlFor('openai');
  const t = await bootTestKernel({
    dir,
    plugins: true,
    config: {
      default_model: 'gpt-sim',
      llms: {
        models: [
          openAiModel('gpt-sim', url, 'sk-test'),
          // a small window, so a few notes make the context compact
          { ...openAiModel('gpt-small', url, 'sk-test'), context_window: 1600, max_output_tokens: 200 },
        ],
      },
      plugins: [recorderPlugin(dir)],
      ...extra,
    },
    programs,
  });
  kernels.push(t.kernel);
  return t.kernel;
}

function seen(): Array<{ pid: number; tool: string; args: unknown }> {
  return (globalThis as { __aosToolBefore?: Array<{ pid: number; tool: string; args: unknown }> })
    .__aosToolBefore!;
}

describe('the gate: tool.before', () => {
  it('fires exactly once per agent tool call, with the parsed arguments', async () => {
    sim.engine.script([
      { toolCalls: [{ name: 'calculator', arguments: { expression: '6*7' } }] },
      { toolCalls: [{ name: 'final_answer', arguments: { answer: '42' } }] },
    ]);
    const k = await boot();
    const pid = await k.spawn({ name: 'calc', task: 'What is 6*7?' });
    const st = await k.wait(pid);
    expect(st.result).toBe('42');
    const calls = seen().filter((e) => e.pid === pid);
    // one event for the one tool call, its arguments an object (not the model's JSON text)
    expect(calls).toEqual([{ pid, tool: 'calculator', args: { expression: '6*7' } }]);
  });

  it('fires once for a tool called through the HTTP API, which uses the kernel executor', async () => {
    const k = await boot({ server: { port: 0, demo_agents: false } });
    const server = await createServer(k, { listen: false });
    try {
      const token = readFileSync(join(k.config.data_dir, 'admin.token'), 'utf8');
      const before = seen().length;
      const r = await server.app.inject({
        method: 'POST',
        url: '/api/v1/tools/calculator/call',
        headers: { authorization: `Bearer ${token.trim()}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ arguments: { expression: '2+2' } }),
      });
      expect(r.statusCode).toBe(200);
      expect(r.json().ok).toBe(true);
      expect(seen().slice(before)).toEqual([{ pid: 0, tool: 'calculator', args: { expression: '2+2' } }]);
      const audit = await k.storage.audit.list({ stream: 'api' });
      expect(audit.at(-1)).toMatchObject({ kind: 'io.tool_call', actor: expect.stringMatching(/^api:/) });
    } finally {
      await server.close();
    }
  });
});

/** Makes every syscall exactly once, in one step (a failing one is fine: its hooks fire all the same). */
const everySyscall: AgentProgram<{ child?: number }> = {
  name: 'every-syscall',
  init: () => ({}),
  async step(_s, sys) {
    const calls: Array<[string, unknown]> = [
      ['llm.chat', { messages: [{ role: 'user', content: 'say hello' }] }],
      ['llm.embed', { model: 'sim-embed', input: ['hello'] }],
      ['io.tools', {}],
      ['io.tool_call', { id: 'c1', name: 'calculator', arguments: '{"expression":"1+1"}' }],
      ['mem.store', { content: 'the kernel remembers' }],
      ['mem.search', { query: 'kernel' }],
      ['mem.recall', { query: 'kernel' }],
      ['proc.spawn', { name: 'child', task: 'nothing', program: 'noop' }],
      ['ipc.send', { to: sys.pid, body: 'hi' }],
      ['ipc.recv', { timeoutMs: 0 }],
      ['ipc.kv_cas', { key: 'k', expectedVersion: null, value: 1 }],
      ['ipc.kv_get', { key: 'k' }],
    ];
    let child = 0;
    for (const [name, args] of calls) {
      const r = await sys.call(name as never, args as never).catch((e: unknown) => ({ error: e }));
      if (name === 'proc.spawn') child = (r as unknown as { pid: number }).pid;
    }
    await sys.call('proc.wait', { pid: child });
    await sys.call('proc.status', { pid: child });
    return done({ child }, 'ok');
  },
};
const noop: AgentProgram<object> = { name: 'noop', init: () => ({}), step: async (s) => done(s, 'ok') };

/** A plugin counting, per hook name, the events it sees for `pid` (the hook names come from the test). */
function counterPlugin(dir: string, hookNames: string[]): string {
  const file = join(dir, 'counter.mjs');
  writeFileSync(
    file,
    `export default {
  name: 'counter',
  setup(kernel) {
    const counts = (globalThis.__aosHookCounts = {});
    for (const n of ${JSON.stringify(hookNames)})
      kernel.hooks.on(n, (e) => {
        const pid = e.pid ?? e.parentPid; // proc.spawn.before names the caller as parentPid
        counts[n] ??= {};
        counts[n][pid] = (counts[n][pid] ?? 0) + 1;
      });
  },
};
`,
  );
  return file;
}

describe('the gate: hooks named after the syscalls', () => {
  it('fires each syscall’s .before and .after exactly once per call, and the old names as aliases', async () => {
    const syscalls = Object.keys(SYSCALL_ARGS);
    const named = syscalls.flatMap((n) => [`${n}.before`, `${n}.after`]);
    const aliases = Object.keys(HOOK_ALIASES);
    const dir = tempDir('aos-gate-hooks-');
    sim.engine.script(null);
    const k = await boot({ plugins: [counterPlugin(dir, [...named, ...aliases, 'syscall.before'])] }, [
      everySyscall,
      noop,
    ]);
    const pid = await k.spawn({ name: 'all', task: 'every syscall', program: 'every-syscall' });
    expect((await k.wait(pid)).result).toBe('ok');
    const counts = (globalThis as { __aosHookCounts?: Record<string, Record<number, number>> })
      .__aosHookCounts!;
    const of = (n: string) => counts[n]?.[pid] ?? 0;
    expect(Object.fromEntries(named.map((n) => [n, of(n)]))).toEqual(
      Object.fromEntries(named.map((n) => [n, 1])),
    );
    expect(of('syscall.before')).toBe(syscalls.length);
    // an alias is its names: tool.* once per tool call, llm.before once per chat, llm.after per chat + embed
    expect(Object.fromEntries(aliases.map((n) => [n, of(n)]))).toEqual({
      'tool.before': 1,
      'tool.after': 1,
      'llm.before': 1,
      'llm.after': 2,
    });
  });

  it('lets a syscall’s before-hook rewrite its arguments and veto it, typed by the syscall', async () => {
    const k = await boot({}, [everySyscall, noop]);
    const offStore = k.hooks.on('mem.store.before', (e) => ({
      args: { ...e, args: { ...e.args, content: `${e.args.content} (rewritten)` } },
    }));
    const offKv = k.hooks.on('ipc.kv_cas.before', () => ({ veto: 'no shared state today' }));
    const kvAfter: unknown[] = [];
    const offKvAfter = k.hooks.on('ipc.kv_cas.after', (e) => void kvAfter.push(e.error?.code));
    sim.engine.script(null);
    const pid = await k.spawn({ name: 'all', task: 'every syscall', program: 'every-syscall' });
    await k.wait(pid);
    offStore();
    offKv();
    offKvAfter();
    const stored = await k.storage.audit.list({ stream: `proc:${pid}`, limit: 1000 });
    expect(stored.find((e) => e.kind === 'mem.store')?.payload).toMatchObject({
      args: { content: 'the kernel remembers (rewritten)' },
    });
    expect(stored.find((e) => e.kind === 'ipc.kv_cas')?.payload).toMatchObject({
      ok: false,
      error: { code: 'EDENIED' },
    });
    expect(kvAfter).toEqual(['EDENIED']);
  });
});

/** Fills its context with notes until the window compacts, then answers; one model call per step. */
const filler: AgentProgram<{ n: number; ctx: unknown }> = {
  name: 'filler',
  init: () => ({ n: 0, ctx: null }),
  async step(s, sys) {
    const ctx = sys.context;
    if (!ctx.isOpen()) {
      if (s.ctx) ctx.import(s.ctx);
      else ctx.open({ system: 'You are a note taker.', tools: [], task: 'take notes' });
    }
    ctx.append({
      kind: 'note',
      content: `Note ${s.n}: ${'the quarterly figures for region north were revised upward again. '.repeat(12)}`,
    });
    await ctx.prepare(`note ${s.n}`);
    const prompt = ctx.render();
    const r = await sys.call('llm.chat', { messages: prompt.messages });
    ctx.append({ kind: 'assistant', content: r.content });
    const next = { n: s.n + 1, ctx: ctx.export() };
    return next.n >= 8 ? done(next, next.n) : continueWith(next, { kind: 'note', n: next.n });
  },
};

describe('the gate: the context summariser', () => {
  it("calls the model through the gate: audited as llm.chat with purpose 'summary' and charged to the process", async () => {
    const k = await boot(
      { context: { summarizer: 'model', output_reserve_tokens: 200, high_water: 0.8, low_water: 0.5 } },
      [filler],
    );
    sim.engine.script(null);
    const pid = await k.spawn({ name: 'notes', task: 'take notes', program: 'filler', model: 'gpt-small' });
    const st = await k.wait(pid);
    expect(st.exitReason).toBeNull();
    const chats = (await k.storage.audit.list({ stream: `proc:${pid}`, limit: 1000 })).filter(
      (e) => e.kind === 'llm.chat',
    );
    const summaries = chats.filter((e) => (e.payload as { purpose?: string }).purpose === 'summary');
    expect(summaries.length).toBeGreaterThan(0);
    for (const e of summaries)
      expect(e.payload).toMatchObject({ ok: true, result: { usage: expect.anything() } });
    // Every model call the process made — its own eight and the summaries — is in its usage.
    const info = await k.get(pid);
    expect(info.usage.apiCalls).toBe(8 + summaries.length);
    expect(chats).toHaveLength(8 + summaries.length);
    // Prometheus tells them apart by purpose, in the process's vocabulary: the purposes sum to tokensIn.
    const input = (await k.metrics.tokens.get()).values.filter((v) => v.labels.kind === 'input');
    const by = Object.fromEntries(input.map((v) => [String(v.labels.purpose), v.value]));
    expect(by.summary).toBeGreaterThan(0);
    expect(by.agent).toBeGreaterThan(0);
    expect(by.agent! + by.summary!).toBe(info.usage.tokensIn);
    // Internal calls do not stream; the agent's own do.
    const ttft = (await k.metrics.ttft.get()).values.find(
      (v) => v.metricName === 'aos_llm_ttft_seconds_count',
    );
    expect(ttft?.value).toBe(8);
  });
});
