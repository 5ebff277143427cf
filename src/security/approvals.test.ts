import { mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { AuditSink } from '../io/executor.js';
import { createKernel } from '../kernel/kernel.js';
import { resolverFromProvider } from '../kernel/model-resolver.js';
import { SimulatedProvider } from '../llm/simulated/simulated-provider.js';
import { ApprovalManager } from './approvals.js';

const req = (k: string) => ({
  pid: 1,
  tool: 'shell',
  args: { command: 'rm -rf build' },
  reason: 'ask',
  idempotencyKey: k,
});

describe('ApprovalManager', () => {
  test('pending list, approve, deny; a decided key is not asked twice; every decision audited', async () => {
    const entries: Array<{ kind: string; actor: string }> = [];
    const audit: AuditSink = { append: async (e) => void entries.push(e) };
    const m = new ApprovalManager({ audit });
    const p1 = m.request(req('1:1:0'), new AbortController().signal);
    const [pending] = m.pending();
    expect(pending).toMatchObject({ pid: 1, tool: 'shell', idempotencyKey: '1:1:0' });
    await m.approve(pending!.id, 'alice');
    expect(await p1).toEqual({ decision: 'approved', by: 'alice' });
    expect(await m.request(req('1:1:0'), new AbortController().signal)).toEqual({
      decision: 'approved',
      by: 'alice',
    });
    const p2 = m.request(req('1:2:0'), new AbortController().signal);
    await m.deny(m.pending()[0]!.id, 'bob', 'too risky');
    expect(await p2).toEqual({ decision: 'denied', by: 'bob', reason: 'too risky' });
    await expect(m.approve('nope', 'x')).rejects.toThrow(/no pending approval nope/);
    expect(entries.map((e) => `${e.kind}/${e.actor}`)).toEqual([
      'approval.requested/pid:1',
      'approval.approved/human:alice',
      'approval.requested/pid:1',
      'approval.denied/human:bob',
    ]);
  });

  test('timeout denies; abort denies', async () => {
    const m = new ApprovalManager({ timeoutMs: 20 });
    expect(await m.request(req('2:1:0'), new AbortController().signal)).toMatchObject({
      decision: 'denied',
      by: 'timeout',
    });
    const ac = new AbortController();
    const p = m.request(req('2:2:0'), ac.signal);
    ac.abort();
    expect(await p).toMatchObject({ decision: 'denied', by: 'abort' });
    expect(m.pending()).toHaveLength(0);
  });
});

describe('approval end to end through the kernel', () => {
  test('an ask tool blocks the process until a human approves; the decision is audited', async () => {
    const ws = realpathSync(mkdtempSync(join(tmpdir(), 'aos-appr-')));
    const sim = new SimulatedProvider({
      scenario: [
        { toolCalls: [{ name: 'write_file', arguments: { path: 'deploy.txt', content: 'v2' } }] },
        { toolCalls: [{ name: 'final_answer', arguments: { answer: 'deployed' } }] },
      ],
    });
    const k = await createKernel({
      storage: 'memory://',
      config: { security: { workspace: ws } },
      models: resolverFromProvider(sim),
      recover: false,
      plugins: false,
    });
    try {
      const pid = await k.spawn({
        name: 'deployer',
        task: 'deploy v2',
        policy: { ask_tools: ['write_file'] },
      });
      let pending = k.tools.approvals.pending(pid);
      while (pending.length === 0) {
        await new Promise((r) => setTimeout(r, 10));
        pending = k.tools.approvals.pending(pid);
      }
      expect(pending[0]).toMatchObject({
        tool: 'write_file',
        args: { path: 'deploy.txt', content: 'v2' },
        idempotencyKey: `${pid}:1:0`,
      });
      expect((await k.get(pid)).state).toBe('waiting');
      await k.tools.approvals.approve(pending[0]!.id, 'alice');
      const st = await k.wait(pid);
      expect(st.result).toBe('deployed');
      // in the process's own workspace (<ws>/proc/<pid>), which its view names
      const own = (await k.get(pid)).workspace;
      expect(own).toBe(join(ws, 'proc', String(pid)));
      expect(readFileSync(join(own, 'deploy.txt'), 'utf8')).toBe('v2');
      const kinds = (await k.storage.audit.list({ stream: `proc:${pid}` })).map(
        (a) => `${a.kind}/${a.actor}`,
      );
      expect(kinds).toEqual(
        expect.arrayContaining([
          `approval.requested/pid:${pid}`,
          'approval.approved/human:alice',
          `io.tool_call/pid:${pid}`,
        ]),
      );
      expect((await k.storage.audit.verify()).ok).toBe(true);
    } finally {
      await k.shutdown();
    }
  }, 60_000);
});
