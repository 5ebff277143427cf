// Basic usage: boot a kernel, spawn an agent, run until it finishes, print the status table.
// Runs offline: with no provider key configured the default model is the built-in simulator.
//   node examples/03-basic-usage.mjs
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernel } from 'agent-os-kernel';

const kernel = await createKernel({
  storage: 'memory://', // embedded PGlite in memory; use pglite://./.aos/data to keep state across runs
  config: { security: { workspace: mkdtempSync(join(tmpdir(), 'aos-example-')) } },
});

const pid = await kernel.spawn({ name: 'CodeAssistant', task: 'What is 12 * (3 + 4)?', priority: 30 });
await kernel.run(); // until every process has exited

await kernel.printStatus();
const { result, exitReason } = await kernel.wait(pid);
console.log(exitReason ? `failed: ${exitReason}` : `answer: ${result}`);
for (const s of await kernel.steps(pid)) {
  const calls = (s.record.toolCalls ?? []).map((c) => `${c.name}(${c.arguments}) -> ${c.output}`).join('; ');
  console.log(`  step ${s.stepNo}: ${calls || s.record.text || s.kind}`);
}
await kernel.shutdown();
if (exitReason) process.exit(1);
