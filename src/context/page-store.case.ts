/** Conformance suite of a PageStore and of page faults through it, run per backend by page-store.test.ts. */
import { expect, it } from 'vitest';
import { KernelError } from '../errors.js';
import { hashingEmbedding } from '../util/embedder.js';
import { ContextManager } from './manager.js';
import type { PageStore, StoredPage } from './store.js';

export function pageStoreCases(makeStore: () => PageStore, opts: { integerPids: boolean }): void {
  const page = (id: string, content: string): StoredPage => ({
    pageId: id,
    kind: 'tool_result',
    content,
    summary: content.slice(0, 20),
    tokens: 12,
    importance: 0.4,
    embedding: Float32Array.from(hashingEmbedding(content)),
    meta: {
      toolCallId: 'call_1',
      name: 'read_file',
      toolCalls: [{ id: 'x', name: 'y', arguments: '{"a":1}' }],
    },
  });

  it('puts, gets, upserts and deletes pages per process', async () => {
    const s = makeStore();
    await s.put(101, [page('101.1', 'first ünïcødé 🚀 text'), page('101.2', 'second')]);
    await s.put(102, [page('101.1', 'other process, same page id')]);
    const got = await s.get(101, '101.1');
    expect(got?.content).toBe('first ünïcødé 🚀 text');
    expect(got?.kind).toBe('tool_result');
    expect(got?.meta.toolCallId).toBe('call_1');
    expect(got?.meta.toolCalls?.[0]?.arguments).toBe('{"a":1}');
    expect(got?.importance).toBeCloseTo(0.4, 5);
    await s.put(101, [page('101.2', 'second, rewritten')]);
    expect((await s.get(101, '101.2'))?.content).toBe('second, rewritten');
    expect(await s.get(101, '101.9')).toBeNull();
    await s.deleteProcess(101);
    expect(await s.get(101, '101.1')).toBeNull();
    expect((await s.get(102, '101.1'))?.content).toBe('other process, same page id');
    await s.deleteProcess(102);
  });

  it('round-trips a page fault: evict, flush, restore the checkpoint elsewhere, recall from the store', async () => {
    const store = makeStore();
    const cm = new ContextManager({ store });
    cm.open(201, { contextWindow: 3000, outputReserve: 300, system: 'sys', task: 'task' });
    const first = cm.append(201, {
      kind: 'user',
      content: 'The vault combination is 31-41-59; keep it safe.',
      importance: 0.05,
    });
    for (let i = 0; i < 60; i++) {
      cm.append(201, {
        kind: 'assistant',
        content: `step ${i}`,
        toolCalls: [{ id: `c${i}`, name: 'ls', arguments: '{}' }],
      });
      cm.appendToolResult(201, {
        toolCallId: `c${i}`,
        name: 'ls',
        output: `listing ${i}: ${'file '.repeat(40)}`,
      });
    }
    await cm.prepare(201);
    expect(cm.residentPageIds(201)).not.toContain(first.id);
    expect(cm.metrics(201).pendingWrites).toBe(0);
    const state = JSON.parse(JSON.stringify(cm.exportState(201)));
    const other = new ContextManager({ store });
    other.importState(201, state);
    const text = await other.recall(201, { pageId: first.id, append: true });
    expect(text).toContain('31-41-59');
    const m = other.metrics(201);
    expect(m.swapIn.count).toBe(1);
    expect(other.render(201).messages.at(-1)?.content).toContain('31-41-59');
    await other.close(201);
    expect(await store.get(201, first.id)).toBeNull();
  });

  if (opts.integerPids) {
    it('refuses a non-integer pid with EINVAL', async () => {
      const err = await makeStore()
        .get('agent-1', 'agent-1.1')
        .catch((e: unknown) => e);
      expect(KernelError.is(err, 'EINVAL')).toBe(true);
    });
  }
}
