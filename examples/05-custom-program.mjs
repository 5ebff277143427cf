// A custom agent program: a step function over plain, serialisable state. The kernel checkpoints after
// every step, so the program can be suspended, killed, restored from any checkpoint or resumed after a
// crash — without the program doing anything for it.
//   node examples/05-custom-program.mjs
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { continueWith, createKernel, done } from 'agent-os-kernel';

/** Works through a list of expressions, one per step: the model picks the tool call, the kernel runs it. */
const worklist = {
  name: 'worklist',
  init: ({ args }) => ({ todo: args.expressions, results: [] }),
  async step(state, sys) {
    const [expr, ...rest] = state.todo;
    const tools = await sys.call('io.tools', { filter: ['calculator'] });
    const res = await sys.call('llm.chat', {
      messages: [{ role: 'user', content: `Compute ${expr} with the calculator tool.` }],
      tools,
    });
    let value = res.content;
    for (const call of res.toolCalls) {
      const out = await sys.call('io.tool_call', call); // validated, policy-checked, sandboxed, audited
      value = out.output;
    }
    // Long-term memory survives the process: other agents can search it later.
    await sys.call('mem.store', { content: `${expr} = ${value}` });
    const next = { todo: rest, results: [...state.results, { expr, value }] };
    return rest.length === 0
      ? done(next, next.results, { kind: 'answer', text: `${next.results.length} computed` })
      : continueWith(next, { kind: 'computed', text: `${expr} = ${value}` });
  },
};

const kernel = await createKernel({
  storage: 'memory://',
  config: { security: { workspace: mkdtempSync(join(tmpdir(), 'aos-example-')) } },
  programs: [worklist],
});
const expressions = ['2 ** 16', '(144 / 12) + 1', '(3 + 4) * 6'];
const pid = await kernel.spawn({
  name: 'worklist',
  task: 'compute',
  program: 'worklist',
  args: { expressions },
});
const st = await kernel.wait(pid);
for (const r of st.result) console.log(`${r.expr} = ${r.value}`);
for (const s of await kernel.steps(pid)) console.log(`  step ${s.stepNo} committed: ${s.record.text}`);

// Every step was checkpointed; restore the first periodic snapshot's state into a new process? Here we take
// an explicit checkpoint of the finished one and show its state is plain data.
const checkpointId = await kernel.checkpoint(pid);
const snap = await kernel.storage.state.getSnapshot(checkpointId);
console.log(`checkpoint ${checkpointId}: ${JSON.stringify(snap.programState)}`);
const hits = await kernel.storage.memory.search({ owner: 'agent:worklist', query: '144 12' });
console.log('memory search "144 12" ->', hits[0]?.content);
await kernel.shutdown();
