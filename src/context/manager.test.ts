import { describe, expect, it } from 'vitest';
import { KernelError } from '../errors.js';
import type { ChatMessage, ToolSpec } from '../llm/model.js';
import { ContextManager } from './manager.js';
import { AppendOnlyReplacer, SeedsReplacer } from './replacer.js';
import { MemoryPageStore } from './store.js';
import type { Summarizer } from './summarizer.js';
import { mulberry32 } from './workload.js';

const TOOLS: ToolSpec[] = [
  {
    name: 'zeta',
    description: 'z',
    parameters: {
      type: 'object',
      required: ['b'],
      properties: { b: { type: 'string' }, a: { type: 'number' } },
    },
  },
  { name: 'alpha', description: 'a', parameters: { properties: { x: { type: 'string' } }, type: 'object' } },
];

function words(rnd: () => number, n: number): string {
  const v = ['alpha', 'beta', 'gamma', 'delta', 'error', 'file', 'table', 'index', 'value', 'retry'];
  return Array.from({ length: n }, (_, i) =>
    i % 15 === 14 ? '.\n' : (v[Math.floor(rnd() * v.length)] ?? 'x'),
  ).join(' ');
}

/** OpenAI/Anthropic validity: every assistant tool call is answered right after it; no stray tool messages. */
function checkPairing(msgs: readonly ChatMessage[]): void {
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (!m) continue;
    if (m.role === 'tool') throw new Error(`tool message at ${i} does not follow its assistant turn`);
    if (m.role === 'assistant' && m.toolCalls?.length) {
      const want = new Set(m.toolCalls.map((c) => c.id));
      for (let j = 1; j <= m.toolCalls.length; j++) {
        const t = msgs[i + j];
        if (t?.role !== 'tool' || !want.delete(t.toolCallId ?? ''))
          throw new Error(`call of message ${i} not answered at ${i + j}`);
      }
      i += m.toolCalls.length;
    }
  }
}

function step(cm: ContextManager, pid: number, rnd: () => number, n: number, size: number) {
  const id = `c${n}`;
  cm.append(pid, {
    kind: 'assistant',
    content: `step ${n}: ${words(rnd, 10)}`,
    toolCalls: [{ id, name: 'alpha', arguments: `{"x":"${n}"}` }],
  });
  cm.appendToolResult(pid, { toolCallId: id, name: 'alpha', output: `result ${n}: ${words(rnd, size)}` });
}

describe('ContextManager rendering', () => {
  it('renders the same state byte-identically, tools canonical and sorted', async () => {
    const run = async (tools: ToolSpec[]) => {
      const cm = new ContextManager();
      cm.open(1, {
        contextWindow: 8000,
        system: 'You are careful.',
        tools,
        task: 'Do the thing.',
        pinned: ['Never delete files.'],
      });
      const rnd = mulberry32(3);
      for (let i = 0; i < 30; i++) {
        step(cm, 1, rnd, i, 40);
        await cm.prepare(1, { currentStep: `step ${i}` });
      }
      return cm.render(1, { record: false });
    };
    const a = await run(TOOLS);
    const b = await run([...TOOLS].reverse());
    expect(JSON.stringify(a.messages)).toBe(JSON.stringify(b.messages));
    expect(JSON.stringify(a.tools)).toBe(JSON.stringify(b.tools));
    expect(a.tools.map((t) => t.name)).toEqual(['alpha', 'zeta']);
    expect(JSON.stringify(a.tools[1]?.parameters)).toBe(
      '{"properties":{"a":{"type":"number"},"b":{"type":"string"}},"required":["b"],"type":"object"}',
    );
    expect(a.promptCacheKey).toBe('1');
    checkPairing(a.messages);
  });

  it('marks breakpoints after the static prefix, at a rolling anchor and at the end', () => {
    const cm = new ContextManager();
    cm.open(2, { contextWindow: 100_000, system: 'sys', task: 'task' });
    for (let i = 0; i < 20; i++) cm.append(2, { kind: 'user', content: `message ${i}` });
    const r = cm.render(2);
    const marked = r.messages.flatMap((m, i) => (m.cacheBreakpoint ? [i] : []));
    expect(marked).toEqual([1, 16, 21]);
  });

  it('keeps resident pages in their original order after eviction, with a stub in place', async () => {
    const cm = new ContextManager();
    cm.open(3, { contextWindow: 6000, outputReserve: 500, system: 'sys', task: 'task' });
    const rnd = mulberry32(9);
    const order: string[] = [];
    for (let i = 0; i < 60; i++) {
      step(cm, 3, rnd, i, 60);
      await cm.prepare(3);
      const ids = cm.residentPageIds(3);
      const seqs = ids.map((id) => Number(id.split('.')[1]));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      order.push(...ids);
      const r = cm.render(3);
      expect(r.tokens).toBeLessThanOrEqual(r.stats.budget);
      checkPairing(r.messages);
    }
    const m = cm.metrics(3);
    expect(m.evictionEvents).toBeGreaterThan(0);
    expect(m.stubs).toBeGreaterThan(0);
    const r = cm.render(3, { record: false });
    expect(r.messages.some((x) => x.content.startsWith('[context:'))).toBe(true);
  });
});

