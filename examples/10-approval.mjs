// Human approval. The process's policy marks `write_file` as ask: the agent blocks until a human decides.
// Here the "human" is this script: it approves the first request and denies the second. Both decisions are
// written to the hash-chained audit log; the log is then anchored (Ed25519, outside the database), verified,
// and the process's actions replayed from it.
//   node examples/10-approval.mjs
import { mkdtempSync, readdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuditAnchors,
  createKernel,
  processTimeline,
  resolverFromProvider,
  verifyWithAnchors,
} from 'agent-os-kernel';
import { SimulatedProvider } from 'agent-os-kernel/testing';

const workspace = realpathSync(mkdtempSync(join(tmpdir(), 'aos-approval-example-')));
const dataDir = mkdtempSync(join(tmpdir(), 'aos-approval-data-'));
const model = new SimulatedProvider({
  scenario: [
    { toolCalls: [{ name: 'write_file', arguments: { path: 'release-notes.md', content: '# v2\n' } }] },
    { toolCalls: [{ name: 'write_file', arguments: { path: 'deploy-prod.sh', content: 'rm -rf /\n' } }] },
    {
      toolCalls: [
        { name: 'final_answer', arguments: { answer: 'release notes written; deploy script refused' } },
      ],
    },
  ],
});
const kernel = await createKernel({
  storage: 'memory://',
  models: resolverFromProvider(model),
  config: { security: { workspace } },
});
try {
  const pid = await kernel.spawn({
    name: 'releaser',
    task: 'prepare the release',
    policy: { ask_tools: ['write_file'] },
  });
  const approvals = kernel.tools.approvals;
  for (let decided = 0; decided < 2; ) {
    const [req] = approvals.pending(pid);
    if (!req) {
      const { state, exitReason } = await kernel.get(pid);
      if (state === 'zombie' || state === 'terminated')
        throw new Error(`the agent ended before asking: ${exitReason}`);
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    console.log(
      `pending approval: pid ${req.pid} wants ${req.tool}(${JSON.stringify(req.args)}) — process is ${(await kernel.get(pid)).state}`,
    );
    if (decided === 0) await approvals.approve(req.id, 'alice');
    else await approvals.deny(req.id, 'bob', 'production deploys go through CI');
    decided++;
  }
  const st = await kernel.wait(pid);
  console.log(`answer: ${st.result}`);
  // Each process works in a directory of its own under the configured root (<workspace>/proc/<pid>).
  console.log(`workspace now holds: ${readdirSync((await kernel.get(pid)).workspace).join(', ')}`);

  await new AuditAnchors(kernel.storage.audit, { dataDir }).anchor();
  const v = await verifyWithAnchors(kernel.storage.audit, kernel.storage.driver, { dataDir });
  console.log(`audit verify: ok=${v.ok}, ${v.checked} entries, ${v.anchors} signed anchor(s)`);
  console.log('replay from the audit log:');
  for (const e of await processTimeline(kernel.storage.audit, pid)) {
    if (e.kind.startsWith('approval.') || e.kind.startsWith('io.tool_'))
      console.log(`  #${e.seq} ${e.kind.padEnd(18)} ${e.actor.padEnd(12)} ${e.summary}`);
  }
} finally {
  await kernel.shutdown();
}
