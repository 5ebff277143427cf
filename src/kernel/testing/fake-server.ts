/**
 * Pieces of the fake OpenAI-compatible servers tests stand up to play a misbehaving provider (one that
 * answers whole JSON to a streamed request, one that holds requests): the whole `chat.completion` body,
 * and listening on a free loopback port. For a well-behaved model use the simulator (src/llm/simulated).
 */
import type { Server } from 'node:http';

/** A whole (unstreamed) `chat.completion` answering `content`, with its usage. */
export function chatCompletionJson(content: string, usage: { prompt: number; completion: number }): string {
  return JSON.stringify({
    id: 'x',
    object: 'chat.completion',
    created: 0,
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: usage.prompt,
      completion_tokens: usage.completion,
      total_tokens: usage.prompt + usage.completion,
    },
  });
}

/** Listens on a free 127.0.0.1 port; resolves with the OpenAI base URL (`…/v1`). */
export async function listenLoopback(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
}
