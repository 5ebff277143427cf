/**
 * The peer bench's model: a fake OpenAI-compatible `/v1/chat/completions` on loopback, deterministic and
 * cheap, so every contestant (our ReAct agent, LangGraph.js, a bare SDK loop) does the identical workload.
 * A conversation gets `toolCalls` rounds of one `calculator` call each, then a plain-text answer; each
 * answer waits `latencyMs` first (a model's time to respond). It runs in its own process so its CPU is
 * never counted as a contestant's. Not the project's simulator (src/llm/simulated): that one renders and
 * tokenises like a provider, which would make the server the bottleneck at 200 agents.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface FakeOpenAiOptions {
  latencyMs: number;
  /** Tool rounds per conversation before the answer (10 → 11 model calls per agent). */
  toolCalls: number;
  port?: number;
}

export interface FakeOpenAi {
  /** Base URL including `/v1`. */
  url: string;
  stats(): { requests: number; toolTurns: number; answers: number };
  close(): Promise<void>;
}

interface WireMessage {
  role: string;
  content?: unknown;
  tool_calls?: unknown[];
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeOpenAi(o: FakeOpenAiOptions): Promise<FakeOpenAi> {
  let requests = 0;
  let toolTurns = 0;
  let answers = 0;
  let ids = 0;
  const reply = (res: ServerResponse, status: number, json: unknown) => {
    const text = JSON.stringify(json);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const raw = await body(req);
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        return reply(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
      }
      requests++;
      const b = JSON.parse(raw) as {
        model?: string;
        messages?: WireMessage[];
        tools?: Array<{ function?: { name?: string } }>;
        stream?: boolean;
      };
      const messages = b.messages ?? [];
      let lastUser = -1;
      for (let i = messages.length - 1; i >= 0; i--)
        if (messages[i]!.role === 'user') {
          lastUser = i;
          break;
        }
      const rounds = messages
        .slice(lastUser + 1)
        .filter((m) => m.role === 'assistant' && m.tool_calls?.length).length;
      const offered = (b.tools ?? []).map((t) => t.function?.name);
      const tool = offered.includes('calculator') ? 'calculator' : undefined;
      if (o.latencyMs > 0) await new Promise((r) => setTimeout(r, o.latencyMs));
      const id = `chatcmpl-${++ids}`;
      const promptTokens = Math.ceil(raw.length / 4);
      const message =
        tool && rounds < o.toolCalls
          ? {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: `call_${ids}`,
                  type: 'function',
                  function: { name: tool, arguments: JSON.stringify({ expression: `${rounds} + 1` }) },
                },
              ],
            }
          : { role: 'assistant', content: `The count reached ${rounds}.` };
      if (message.tool_calls) toolTurns++;
      else answers++;
      const finish = message.tool_calls ? 'tool_calls' : 'stop';
      const usage = { prompt_tokens: promptTokens, completion_tokens: 12, total_tokens: promptTokens + 12 };
      if (b.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const chunk = (delta: unknown, finish_reason: string | null, extra: object = {}) =>
          `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: b.model, choices: [{ index: 0, delta, finish_reason }], ...extra })}\n\n`;
        const delta = message.tool_calls
          ? { role: 'assistant', tool_calls: message.tool_calls.map((t, index) => ({ index, ...t })) }
          : { role: 'assistant', content: message.content };
        res.write(chunk(delta, null));
        res.write(chunk({}, finish, { usage }));
        res.end('data: [DONE]\n\n');
        return;
      }
      reply(res, 200, {
        id,
        object: 'chat.completion',
        created: 0,
        model: b.model ?? 'fake',
        choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
        usage,
      });
    })().catch((err: Error) => reply(res, 500, { error: { message: err.message } }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    stats: () => ({ requests, toolTurns, answers }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
