/**
 * Done-when of issue 6: a scripted agent drives the real filesystem MCP server through the kernel —
 * tools discovered, called through syscalls, results in its context, everything audited.
 */
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from 'vitest';
import { createKernel } from '../../kernel/kernel.js';
import { resolverFromProvider } from '../../kernel/model-resolver.js';
import { SimulatedProvider } from '../../llm/simulated/simulated-provider.js';
import { McpManager } from './manager.js';

const FS_SERVER = resolve('node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');

test('a scripted agent uses the real filesystem MCP server through the kernel', async () => {
  const ws = realpathSync(mkdtempSync(join(tmpdir(), 'aos-kmcp-')));
  writeFileSync(join(ws, 'notes.txt'), 'the launch code is 0000\n');
  const sim = new SimulatedProvider({
    scenario: (req, i) => {
      if (i === 0) return { toolCalls: [{ name: 'filesystem__list_directory', arguments: { path: ws } }] };
      if (i === 1)
        return {
          toolCalls: [{ name: 'filesystem__read_text_file', arguments: { path: join(ws, 'notes.txt') } }],
        };
      // The MCP result must be in the agent's context: answer from it.
      const seen = req.messages
        .filter((m) => m.role === 'tool')
        .map((m) => m.content)
        .join('\n');
      return {
        toolCalls: [
          {
            name: 'final_answer',
            arguments: {
              answer: `notes say: ${seen.split('\n').find((l) => l.includes('launch')) ?? 'nothing'}`,
            },
          },
        ],
      };
    },
  });
  const k = await createKernel({
    storage: 'memory://',
    config: { security: { workspace: ws } },
    models: resolverFromProvider(sim),
    recover: false,
    plugins: false,
  });
  const mcp = new McpManager(k.tools.registry, {
    sandbox: k.tools.sandbox,
    workspace: ws,
    limits: k.tools.policyFor({ pid: 0 } as never).limits,
  });
  try {
    const st = await mcp.start([{ name: 'filesystem', command: 'node', args: [FS_SERVER, ws] }]);
    expect(st[0]?.state).toBe('connected');
    const pid = await k.spawn({ name: 'reader', task: 'What do my notes say?' });
    const done = await k.wait(pid);
    expect(done.exitReason).toBeNull();
    expect(done.result).toBe('notes say: the launch code is 0000');
    const audit = await k.storage.audit.list({ stream: `proc:${pid}` });
    const toolCalls = audit
      .filter((a) => a.kind === 'io.tool_call')
      .map((a) => (a.payload as { tool: string }).tool);
    expect(toolCalls).toEqual(['filesystem.list_directory', 'filesystem.read_text_file']);
    expect((await k.storage.audit.verify()).ok).toBe(true);
  } finally {
    await mcp.close();
    await k.shutdown();
  }
}, 60_000);
