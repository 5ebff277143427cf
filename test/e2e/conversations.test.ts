/**
 * Conversations through the user's path: a real server on a loopback socket, requests with fetch, the
 * simulator behind the kernel. A finished agent is continued by a follow-up message and answers it; a
 * message to a running agent is taken at its next step; the prompt after a follow-up extends the previous
 * one (append-only, so the provider's cache prefix survives); agent profiles from config `agents:` and a
 * per-spawn system prompt reach the model; bad input gets clear errors.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import type { ChatMessage } from '../../src/llm/model.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';

let kernel: Kernel;
let server: ApiServer;
let dir: string;
let token: string;
const sim = new SimulatedProvider({ latency: { ttftMs: 150 } });

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Polls the process over HTTP until it has exited (what `aos send` and the dashboard do). */
// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
async function exited(pid: number): Promise<any> {
  for (;;) {
    const p = await api('GET', `/processes/${pid}`);
    if (p.body.state === 'terminated' || p.body.state === 'zombie') return p.body;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The messages of the last model request whose first user message is `task`. */
function lastPrompt(task: string): ChatMessage[] {
  const bodies = sim.engine.stats.bodies.filter((b) =>
    (b.body.messages as ChatMessage[]).some((m) => m.role === 'user' && m.content === task),
  );
  return (bodies.at(-1)?.body.messages ?? []) as ChatMessage[];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aos-conv-'));
  kernel = await createKernel({
    config: {
      data_dir: join(dir, 'data'),
      storage: { url: 'memory://' },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      scheduler: { provider_retry_base_ms: 20, provider_retry_max_ms: 200 },
      agents: [
        {
          name: 'calc-bot',
          description: 'does arithmetic',
          system: 'You are Calc-bot. Answer with the number only.',
          tools: ['calculator'],
          budgets: { max_steps: 6 },
          priority: 20,
        },
      ],
    },
    models: resolverFromProvider(sim),
    recover: false,
    plugins: false,
  });
  server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
  token = readFileSync(server.adminTokenFile, 'utf8').trim();
}, 60_000);

afterAll(async () => {
  await server?.close();
  await kernel?.shutdown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('conversations over HTTP', () => {
  it('continues a finished agent with a follow-up and it answers the follow-up', async () => {
    const task = 'What is 17 * 23?';
    const { body } = await api('POST', '/processes', { name: 'conv', task });
    const first = await exited(body.pid);
    expect(first.exitReason).toBeNull();
    expect(String(first.result)).toContain('17 * 23 = 391');
    const before = lastPrompt(task);

    const sent = await api('POST', `/processes/${body.pid}/messages`, { text: 'And what is 391 + 9?' });
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ pid: body.pid, continued: true });
    const second = await exited(body.pid);
    expect(second.exitReason).toBeNull();
    expect(String(second.result)).toContain('391 + 9 = 400');
    expect(String(second.result)).not.toContain('17 * 23');

    // append-only: the prompt after the follow-up starts with every message the first turn's last prompt had
    const after = lastPrompt(task);
    expect(after.length).toBeGreaterThan(before.length);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.some((m) => m.role === 'user' && m.content === 'And what is 391 + 9?')).toBe(true);

    const conv = await api('GET', `/processes/${body.pid}/conversation`);
    expect(conv.status).toBe(200);
    const turns = conv.body.items.map((t: { role: string; text: string }) => [t.role, t.text]);
    expect(turns[0]).toEqual(['user', task]);
    expect(turns[1][0]).toBe('assistant');
    expect(turns[1][1]).toContain('391');
    expect(turns[2]).toEqual(['user', 'And what is 391 + 9?']);
    expect(turns[3][0]).toBe('assistant');
    expect(turns[3][1]).toContain('400');

    const audit = await api('GET', `/processes/${body.pid}/audit?limit=1000`);
    expect(audit.body.items.some((e: { kind: string }) => e.kind === 'proc.message')).toBe(true);
  });

  it('a message to a running agent is taken at its next step and answered', async () => {
    const { body } = await api('POST', '/processes', { name: 'live', task: 'What is 2 + 2?' });
    const sent = await api('POST', `/processes/${body.pid}/messages`, { text: 'Then what is 40 + 2?' });
    expect(sent.status).toBe(202);
    expect(sent.body.continued).toBe(false);
    const p = await exited(body.pid);
    expect(p.exitReason).toBeNull();
    expect(String(p.result)).toContain('40 + 2 = 42');
    const conv = await api('GET', `/processes/${body.pid}/conversation`);
    const follow = conv.body.items.find((t: { text: string }) => t.text === 'Then what is 40 + 2?');
    expect(follow).toMatchObject({ role: 'user', pending: false });
    expect(follow.stepNo).toBeGreaterThan(0);
  });

  it('a follow-up whose step meets a provider outage is taken once and acknowledged by the step that answers it', async () => {
    const task = 'What is 5 * 5?';
    const { body } = await api('POST', '/processes', { name: 'outage', task });
    expect((await exited(body.pid)).exitReason).toBeNull();
    // The step that takes the follow-up fails at its model call and is parked; it is void, and so is the
    // user turn it had appended: the redone step takes the (still unacknowledged) message again, once.
    sim.engine.outage({ status: 500 });
    const parked = new Promise<void>((resolve) => {
      const off = kernel.hooks.on('proc.state', (e) => {
        if (e.pid === body.pid && e.to === 'waiting' && e.waitOn?.startsWith('provider:')) {
          off();
          resolve();
        }
      });
    });
    try {
      const follow = 'And what is 25 + 1?';
      expect((await api('POST', `/processes/${body.pid}/messages`, { text: follow })).status).toBe(202);
      await parked;
      sim.engine.outage(null);
      const p = await exited(body.pid);
      expect(p.exitReason).toBeNull();
      expect(String(p.result)).toContain('25 + 1 = 26');
      const prompt = lastPrompt(task);
      expect(prompt.filter((m) => m.role === 'user' && m.content === follow)).toHaveLength(1);
      // and the message was acknowledged by the step that answered it: nothing is left to be taken again
      expect(await kernel.storage.coordination.peek(String(body.pid), { topic: 'user' })).toEqual([]);
    } finally {
      sim.engine.outage(null);
    }
  });

  it('spawns by profile name: its system prompt, tools, budgets and priority apply', async () => {
    const profiles = await api('GET', '/agents');
    expect(profiles.body.items).toEqual([
      expect.objectContaining({ name: 'calc-bot', tools: ['calculator'], priority: 20 }),
    ]);
    const task = 'Please compute 6 * 7 for me';
    const { status, body } = await api('POST', '/processes', { agent: 'calc-bot', task });
    expect(status).toBe(201);
    const p = await exited(body.pid);
    expect(p).toMatchObject({ name: 'calc-bot', priority: 20, exitReason: null });
    expect(String(p.result)).toContain('42');
    const prompt = lastPrompt(task);
    expect(prompt[0]!.role).toBe('system');
    expect(prompt[0]!.content.startsWith('You are Calc-bot. Answer with the number only.')).toBe(true);
    expect(prompt[0]!.content).toContain('final_answer'); // the agent's own instructions follow the persona
    const offered = (
      sim.engine.stats.bodies.at(-1)!.body.tools as Array<{ function?: { name: string }; name?: string }>
    ).map((t) => t.function?.name ?? t.name);
    expect(offered.filter((n) => n !== 'final_answer' && n !== 'recall')).toEqual(['calculator']);
    const row = await kernel.storage.state.getProcess(body.pid);
    expect(row!.budgets).toMatchObject({ maxSteps: 6 });
  });

  it('a per-spawn system prompt reaches the model ahead of the agent instructions', async () => {
    const task = 'Say hello to the crew';
    const { body } = await api('POST', '/processes', { task, system: 'You are a pirate. Speak like one.' });
    await exited(body.pid);
    const prompt = lastPrompt(task);
    expect(prompt[0]!.content.startsWith('You are a pirate. Speak like one.')).toBe(true);
  });

  it('refuses bad input with errors that name the fix', async () => {
    const unknown = await api('POST', '/processes', { agent: 'nobody', task: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain("no agent profile 'nobody'");
    expect(unknown.body.error.message).toContain('calc-bot');
    const empty = await api('POST', '/processes/1/messages', { text: '' });
    expect(empty.status).toBe(400);
    const missing = await api('POST', '/processes/99999/messages', { text: 'hi' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('ENOPROC');
  });
});

describe('the simulator: the README example and the dashboard sample tasks, honest and helpful', () => {
  const ask = async (task: string, workspace?: string) => {
    const { body } = await api('POST', '/processes', {
      name: 'sample',
      task,
      ...(workspace ? { workspace } : {}),
    });
    return exited(body.pid);
  };

  it('answers the arithmetic sample (also the README example) with the calculator', async () => {
    const p = await ask('What is 17 * 23 + 4?');
    expect(String(p.result)).toContain('17 * 23 + 4 = 395');
  });

  it('lists the workspace for "list the files" and says how many there are', async () => {
    // The files are the user's, in a workspace shared by name (an admin's spawn may name one): a process
    // of its own would start in an empty proc/<pid>.
    const ws = join(dir, 'ws', 'shared', 'listing');
    mkdirSync(join(ws, 'notes'), { recursive: true });
    writeFileSync(join(ws, 'a.txt'), 'a');
    writeFileSync(join(ws, 'b.md'), 'b');
    const p = await ask('List the files in the workspace and say how many there are.', 'listing');
    expect(p.workspace).toBe(ws);
    expect(p.exitReason).toBeNull();
    expect(String(p.result)).toContain(
      'The workspace has 3 entries (2 files, 1 directory): a.txt, b.md, notes/',
    );
    const steps = await api('GET', `/processes/${p.pid}/steps`);
    expect(JSON.stringify(steps.body.items)).toContain('list_dir');
  });

  it('explains a kernel term from its built-in glossary, and says so', async () => {
    const p = await ask('Summarise what an operating system scheduler does in two sentences.');
    expect(String(p.result)).toContain("from the simulator's built-in glossary: scheduler");
    expect(String(p.result)).toContain('decides which ready process runs next');
  });

  it('says plainly when a task is beyond its rules (the README library example)', async () => {
    const p = await ask('Check the database health');
    expect(p.exitReason).toBeNull();
    expect(String(p.result)).toContain("beyond the simulator's rules");
    expect(String(p.result)).toContain('not a language model');
    expect(String(p.result)).not.toContain('restatement');
  });
});
