// Several agents with priorities sharing one LLM slot: lower numbers are more urgent (as in the seeds),
// aging keeps the least urgent from starving. The scheduler grants the slot in priority order.
//   node examples/04-priorities.mjs
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernel, resolverFromProvider } from 'agent-os-kernel';
import { SimulatedProvider } from 'agent-os-kernel/testing';

const kernel = await createKernel({
  storage: 'memory://',
  config: {
    security: { workspace: mkdtempSync(join(tmpdir(), 'aos-example-')) },
    scheduler: { slots_per_model: 1, policy: 'fair' }, // one "CPU" so the order is visible
  },
  // The simulator with 20 ms time-to-first-token, so requests queue up behind the slot.
  models: resolverFromProvider(new SimulatedProvider({ latency: { ttftMs: 20 } })),
});

const order = [];
kernel.hooks.on('llm.after', (e) => order.push(e.pid));
const names = new Map();
for (const [name, priority] of [
  ['batch-report', 90],
  ['DBA_Agent', 10],
  ['CodeAssistant', 30],
  ['chat', 50],
]) {
  const pid = await kernel.spawn({ name, task: `What is ${priority} + ${priority}?`, priority });
  names.set(pid, `${name}(p${priority})`);
}
await kernel.run();
console.log('LLM slot grants in order:');
console.log(' ', order.map((pid) => names.get(pid)).join(' → '));
await kernel.printStatus();
await kernel.shutdown();