describe('ContextManager budget guarantee (adversarial)', () => {
  it('never exceeds the budget under random page sizes, for every replacer', async () => {
    for (const mk of [() => undefined, () => new SeedsReplacer(), () => new AppendOnlyReplacer()]) {
      const rnd = mulberry32(1234);
      const replacer = mk();
      const cm = new ContextManager(replacer ? { replacer } : {});
      cm.open(4, { contextWindow: 5000, outputReserve: 600, system: 'sys', tools: TOOLS, task: 'task' });
      for (let i = 0; i < 250; i++) {
        const r = rnd();
        const size =
          r < 0.02 ? 20_000 : r < 0.3 ? 1 + Math.floor(rnd() * 3) : Math.floor(Math.exp(rnd() * 6));
        if (rnd() < 0.6) step(cm, 4, rnd, i, size);
        else cm.append(4, { kind: rnd() < 0.5 ? 'user' : 'note', content: words(rnd, size) });
        if (rnd() < 0.5) await cm.prepare(4, { currentStep: words(rnd, 5) });
        const out = cm.render(4);
        expect(out.tokens).toBeLessThanOrEqual(out.stats.budget);
        checkPairing(out.messages);
      }
    }
  });

  it('shows one giant observation as head + tail and reads the rest by offset', async () => {
    const cm = new ContextManager();
    cm.open(5, { contextWindow: 16_000, system: 'sys', task: 'task' });
    const lines = Array.from({ length: 40_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    const big = lines.join('\n');
    cm.append(5, {
      kind: 'assistant',
      content: '',
      toolCalls: [{ id: 'c1', name: 'read_file', arguments: '{}' }],
    });
    const page = cm.appendToolResult(5, { toolCallId: 'c1', name: 'read_file', output: big });
    expect(page.fullTokens).toBeGreaterThan(100_000);
    expect(page.content).toContain('line 0 ');
    expect(page.content).toContain('line 39999 ');
    const r = cm.render(5);
    expect(r.tokens).toBeLessThanOrEqual(r.stats.budget);
    const offset = Number(/"offset": (\d+)/.exec(page.content)?.[1]);
    await cm.prepare(5);
    const more = await cm.recall(5, { pageId: page.id, offset });
    expect(more.split('\n')[1]).toBe(big.slice(offset).split('\n')[0]);
    expect(more).toMatch(/continues: \d+ more characters/);
  });

  it('survives thousands of tiny pages with bounded stubs', async () => {
    const cm = new ContextManager();
    cm.open(6, { contextWindow: 4000, outputReserve: 500, system: 'sys', task: 'task' });
    for (let i = 0; i < 3000; i++) {
      cm.append(6, { kind: 'note', content: `n${i}` });
      if (i % 100 === 99) await cm.prepare(6);
    }
    const r = cm.render(6);
    expect(r.tokens).toBeLessThanOrEqual(r.stats.budget);
    expect(cm.metrics(6).swappedPages).toBeGreaterThan(2500);
  });

  it('tokenizes hostile whitespace-free output quickly (no quadratic BPE blow-up)', () => {
    const cm = new ContextManager();
    cm.open(7, { contextWindow: 32_000, system: 'sys', task: 'task' });
    const p = cm.appendToolResult(7, { toolCallId: 'c', name: 'cat', output: 'A'.repeat(300_000) });
    // Chinese has no spaces: one 20,000-character pre-token would take the BPE tens of seconds.
    const zh = cm.append(7, { kind: 'user', content: '上下文管理器页面置换算法'.repeat(2000) });
    expect(zh.fullTokens).toBeGreaterThan(5000);
    expect(p.tokens).toBeLessThanOrEqual(3200);
    expect(cm.render(7).tokens).toBeLessThanOrEqual(cm.render(7).stats.budget);
  });

  it('refuses a pinned set larger than the budget with EOVERFLOW naming the fix', () => {
    const cm = new ContextManager();
    const pinned = Array.from({ length: 20 }, (_, i) => `pinned note ${i}: ${'word '.repeat(300)}`);
    let err: unknown;
    try {
      cm.open(8, { contextWindow: 4000, system: 'sys', task: 'task', pinned });
    } catch (e) {
      err = e;
    }
    expect(KernelError.is(err, 'EOVERFLOW')).toBe(true);
    expect((err as Error).message).toMatch(/pin less/);
    cm.open(8, { contextWindow: 4000, system: 'sys', task: 'task' });
    expect(() => {
      for (const p of pinned) cm.pin(8, p);
    }).toThrow(/static prefix/);
    expect(cm.render(8).tokens).toBeLessThanOrEqual(cm.render(8).stats.budget);
  });
});

describe('ContextManager page faults', () => {
  it('restores an evicted page from its stub through the store, and by query', async () => {
    const store = new MemoryPageStore();
    const cm = new ContextManager({ store });
    cm.open(9, { contextWindow: 3000, outputReserve: 300, system: 'sys', task: 'task' });
    const first = cm.append(9, {
      kind: 'user',
      content: 'The secret launch code is kumquat-42. Remember the kumquat.',
      importance: 0.05,
    });
    const rnd = mulberry32(5);
    for (let i = 0; i < 40; i++) step(cm, 9, rnd, i, 40);
    await cm.prepare(9);
    expect(cm.residentPageIds(9)).not.toContain(first.id);
    const stubText = cm
      .render(9, { record: false })
      .messages.find((m) => m.content.includes(first.id))?.content;
    expect(stubText).toContain(first.id);
    expect(store.size(9)).toBeGreaterThan(0);
    const back = await cm.recall(9, { pageId: first.id, append: true });
    expect(back).toContain('kumquat-42');
    const tail = cm.render(9, { record: false }).messages.at(-1);
    expect(tail?.content).toContain('kumquat-42');
    expect(await cm.recall(9, { query: 'kumquat launch code' })).toContain('kumquat-42');
    const m = cm.metrics(9);
    expect(m.faults).toBe(2);
    expect(m.swapIn.count).toBeGreaterThan(0);
    await expect(cm.recall(9, { pageId: '9.99999' })).rejects.toThrow(/not in the page store/);
  });

  it('prefetches a swapped page similar to the current step', async () => {
    const cm = new ContextManager();
    cm.open(10, { contextWindow: 3000, outputReserve: 300, system: 'sys', task: 'task' });
    cm.append(10, {
      kind: 'user',
      content: 'postgres migration schema lease fencing epoch notes for the cluster',
      importance: 0.05,
    });
    const rnd = mulberry32(6);
    for (let i = 0; i < 40; i++) step(cm, 10, rnd, i, 40);
    await cm.prepare(10);
    await cm.prepare(10, { currentStep: 'postgres migration schema lease fencing epoch for the cluster' });
    expect(cm.metrics(10).prefetches).toBe(1);
    expect(cm.render(10, { record: false }).messages.at(-1)?.content).toContain('lease fencing epoch');
  });

  it('does not prefetch a swapped page whose text is already resident (the same file read again)', async () => {
    const cm = new ContextManager();
    cm.open(11, { contextWindow: 3000, outputReserve: 300, system: 'sys', task: 'task' });
    const note = 'postgres migration schema lease fencing epoch notes for the cluster';
    cm.append(11, { kind: 'user', content: note, importance: 0.05 });
    const rnd = mulberry32(6);
    for (let i = 0; i < 40; i++) step(cm, 11, rnd, i, 40);
    await cm.prepare(11);
    expect(cm.metrics(11).swappedPages).toBeGreaterThan(0);
    cm.append(11, { kind: 'user', content: note });
    await cm.prepare(11, { currentStep: 'postgres migration schema lease fencing epoch for the cluster' });
    expect(cm.metrics(11).prefetches).toBe(0);
  });

  it('uses an injected summarizer for evicted spans and falls back when it fails', async () => {
    const calls: number[] = [];
    const summarizer: Summarizer = {
      name: 'fake-model',
      async summarize(pages) {
        calls.push(pages.length);
        if (calls.length > 1) throw new Error('provider down');
        return `MODEL SUMMARY of ${pages.length} pages`;
      },
    };
    const cm = new ContextManager({ summarizer });
    cm.open(11, { contextWindow: 3000, outputReserve: 300, system: 'sys', task: 'task' });
    const rnd = mulberry32(8);
    for (let i = 0; i < 80; i++) {
      step(cm, 11, rnd, i, 30);
      await cm.prepare(11);
    }
    const text = cm
      .render(11, { record: false })
      .messages.map((m) => m.content)
      .join('\n');
    expect(calls.length).toBeGreaterThan(1);
    expect(cm.metrics(11).summarizerFailures).toBeGreaterThan(0);
    expect(text).toMatch(/Summary: /);
  });
});

describe('ContextManager checkpoints, calibration, seeds API', () => {
  it('exports and imports state: the same prompt renders after a restore', async () => {
    const store = new MemoryPageStore();
    const cm = new ContextManager({ store });
    cm.open(12, { contextWindow: 3000, outputReserve: 300, system: 'sys', tools: TOOLS, task: 'task' });
    const rnd = mulberry32(2);
    for (let i = 0; i < 60; i++) step(cm, 12, rnd, i, 40);
    await cm.prepare(12);
    const before = cm.render(12, { record: false });
    const state = JSON.parse(JSON.stringify(cm.exportState(12)));
    const cm2 = new ContextManager({ store });
    cm2.importState(12, state);
    expect(JSON.stringify(cm2.render(12, { record: false }))).toBe(JSON.stringify(before));
    const evicted = before.messages
      .find((m) => m.content.startsWith('[context:'))
      ?.content.match(/- (12\.\d+) /)?.[1];
    expect(evicted).toBeDefined();
    expect(await cm2.recall(12, { pageId: evicted ?? '' })).toContain('12.');
    expect(() => cm2.importState(13, state)).toThrow(/belongs to process 12/);
    expect(() => cm2.importState(12, { v: 9 })).toThrow(/version 1/);
    // The state is written on every step: nothing derivable travels in it. A state written before (with
    // the canonical tools JSON and the system text in it) still restores to the same prompt.
    expect(Object.keys(state)).not.toContain('toolsJson');
    expect(Object.keys(state)).not.toContain('systemText');
    const cm3 = new ContextManager({ store });
    const rendered = cm.render(12, { record: false });
    cm3.importState(12, { ...state, systemText: 'sys' });
    expect(cm3.render(12, { record: false }).messages[0]).toEqual(rendered.messages[0]);
  });

  it('a tool list the kernel derives travels by hash: same render on import, a changed list taken with its new bytes', () => {
    const cm = new ContextManager();
    cm.open(14, { contextWindow: 3000, system: 'sys', tools: TOOLS, toolsByRef: true, task: 'task' });
    cm.append(14, { kind: 'user', content: 'hello' });
    const before = JSON.stringify(cm.render(14, { record: false }));
    const state = JSON.parse(JSON.stringify(cm.exportState(14))) as Record<string, unknown>;
    expect(state.tools).toBeUndefined();
    expect(state).toMatchObject({ toolsHash: expect.stringMatching(/^[0-9a-f]{32}$/), toolsCount: 2 });
    expect(JSON.stringify(state)).not.toContain('"zeta"');
    // The list is given again (any order, any key order): byte-identical render, and the reference stays.
    const cm2 = new ContextManager();
    cm2.importState(14, state, { tools: [...TOOLS].reverse() });
    expect(JSON.stringify(cm2.render(14, { record: false }))).toBe(before);
    expect((cm2.exportState(14) as Record<string, unknown>).tools).toBeUndefined();
    // Without the list: a clear error naming the fix.
    expect(() => new ContextManager().importState(14, state)).toThrow(/pass the process's tools/);
    // The configuration changed since: the current list is what is offered (and counted), not the old one.
    const cm3 = new ContextManager();
    const fewer = TOOLS.slice(1);
    cm3.importState(14, state, { tools: fewer });
    expect(cm3.render(14, { record: false }).tools.map((t) => t.name)).toEqual(['alpha']);
    // A state that carries its list (the earlier format, keys reordered as JSONB does) renders the same
    // bytes, and switches to the reference when the kernel derives the same list.
    const cm4 = new ContextManager();
    const jsonbOrder = TOOLS.map((t) => ({
      parameters: t.parameters,
      name: t.name,
      description: t.description,
    }));
    const { toolsHash: _h, toolsCount: _c, ...old } = state;
    cm4.importState(14, { ...old, tools: jsonbOrder }, { tools: TOOLS });
    expect(JSON.stringify(cm4.render(14, { record: false }))).toBe(before);
    expect((cm4.exportState(14) as Record<string, unknown>).tools).toBeUndefined();
    // …and keeps carrying it when the program chose its own list.
    const cm5 = new ContextManager();
    cm5.importState(14, { ...old, tools: TOOLS }, { tools: fewer });
    expect((cm5.exportState(14) as { tools?: unknown[] }).tools).toHaveLength(2);
  });

  it('calibrates the estimate with provider-reported usage', () => {
    const cm = new ContextManager();
    cm.open(13, { contextWindow: 10_000, system: 'sys', task: 'task' });
    cm.append(13, { kind: 'user', content: 'hello '.repeat(200) });
    const r = cm.render(13);
    cm.observeUsage(
      13,
      { input: Math.round(r.tokens * 1.5), cachedInput: 0, cacheWrite: 0, output: 1, reasoning: 0 },
      r.tokens,
    );
    const r2 = cm.render(13);
    expect(r2.tokens).toBeGreaterThan(r.tokens * 1.1);
    expect(cm.metrics(13).calibration).toBeCloseTo(1.15, 2);
  });

  it('supports the seeds API: allocatePage, accessPage, getAgentContext', () => {
    const cm = new ContextManager({ maxContextTokens: 2000 });
    const id = cm.allocatePage('agent-1', 'System: You are a helpful assistant.', 1.0);
    expect(id).toBe('agent-1.1');
    expect(cm.accessPage(id)?.accessCount).toBe(1);
    for (let i = 0; i < 200; i++) cm.allocatePage('agent-1', `note ${i} ${'filler '.repeat(20)}`, 0.2);
    const text = cm.getAgentContext('agent-1');
    expect(text).toContain('System: You are a helpful assistant.');
    expect(text.indexOf('System: You')).toBeLessThan(text.indexOf('note 199'));
    expect(cm.metrics('agent-1').tokens).toBeLessThanOrEqual(2000);
    expect(cm.accessPage('agent-1.5')).toBeNull();
    expect(cm.accessPage('nobody.1')).toBeNull();
  });

  it('rejects bad input with clear errors', () => {
    const cm = new ContextManager();
    expect(() => cm.open(14, {})).toThrow(/contextWindow must be a positive integer/);
    cm.open(14, { contextWindow: 5000 });
    expect(() => cm.open(14, { contextWindow: 5000 })).toThrow(/already open/);
    expect(() => cm.append(14, { kind: 'tool_result', content: 'x' })).toThrow(/toolCallId/);
    expect(() => cm.append(14, { kind: 'bogus' as 'user', content: 'x' })).toThrow(/not one of/);
    expect(() => cm.append(14, { kind: 'user', content: 'x', importance: 3 })).toThrow(/importance/);
    expect(() => cm.render(99)).toThrow(/no context is open for process 99/);
  });

  it('answers a tool call whose result never arrived, and renders late orphans as user messages', () => {
    const cm = new ContextManager();
    cm.open(15, { contextWindow: 5000, system: 'sys', task: 'task' });
    cm.append(15, {
      kind: 'assistant',
      content: '',
      toolCalls: [
        { id: 'a', name: 'alpha', arguments: '{}' },
        { id: 'b', name: 'alpha', arguments: '{}' },
      ],
    });
    cm.appendToolResult(15, { toolCallId: 'b', name: 'alpha', output: 'B' });
    cm.appendToolResult(15, { toolCallId: 'zz', name: 'alpha', output: 'orphan' });
    const msgs = cm.render(15).messages;
    checkPairing(msgs);
    expect(msgs.slice(2).map((m) => [m.role, m.toolCallId ?? '', m.content.slice(0, 8)])).toEqual([
      ['assistant', '', ''],
      ['tool', 'a', '[no resu'],
      ['tool', 'b', 'B'],
      ['user', '', '[result '],
    ]);
  });
});

describe('recall tool', () => {
  it('validates arguments and pages in by id', async () => {
    const { RECALL_TOOL, runRecallTool } = await import('./recall-tool.js');
    expect(RECALL_TOOL.name).toBe('recall');
    const cm = new ContextManager();
    cm.open(16, { contextWindow: 3000, outputReserve: 300, system: 'sys', task: 'task' });
    const p = cm.append(16, { kind: 'user', content: 'remember the pelican' });
    expect(await runRecallTool(cm, 16, JSON.stringify({ page_id: p.id }))).toContain('remember the pelican');
    await expect(runRecallTool(cm, 16, '{oops')).rejects.toThrow(/not valid JSON/);
    await expect(runRecallTool(cm, 16, '{"page_id": 3}')).rejects.toThrow(/page_id/);
    await expect(runRecallTool(cm, 16, '{}')).rejects.toThrow(/give page_id or query/);
  });
});

describe('configuration', () => {
  it('builds a manager from config.yaml and rejects inverted water marks', async () => {
    const { parseConfigText } = await import('../config/load.js');
    const { contextManagerFromConfig } = await import('./from-config.js');
    const { config } = parseConfigText(
      'context:\n  replacer: seeds\n  output_reserve_tokens: 1000\n',
      'test.yaml',
      {},
    );
    const cm = contextManagerFromConfig(config.context);
    expect(cm.replacer.name).toBe('seeds');
    cm.open(1, { contextWindow: 10_000 });
    expect(cm.metrics(1).budget).toBe(9_000);
    expect(() => parseConfigText('context:\n  high_water: 0.5\n  low_water: 0.6\n', 'test.yaml', {})).toThrow(
      /low_water/,
    );
  });
});
