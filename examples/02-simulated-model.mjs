// 02 — an agent loop on the built-in LLM simulator (a rule-based stand-in, NOT a language model).
// Offline: the simulator listens on a loopback port and speaks DeepSeek's dialect, the provider talks to it
// through the official `openai` SDK exactly as it would to api.deepseek.com. The agent uses tools
// (calculator, read_file, final_answer) until it answers; usage shows real prefix-cache hits.
//   npm run build && node examples/02-simulated-model.mjs
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSimulator, LLMProviderFactory } from 'agent-os-kernel';

const workspace = mkdtempSync(join(tmpdir(), 'aos-example-02-'));
writeFileSync(join(workspace, 'report.txt'), 'Q3 revenue: 1200 units at 35 each.\n');

const tools = {
  calculator: {
    spec: {
      name: 'calculator',
      description: 'Evaluate an arithmetic expression (+ - * / and parentheses).',
      parameters: {
        type: 'object',
        properties: { expression: { type: 'string' } },
        required: ['expression'],
      },
    },
    run: ({ expression }) => {
      if (!/^[\d\s+\-*/().]+$/.test(expression)) throw new Error(`not arithmetic: ${expression}`);
      return String(Function(`"use strict"; return (${expression});`)());
    },
  },
  read_file: {
    spec: {
      name: 'read_file',
      description: 'Read a text file from the workspace.',
      parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
    },
    run: ({ path }) => readFileSync(join(workspace, path.replace(/^(\.\/)+/, '')), 'utf8'),
  },
  final_answer: {
    spec: {
      name: 'final_answer',
      description: 'Give the final answer to the user and stop.',
      parameters: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] },
    },
    run: ({ answer }) => answer,
  },
};

// A long, stable system prompt: the prefix the provider's cache can reuse from step to step.
const system = [
  'You are a careful analyst running inside agent-os-kernel. Use tools when they help; finish with final_answer.',
  ...Array.from(
    { length: 120 },
    (_, i) => `Rule ${i + 1}: cite the tool output you relied on, and keep numbers exact.`,
  ),
].join('\n');

const sim = await createSimulator({ latency: { ttftMs: 5, perTokenMs: 0.2 } });
try {
  const model = new LLMProviderFactory().create({
    provider: 'deepseek',
    model: 'deepseek-chat',
    api_key: 'not-needed-for-the-simulator',
    base_url: sim.urlFor('deepseek'),
  });
  const messages = [
    { role: 'system', content: system },
    { role: 'user', content: 'Read report.txt and compute 1200 * 35 to check the revenue figure.' },
  ];
  let answer;
  for (let step = 1; step <= 8 && answer === undefined; step++) {
    const r = await model.chat({
      messages,
      tools: Object.values(tools).map((t) => t.spec),
      promptCacheKey: 'example-02',
    });
    const u = r.usage;
    console.log(
      `step ${step}: ${r.model} → ${r.toolCalls.map((c) => `${c.name}(${c.arguments})`).join(', ') || 'text'}  [in ${u.input} (cached ${u.cachedInput}), out ${u.output}]`,
    );
    messages.push({
      role: 'assistant',
      content: r.content,
      toolCalls: r.toolCalls,
      ...(r.reasoning ? { reasoning: r.reasoning } : {}),
    });
    if (r.toolCalls.length === 0) answer = r.content;
    for (const call of r.toolCalls) {
      const tool = tools[call.name];
      let out;
      try {
        out = tool ? tool.run(JSON.parse(call.arguments)) : `unknown tool ${call.name}`;
      } catch (err) {
        out = `error: ${err.message}`;
      }
      if (call.name === 'final_answer') answer = out;
      messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content: out });
    }
  }
  if (answer === undefined) throw new Error('the agent did not finish');
  console.log(`\nanswer:\n${answer}`);
  console.log(
    `\nsimulator: ${sim.stats.completed} calls, ${sim.stats.promptTokens} prompt tokens of which ${sim.stats.cachedTokens} cached`,
  );
  if (!answer.includes('42000')) throw new Error('expected the computed revenue in the answer');
} finally {
  await sim.close();
  rmSync(workspace, { recursive: true, force: true });
}
