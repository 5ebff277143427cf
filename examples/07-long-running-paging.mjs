// A long-running agent whose history outgrows its context window: the context manager pages old turns out
// to storage (PGlite, in memory here), leaves stubs the agent can recall, keeps the prompt-cache prefix
// stable, and never overflows. Run: npm run build && node examples/07-long-running-paging.mjs
import { ContextManager, openStorage, RECALL_TOOL, runRecallTool, SqlPageStore } from 'agent-os-kernel';

const storage = await openStorage('memory://');
const cm = new ContextManager({ store: new SqlPageStore(storage) });
const pid = 7;
const tools = [
  RECALL_TOOL,
  {
    name: 'read_file',
    description: 'Read a file.',
    parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  },
];
cm.open(pid, {
  contextWindow: 16_000, // a small window so paging starts early
  outputReserve: 2_000,
  system: 'You are a code-review agent. Read files one by one and note problems.',
  tools,
  task: 'Review every module of the repository and list the bugs you find.',
  pinned: ['House rule: never modify files, only report.'],
});

// A deterministic stand-in for the model: read file after file; outputs vary in size, one is huge.
const fileText = (i) => {
  const lines = i === 40 ? 20_000 : 20 + ((i * 37) % 120);
  return Array.from(
    { length: lines },
    (_, n) =>
      `src/module${i}.ts:${n + 1}: const v${n} = compute${i}(${n}); // ${n % 7 === 0 ? 'TODO check bounds' : 'ok'}`,
  ).join('\n');
};
let maxTokens = 0;
let budget = 0;
for (let step = 1; step <= 120; step++) {
  await cm.prepare(pid, { currentStep: `review src/module${step}.ts` });
  const prompt = cm.render(pid); // what would go to the model (messages, tools, promptCacheKey)
  maxTokens = Math.max(maxTokens, prompt.tokens);
  budget = prompt.stats.budget;
  const callId = `call_${step}`;
  cm.append(pid, {
    kind: 'assistant',
    content: `Module ${step - 1} reviewed; reading the next one.`,
    toolCalls: [
      { id: callId, name: 'read_file', arguments: JSON.stringify({ path: `src/module${step}.ts` }) },
    ],
  });
  cm.appendToolResult(pid, { toolCallId: callId, name: 'read_file', output: fileText(step) });
}

// The agent wants an early file back: it finds the id in a stub and calls the recall tool.
const prompt = cm.render(pid, { record: false });
const stub = prompt.messages.find((m) => m.content.startsWith('[context:'));
const firstId = /- (\d+\.\d+) tool_result/.exec(stub?.content ?? '')?.[1];
const recalled = await runRecallTool(cm, pid, JSON.stringify({ page_id: firstId }));
cm.appendToolResult(pid, { toolCallId: 'call_recall', name: 'recall', output: recalled });

const m = cm.metrics(pid);
console.log('stub in the prompt:', `${stub?.content.split('\n')[0].slice(0, 110)}…`);
console.log(`recalled page ${firstId}: ${recalled.split('\n')[1]}`);
console.log(`steps ${m.renders}, largest prompt ${maxTokens} / budget ${budget} tokens (never over)`);
console.log(
  `resident pages ${m.residentPages}, paged out ${m.swappedPages}, eviction chunks ${m.evictionEvents}, faults ${m.faults}`,
);
console.log(
  `prefix-cache hit: OpenAI rules ${(m.cache.openaiHitRatio * 100).toFixed(1)}%, Anthropic ${(m.cache.anthropicHitRatio * 100).toFixed(1)}%, cache breaks ${m.cache.cacheBreaks}`,
);
console.log(
  `effective input cost ${(m.cost.relative * 100).toFixed(1)}% of uncached; swap-in p50 ${m.swapIn.p50Ms.toFixed(2)} ms`,
);
if (maxTokens > budget || !recalled.includes('module1.ts:1:')) throw new Error('paging example failed');
await cm.close(pid);
await storage.close();
