// The seeds' learning example (轨迹记录 · 策略优化) with the TypeScript names, over real runs:
// agents work a task family whose files are not where the task says; some have too few steps.
// The optimizer reads their trajectories (the step log) and names the causes with numbers.
//   node examples/12-learning.mjs
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentOptimizer, createKernel, TrajectoryRecorder } from 'agent-os-kernel';

const workspace = mkdtempSync(join(tmpdir(), 'aos-learning-'));
// The six runs share a named workspace (<workspace>/shared/inventory); by default each would get its own.
const shared = join(workspace, 'shared', 'inventory');
mkdirSync(join(shared, 'data'), { recursive: true });
const kernel = await createKernel({
  storage: 'memory://',
  config: { security: { workspace } },
});

// Six runs of "Agent1": the file is in data/, the task says notes/; three runs get only 2 steps.
for (let i = 1; i <= 6; i++) {
  writeFileSync(join(shared, 'data', `inventory-${i}.txt`), `apples: ${i * 3}\n`);
  await kernel.spawn({
    name: 'Agent1',
    task: `Read notes/inventory-${i}.txt and report how many apples it lists.`,
    args: { maxSteps: i % 2 ? 2 : 8 },
    workspace: 'inventory',
  });
}
await kernel.run();

// 轨迹记录: annotate a run (a kernel process already has its trajectory; notes are added to it).
const recorder = new TrajectoryRecorder(kernel);
const [last] = await kernel.learning.trajectories({ agent: 'Agent1', limit: 1 });
const trajId = await recorder.startRecording('Agent1', last.pid, last.task);
await recorder.addStep({ phase: 'thinking', thought: 'the file was not where the task said' });
await recorder.finishRecording('success', true);
console.log(`recording ${trajId} attached to pid ${last.pid}`);

// 策略优化
const optimizer = new AgentOptimizer(recorder);
const analysis = await optimizer.analyze('Agent1');
console.log(`success rate: ${(analysis.successRate * 100).toFixed(1)} % of ${analysis.finished} runs`);
for (const f of analysis.failureModes) console.log(`failure mode: ${f.mode} × ${f.count}`);
for (const e of analysis.toolErrors)
  console.log(`tool error: ${e.tool} ${e.code} ${e.count}/${e.calls} calls`);
console.log(`suggestions: ${analysis.suggestions.length}`);
for (const s of analysis.suggestions)
  console.log(`  - ${s.title}\n    evidence ${JSON.stringify(s.evidence)}`);

await kernel.shutdown();
if (analysis.finished !== 6 || analysis.suggestions.length === 0) process.exit(1);
