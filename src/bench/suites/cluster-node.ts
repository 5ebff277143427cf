/**
 * One kernel node as its own OS process, for the `cluster` bench suite (./cluster.ts): argv[2] is JSON
 * `{ url, dataDir, ws, leaseS, simUrl, rpm?, agents, steps }`. It spawns `agents` processes of a program
 * whose every step is one model call, prints `READY`, one `STEP <pid> <step>` line per committed step, and
 * shuts down gracefully on SIGTERM, after one `STATS <json>` line: its claim path's and heartbeat's database time.
 */
import { createKernel } from '../../kernel/kernel.js';
import { continueWith, done } from '../../kernel/program.js';

const o = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  dataDir: string;
  ws: string;
  leaseS: number;
  simUrl: string;
  rpm?: number;
  agents: number;
  steps: number;
};

const caller = {
  name: 'caller',
  init: ({ args }: { args: unknown }) => ({ n: 0, steps: (args as { steps: number }).steps }),
  async step(
    s: { n: number; steps: number },
    sys: { pid: number; call: (n: 'llm.chat', a: unknown) => Promise<unknown> },
  ) {
    await sys.call('llm.chat', {
      messages: [{ role: 'user', content: `pid ${sys.pid} step ${s.n}` }],
      maxOutputTokens: 64,
    });
    const next = { ...s, n: s.n + 1 };
    return next.n >= s.steps ? done(next, next.n) : continueWith(next);
  },
};

const kernel = await createKernel({
  storage: o.url,
  config: {
    data_dir: o.dataDir,
    storage: { lease_s: o.leaseS },
    security: { sandbox: 'none', workspace: o.ws },
    learning: { enabled: false },
    llms: {
      models: [
        { name: 'gpt-sim', provider: 'openai', base_url: o.simUrl, api_key: 'sk-bench', stream: false },
      ],
    },
    default_model: 'gpt-sim',
    ...(o.rpm ? { scheduler: { rate_limits: { openai: { rpm: o.rpm } } } } : {}),
  },
  programs: [caller as never],
  plugins: false,
});
kernel.hooks.on('proc.step', (e) => process.stdout.write(`STEP ${e.pid} ${e.stepNo}\n`));
for (let i = 0; i < o.agents; i++)
  await kernel.spawn({
    name: `c${i}`,
    task: 'bench',
    program: 'caller',
    args: { steps: o.steps },
    model: 'gpt-sim',
  });
process.stdout.write('READY\n');
process.on('SIGTERM', () => {
  process.stdout.write(
    `STATS ${JSON.stringify({ ...kernel.node?.cost, takeovers: kernel.node?.takeovers })}\n`,
  );
  void kernel.shutdown().then(() => process.exit(0));
});
