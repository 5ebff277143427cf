// MCP integration: the seeds' filesystem server (@modelcontextprotocol/server-filesystem from npm) started
// by the kernel from `mcp.servers`, inside the sandbox. Its tools are discovered and registered as
// `filesystem.<tool>` (wire name `filesystem__<tool>`); an agent lists and reads files through them, and every
// call lands in the audit chain. The server runs once per workspace, with that workspace as its allowed
// directory: here the agent works in a shared workspace named "notes" (<workspace>/shared/notes), where the
// file to read is put first. The model is the scripted simulator, so this runs offline.
//   node examples/08-mcp-filesystem.mjs
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernel, resolverFromProvider } from 'agent-os-kernel';
import { SimulatedProvider } from 'agent-os-kernel/testing';

const workspace = realpathSync(mkdtempSync(join(tmpdir(), 'aos-mcp-example-')));
const notes = join(workspace, 'shared', 'notes');
mkdirSync(notes, { recursive: true });
writeFileSync(join(notes, 'todo.md'), '- ship the MCP client\n- write the docs\n');
const serverJs = createRequire(import.meta.url).resolve(
  '@modelcontextprotocol/server-filesystem/dist/index.js',
);

// A scripted "model": list the workspace, read the file it found, answer from what the tool returned.
const model = new SimulatedProvider({
  scenario: (req, i) => {
    if (i === 0) return { toolCalls: [{ name: 'filesystem__list_directory', arguments: { path: notes } }] };
    if (i === 1)
      return {
        toolCalls: [{ name: 'filesystem__read_text_file', arguments: { path: join(notes, 'todo.md') } }],
      };
    const read = req.messages.filter((m) => m.role === 'tool').at(-1)?.content ?? '';
    return {
      toolCalls: [
        { name: 'final_answer', arguments: { answer: `open items: ${read.trim().split('\n').length}` } },
      ],
    };
  },
});

const kernel = await createKernel({
  storage: 'memory://',
  models: resolverFromProvider(model),
  config: {
    security: { workspace },
    mcp: { servers: [{ name: 'filesystem', command: 'node', args: [serverJs, workspace] }] },
  },
});
try {
  const [fs] = kernel.tools.mcp.status();
  console.log(
    `mcp server ${fs.name}: ${fs.state}, sandboxed=${fs.sandboxed} (${kernel.tools.sandbox.name}), ${fs.tools.length} tools`,
  );
  console.log(`  e.g. ${fs.tools.slice(0, 4).join(', ')}`);
  const pid = await kernel.spawn({
    name: 'mcp-reader',
    task: 'How many open items are in todo.md?',
    workspace: 'notes',
  });
  const st = await kernel.wait(pid);
  console.log(`answer: ${st.result}`);
  for (const e of await kernel.storage.audit.list({ stream: `proc:${pid}` })) {
    if (e.kind.startsWith('io.tool_'))
      console.log(`  audit #${e.seq} ${e.kind} ${e.payload.tool} ok=${e.payload.ok}`);
  }
  console.log(`audit chain intact: ${(await kernel.storage.audit.verify()).ok}`);
} finally {
  await kernel.shutdown();
}
