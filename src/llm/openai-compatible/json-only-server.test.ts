/**
 * An OpenAI-compatible server that ignores `stream: true` and answers with one JSON completion (some
 * self-hosted servers and proxies do). Agent steps stream by default, so the kernel must read that answer
 * whole — before, it took the empty event stream for a cut connection, retried until the circuit opened and
 * parked the agent for good. Through the user's path: a kernel on the default config, the official SDK.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createKernel } from '../../kernel/kernel.js';

it('an agent finishes against a server that answers streamed requests with whole JSON', async () => {
  const asked: boolean[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      asked.push(JSON.parse(body).stream === true);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          created: 0,
          model: 'm',
          choices: [
            { index: 0, message: { role: 'assistant', content: 'the answer is 42' }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 30, completion_tokens: 5, total_tokens: 35 },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'aos-json-only-'));
  const k = await createKernel({
    storage: 'memory://',
    plugins: false,
    config: {
      data_dir: dir,
      default_model: 'm',
      llms: {
        models: [{ name: 'm', provider: 'openai', base_url: `http://127.0.0.1:${port}/v1`, api_key: 'k' }],
      },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      server: { demo_agents: false },
    },
  });
  try {
    const deltas: string[] = [];
    k.hooks.on('llm.delta', (e) => {
      if (e.delta.type === 'text') deltas.push(String(e.delta.delta));
    });
    const pid = await k.spawn({ name: 'json-only', task: 'What is six times seven?' });
    const st = await k.wait(pid, 60_000);
    expect(st.exitReason).toBeNull();
    expect(st.result).toBe('the answer is 42');
    expect(asked).toEqual([true]); // asked to stream, answered whole, read once: no retry
    expect(deltas.join('')).toBe('the answer is 42');
    const [proc] = (await k.status()).processes.filter((p) => p.pid === pid);
    expect(proc?.usage).toMatchObject({ tokensIn: 30, tokensOut: 5 });
  } finally {
    await k.shutdown();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
