/**
 * The built-in agent gets the kernel's devices, per its policy: the shared key-value store (kv_get/kv_set),
 * IPC (send_message/receive_messages) and the CLI tools config declares (`cli_tools:`), through the ReAct
 * loop and the one tool executor. The model is scripted (per task) so each agent makes exactly the calls a
 * real model would; what is asserted is what the tools did: a value one agent wrote is read by another, a
 * message arrives, a declared program runs, a profile without kv_set is never offered it, and kernel
 * namespaces stay out of reach.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import type { ChatMessage } from '../../src/llm/model.js';
import type { ScriptedTurn, SimRequest } from '../../src/llm/simulated/scenario.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';

let kernel: Kernel;
let dir: string;
const offered = new Map<string, string[]>();

/** Per task: the calls to make (one per turn), then an answer quoting the last tool result. */
const SCRIPTS: Record<string, Array<{ name: string; arguments: Record<string, unknown> }>> = {
  'write the plan': [{ name: 'kv_set', arguments: { key: 'plan', value: { steps: 3, owner: 'writer' } } }],
  'read the plan': [{ name: 'kv_get', arguments: { key: 'plan' } }],
  'tell pid 1': [{ name: 'send_message', arguments: { to: 1, body: 'the plan is ready' } }],
  'check mail': [{ name: 'receive_messages', arguments: {} }],
  'say hi with the cli': [{ name: 'cli__say', arguments: { words: 'hello-from-cli' } }],
  'poke the kernel': [
    { name: 'kv_set', arguments: { key: 'reviewer', value: 'x', namespace: 'learning.profiles' } },
  ],
};

function scenario(req: SimRequest): ScriptedTurn {
  // the current turn: from the last user message (a follow-up is a new turn of the same process)
  const at = req.messages.map((m: ChatMessage) => m.role).lastIndexOf('user');
  const task = req.messages[at]?.content ?? '';
  const turn = req.messages.slice(at + 1);
  offered.set(
    task,
    req.tools.map((t) => t.name),
  );
  const script = SCRIPTS[task] ?? [];
  const done = turn.filter((m) => m.role === 'tool').length;
  if (done < script.length) return { toolCalls: [script[done]!] };
  const last = [...turn].reverse().find((m) => m.role === 'tool');
  return { text: `result: ${last?.content ?? 'nothing'}` };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aos-devices-'));
  kernel = await createKernel({
    config: {
      data_dir: join(dir, 'data'),
      storage: { url: 'memory://' },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      cli_tools: [
        {
          name: 'say',
          description: 'Print words',
          command: 'echo',
          args: ['{words}'],
          params: { words: { type: 'string' } },
          writes: false,
        },
      ],
      agents: [{ name: 'reader', tools: ['kv_get', 'final_answer'] }],
    },
    models: resolverFromProvider(new SimulatedProvider({ scenario })),
    recover: false,
    plugins: false,
  });
}, 60_000);

afterAll(async () => {
  await kernel?.shutdown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(task: string, o: { agent?: string } = {}): Promise<string> {
  const pid = await kernel.spawn({ task, ...(o.agent ? { agent: o.agent } : { name: 'dev' }) });
  const st = await kernel.wait(pid, 30_000);
  expect(st.exitReason, String(st.exitReason)).toBeNull();
  return String(st.result);
}

describe('the built-in agent uses the kernel devices', () => {
  it('shares state through the key-value store: one agent writes, another (a profile) reads', async () => {
    expect(await run('write the plan')).toContain('version 1');
    const read = await run('read the plan', { agent: 'reader' });
    expect(JSON.parse(read.replace(/^result: /, ''))).toEqual({
      key: 'plan',
      value: { steps: 3, owner: 'writer' },
      version: 1,
    });
    // the profile's tools are the policy's allowed_tools: kv_set is never offered to it
    expect(offered.get('read the plan')).toContain('kv_get');
    expect(offered.get('read the plan')).not.toContain('kv_set');
    expect(offered.get('write the plan')).toEqual(
      expect.arrayContaining(['kv_get', 'kv_set', 'send_message']),
    );
  });

  it('sends and receives IPC messages between agents', async () => {
    const to = await kernel.spawn({ name: 'mailbox', task: 'check mail' });
    SCRIPTS['tell pid 1']![0]!.arguments.to = to;
    await kernel.wait(to, 30_000); // it found nothing yet and answered
    await run('tell pid 1');
    // continued by a user turn, its next receive_messages returns the agent's message
    SCRIPTS['now check mail again'] = [{ name: 'receive_messages', arguments: {} }];
    await kernel.send(to, 'now check mail again');
    const st = await kernel.wait(to, 30_000);
    expect(String(st.result)).toContain('the plan is ready');
  });

  it('runs a CLI tool declared in config (cli_tools:) in the sandbox', async () => {
    expect(offered.get('write the plan')).toContain('cli__say');
    const out = await run('say hi with the cli');
    expect(out).toContain('hello-from-cli');
    expect(out).toContain('exit_code');
  });

  it('cannot reach the kernel namespaces of the store (learning profiles)', async () => {
    const out = await run('poke the kernel');
    expect(out).toMatch(/EINVAL|dotted namespaces belong to the kernel/);
    expect(await kernel.storage.state.kvGet('learning.profiles', 'reviewer')).toBeNull();
  });
});
