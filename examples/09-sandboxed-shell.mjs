// A shell-using agent inside the sandbox. The agent (scripted simulator) runs real commands with the `shell`
// tool; the kernel runs them in bubblewrap (when it works here; otherwise without isolation, loudly) with
// the process's policy: workspace read-write, no network, memory / CPU / process / file-size limits and a
// wall-clock kill. Attempts to escape come back as errors the agent can read, and everything is audited.
//   node examples/09-sandboxed-shell.mjs
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernel, resolverFromProvider } from 'agent-os-kernel';
import { SimulatedProvider } from 'agent-os-kernel/testing';

const workspace = realpathSync(mkdtempSync(join(tmpdir(), 'aos-shell-example-')));
const commands = [
  'echo "hello from $(hostname)" > hello.txt && cat hello.txt && id -u',
  'cat /etc/shadow; ls ~/.ssh; echo "exit=$?"',
  'echo > /dev/tcp/127.0.0.1/5432 && echo connected || echo "no network"',
  'head -c 1G /dev/zero | tail > /dev/null',
  'sleep 30',
];
const model = new SimulatedProvider({
  scenario: (_req, i) =>
    i < commands.length
      ? { toolCalls: [{ name: 'shell', arguments: { command: commands[i] } }] }
      : { toolCalls: [{ name: 'final_answer', arguments: { answer: `ran ${commands.length} commands` } }] },
});
const kernel = await createKernel({
  storage: 'memory://',
  models: resolverFromProvider(model),
  // The default policy asks a human before every shell call (see examples/10-approval.mjs); this script
  // has no human to ask, so it lifts that for its own scripted commands.
  config: {
    security: { workspace, default_policy: { max_memory_mb: 128, max_wall_seconds: 2, ask_tools: [] } },
  },
});
try {
  console.log(`sandbox: ${kernel.tools.sandbox.name} ${JSON.stringify(kernel.tools.sandbox.capabilities)}`);
  const pid = await kernel.spawn({ name: 'sh-agent', task: 'explore the sandbox' });
  const st = await kernel.wait(pid);
  for (const e of await kernel.storage.audit.list({ stream: `proc:${pid}` })) {
    if (e.kind !== 'io.tool_call' && e.kind !== 'io.tool_error') continue;
    const p = e.payload;
    const out = p.ok ? JSON.parse(p.output) : null;
    console.log(`$ ${p.args.command}`);
    if (out)
      console.log(
        `  exit ${out.exit_code}; stdout: ${JSON.stringify(out.stdout.trim())}; stderr: ${JSON.stringify(out.stderr.trim().slice(0, 120))}`,
      );
    else console.log(`  blocked: ${p.error.code}: ${p.error.message}`);
  }
  console.log(`answer: ${st.result}`);
} finally {
  await kernel.shutdown();
}
