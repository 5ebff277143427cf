// 13 — the kernel as a gateway: an unmodified agent built on the official `openai` client points its
// base URL at the kernel and becomes a process. Its model calls are the process's steps — scheduled through
// the kernel's LLM slots and rate buckets, accounted, journaled and audited — and the operator's verbs
// (suspend, resume, kill, budgets) apply to it like to any native agent. The model here is the built-in
// simulator (rules, not a language model); with a provider key configured the same code reaches it, and the
// caller never sees that key: it holds a kernel token.
//   npm run build && node examples/13-gateway.mjs
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernel, createServer } from 'agent-os-kernel';
import OpenAI from 'openai';

const dir = mkdtempSync(join(tmpdir(), 'aos-example-gateway-'));
const kernel = await createKernel({
  storage: 'memory://',
  config: { data_dir: dir, security: { sandbox: 'none', workspace: join(dir, 'workspace') } },
  plugins: false,
});
const server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
const admin = readFileSync(server.adminTokenFile, 'utf8').trim(); // never print a token

try {
  // A gateway key: an operator token of tenant "demo" — it can call models and see only demo's sessions.
  const res = await fetch(`${server.url}/api/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'demo agent', role: 'operator', tenant: 'demo' }),
  });
  const { token } = await res.json();

  // The agent: plain OpenAI SDK code with a calculator tool, pointed at the kernel.
  const client = new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: token,
    defaultHeaders: { 'x-aos-session': 'example-13' },
  });
  const tools = [
    {
      type: 'function',
      function: {
        name: 'calculator',
        description: 'Evaluates an arithmetic expression',
        parameters: {
          type: 'object',
          properties: { expression: { type: 'string' } },
          required: ['expression'],
        },
      },
    },
  ];
  const messages = [{ role: 'user', content: 'What is (12 + 30) * 2?' }];
  let pid = 0;
  for (let turn = 0; turn < 5; turn++) {
    const { data, response } = await client.chat.completions
      .create({ model: 'sim-react', messages, tools })
      .withResponse();
    pid = Number(response.headers.get('x-aos-pid'));
    const msg = data.choices[0].message;
    messages.push(msg);
    if (!msg.tool_calls?.length) {
      console.log(`answer: ${msg.content.replace(/\s+/g, ' ')}`);
      break;
    }
    for (const tc of msg.tool_calls) {
      const { expression } = JSON.parse(tc.function.arguments);
      const value = Function(`return (${expression})`)();
      console.log(`tool ${tc.function.name}(${expression}) = ${value}`);
      messages.push({ role: 'tool', tool_call_id: tc.id, content: String(value) });
    }
  }

  // The same agent, seen from the kernel: one process of program `gateway`, its calls are its steps.
  const view = async (path) =>
    (await fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } })).json();
  const p = await view(`/processes/${pid}`);
  console.log(
    `process ${p.pid} (${p.name}): program ${p.program}, ${p.stepNo} steps, ${p.usage.apiCalls} model calls, ${p.usage.tokensIn} tokens in`,
  );
  const steps = await view(`/processes/${pid}/steps`);
  for (const s of steps.items) console.log(`  step ${s.stepNo} [${s.kind}] ${s.record.finish ?? ''}`);
  const audit = await view(`/processes/${pid}/audit`);
  console.log(`audit: ${audit.items.map((e) => e.kind).join(', ')}`);
  const sessions = await view('/gateway/sessions');
  console.log(
    `sessions of tenant demo: ${sessions.items.map((s) => `${s.session} → pid ${s.pid}`).join(', ')}`,
  );
} finally {
  await server.close();
  await kernel.shutdown();
}
