// Agents talking over IPC: persistent mailboxes (a blocked receiver wakes when the message commits),
// a parent spawning a child and waiting for it, and shared state by compare-and-set.
//   node examples/06-ipc.mjs
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernel, done } from 'agent-os-kernel';

const collector = {
  name: 'collector',
  init: ({ args }) => ({ expect: args.expect, got: [] }),
  async step(s, sys) {
    const msgs = await sys.call('ipc.recv', { timeoutMs: 10_000, topic: 'result' });
    const got = [...s.got, ...msgs.map((m) => m.body)];
    if (got.length < s.expect && msgs.length > 0) return { kind: 'continue', state: { ...s, got } };
    return done({ ...s, got }, got);
  },
};

const worker = {
  name: 'worker',
  init: ({ task, args }) => ({ task, to: args.to }),
  async step(s, sys) {
    // The child does the real work with the built-in ReAct agent, and the worker waits for it.
    const { pid } = await sys.call('proc.spawn', { name: 'solver', task: s.task });
    const child = await sys.call('proc.wait', { pid });
    // Count finished jobs in a shared key, retrying on a concurrent update.
    for (;;) {
      const cur = await sys.call('ipc.kv_get', { key: 'jobs-done' });
      try {
        await sys.call('ipc.kv_cas', {
          key: 'jobs-done',
          expectedVersion: cur?.version ?? null,
          value: (cur?.value ?? 0) + 1,
        });
        break;
      } catch (e) {
        if (e.code !== 'ECONFLICT') throw e;
      }
    }
    await sys.call('ipc.send', { to: s.to, topic: 'result', body: { task: s.task, answer: child.result } });
    return done(s, 'sent');
  },
};

const kernel = await createKernel({
  storage: 'memory://',
  config: { security: { workspace: mkdtempSync(join(tmpdir(), 'aos-example-')) } },
  programs: [collector, worker],
});
const tasks = ['What is 6 * 7?', 'What is 100 - 58?', 'What is 2 ** 10?'];
const inbox = await kernel.spawn({
  name: 'collector',
  task: 'collect',
  program: 'collector',
  args: { expect: tasks.length },
});
for (const task of tasks)
  await kernel.spawn({ name: 'worker', task, program: 'worker', args: { to: inbox } });
const { result } = await kernel.wait(inbox);
for (const r of result) console.log(`${r.task} -> ${String(r.answer).split('\n').at(-1)}`);
console.log('jobs-done =', (await kernel.storage.state.kvGet('shared', 'jobs-done')).value);
await kernel.run();
await kernel.shutdown();
