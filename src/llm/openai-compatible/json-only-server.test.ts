/**
 * An OpenAI-compatible server that ignores `stream: true` and answers with one JSON completion (some
 * self-hosted servers and proxies do). Agent steps stream by default, so the kernel must read that answer
 * whole — before, it took the empty event stream for a cut connection, retried until the circuit opened and
 * parked the agent for good. Through the user's path: a kernel on the default config, the official SDK.
 */
import { createServer } from 'node:http';
import { expect, it } from 'vitest';
import { chatCompletionJson, listenLoopback } from '../../kernel/testing/fake-server.js';
import { bootTestKernel, openAiModel } from '../../kernel/testing/test-kernel.js';

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
      res.end(chatCompletionJson('the answer is 42', { prompt: 30, completion: 5 }));
    });
  });
  const url = await listenLoopback(server);
  const { kernel: k, close } = await bootTestKernel({
    config: { default_model: 'm', llms: { models: [openAiModel('m', url)] } },
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
    await close();
    server.close();
  }
});
