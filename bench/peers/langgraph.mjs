// The peer contestant: LangGraph.js's prebuilt ReAct agent over @langchain/openai with a checkpointer,
// on the same fake model and task as our kernel (src/bench/peers/worker.ts, whose measuring loop and
// result line it reuses). Run by `npm run bench -- peers` after `npm ci` in bench/peers.
// Usage: node bench/peers/langgraph.mjs '<WorkerJob json>'   (storage: memory | sqlite:<file> | postgres:<url>#<schema>)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from '@langchain/core/tools';
import { MemorySaver } from '@langchain/langgraph';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';
import { emit, measure, memory, TASK } from '../../dist/bench/peers/worker.js';

const job = JSON.parse(process.argv[2] ?? '{}');
const dir = mkdtempSync(join(tmpdir(), 'aos-peers-lg-'));

async function checkpointer() {
  if (job.storage === 'memory') return { saver: new MemorySaver(), close: async () => {} };
  if (job.storage.startsWith('sqlite:')) {
    const { SqliteSaver } = await import('@langchain/langgraph-checkpoint-sqlite');
    const saver = SqliteSaver.fromConnString(join(dir, 'checkpoints.sqlite'));
    return { saver, close: async () => saver.db.close() };
  }
  if (job.storage.startsWith('postgres:')) {
    const { PostgresSaver } = await import('@langchain/langgraph-checkpoint-postgres');
    const [url, schema] = job.storage.slice('postgres:'.length).split('#');
    const saver = PostgresSaver.fromConnString(url, { schema });
    await saver.setup();
    return { saver, close: async () => saver.end() };
  }
  throw new Error(`unknown storage ${job.storage}`);
}

const calculator = tool(
  async ({ expression }) => {
    const [a, b] = expression.split('+').map(Number);
    return String((a ?? 0) + (b ?? 0));
  },
  {
    name: 'calculator',
    description: 'Evaluates an arithmetic expression',
    schema: z.object({ expression: z.string() }),
  },
);

const { saver, close } = await checkpointer();
const llm = new ChatOpenAI({
  model: 'gpt-fake',
  apiKey: 'sk-bench',
  maxRetries: 0,
  configuration: { baseURL: job.url },
});
const agent = createReactAgent({ llm, tools: [calculator], checkpointer: saver });

const r = await measure(job, async (i) => {
  const out = await agent.invoke(
    { messages: [{ role: 'user', content: TASK }] },
    { configurable: { thread_id: `t${i}` }, recursionLimit: 4 * job.calls },
  );
  return String(out.messages.at(-1)?.content ?? '').includes(`reached ${job.calls - 1}`);
});
await close();
rmSync(dir, { recursive: true, force: true });
emit({ ...r, ...memory() });
process.exit(0);
