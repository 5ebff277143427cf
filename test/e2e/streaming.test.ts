/**
 * Streaming steps, through the user's path: the built-in ReAct agent calls the simulator over loopback
 * HTTP with the official `openai` SDK (`stream: true`, `stream_options.include_usage`), and a client reads
 * the kernel's own event stream (`/api/v1/events?deltas=1`). Tokens reach the client before the step
 * commits, the answer is exactly the joined text deltas, usage and time-to-first-token are recorded. A
 * stream cut halfway is made again as a whole call (`llm.restart`, `aos_llm_stream_restarts_total`) and
 * never committed half; a 5xx before the first byte is retried silently; cuts past the retry budget park
 * the process in waiting(provider) like any outage. `aos run` and `aos logs -f` print tokens as they
 * arrive (a child process reading the built CLI's stdout). No timing in any assertion: the order of
 * events and a stream the simulator holds open prove "before".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import type { ScriptedTurn } from '../../src/llm/simulated/scenario.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';

const root = new URL('../../', import.meta.url).pathname;
const CLI = join(root, 'dist/cli/main.js');

interface Ev {
  event: string;
  data: Record<string, unknown>;
}

let sim: SimulatorHandle;
let kernel: Kernel;
let server: ApiServer;
let dir: string;
let token: string;
const MODEL = 'gpt-4o';

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
async function api(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${server.url}${path === '/metrics' ? '' : '/api/v1'}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return path === '/metrics' ? res.text() : res.json();
}

/** Reads the kernel's event stream into `events` until `stop` is aborted. */
function listen(query: string, events: Ev[], stop: AbortSignal): Promise<void> {
  return (async () => {
    const res = await fetch(`${server.url}/api/v1/events${query}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: stop,
    });
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
          i = buf.indexOf('\n\n');
        }
      }
    } catch (err) {
      if (!stop.aborted) throw err;
    }
  })();
}

async function until<T>(
  f: () => T | Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`never saw ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs one agent on a scripted simulator, with an SSE client (deltas on) watching from before spawn. */
async function runAgent(turns: ScriptedTurn[], task = 'Read notes.txt and answer.') {
  sim.engine.script(turns);
  const events: Ev[] = [];
  const ac = new AbortController();
  const reading = listen('?deltas=1', events, ac.signal);
  // the hub registers the client synchronously on connect; a heartbeat-free wait for the first frame
  await until(
    () => fetch(`${server.url}/api/v1/health`).then((r) => r.ok),
    (x) => x,
    'the server',
  );
  await new Promise((r) => setTimeout(r, 50));
  const requestsBefore = sim.stats.requests;
  const { pid } = await api('POST', '/processes', { name: 'streamer', task });
  const exit = await until(
    () => events.find((e) => e.event === 'proc.exit' && e.data.pid === pid),
    (e) => e !== undefined,
    'proc.exit',
  );
  ac.abort();
  await reading;
  const mine = events.filter((e) => e.data.pid === pid);
  return { pid, events: mine, exit: exit!, requests: sim.stats.requests - requestsBefore };
}

const text = (evs: Ev[], stepNo: number) =>
  evs
    .filter((e) => e.event === 'llm.delta' && e.data.stepNo === stepNo)
    .map((e) => e.data.delta as { type: string; delta?: string })
    .filter((d) => d.type === 'text')
    .map((d) => d.delta)
    .join('');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aos-stream-'));
  mkdirSync(join(dir, 'ws'), { recursive: true });
  writeFileSync(join(dir, 'ws', 'notes.txt'), 'The launch code is 4711.\n');
  sim = await createSimulator({ latency: { ttftMs: 0, perTokenMs: 1 } });
  kernel = await createKernel({
    recover: false,
    plugins: false,
    config: {
      data_dir: join(dir, 'data'),
      storage: { url: 'memory://' },
      default_model: MODEL,
      llms: {
        models: [{ name: MODEL, provider: 'openai', base_url: sim.urlFor('openai'), api_key: 'sk-stream' }],
        retry: { max_retries: 1, base_ms: 5, max_ms: 20 },
        circuit: { threshold: 50, open_ms: 300 },
      },
      scheduler: { provider_retry_base_ms: 20, provider_retry_max_ms: 100 },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      server: { demo_agents: false },
    },
  });
  server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
  token = readFileSync(server.adminTokenFile, 'utf8').trim();
}, 60_000);

afterAll(async () => {
  await server?.close();
  await kernel?.shutdown();
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('agent steps stream', () => {
  it('tokens reach the event stream before the step commits; the answer is the joined deltas; usage and TTFT are recorded', async () => {
    // What the kernel has committed when each delta arrives (the hook fires as the SDK yields the chunk).
    const committedAtDelta: Array<{ stepNo: number; committed: number }> = [];
    const off = kernel.hooks.on('llm.delta', (e) => {
      committedAtDelta.push({ stepNo: e.stepNo, committed: kernel.procs.get(e.pid)!.pcb.stepNo });
    });
    // A second client with the default filter: it must not be flooded with deltas.
    const plain: Ev[] = [];
    const acPlain = new AbortController();
    const plainReading = listen('', plain, acPlain.signal);
    const answer = 'The launch code in notes.txt is 4711, read from the file just now.';
    const run = await runAgent([
      {
        reasoning: 'I should read the file.',
        toolCalls: [{ name: 'read_file', arguments: { path: 'notes.txt' } }],
      },
      { text: answer },
    ]).finally(off);
    acPlain.abort();
    await plainReading;

    expect(run.exit.data.state).toBe('terminated');
    expect(run.requests).toBe(2);
    const p = await api('GET', `/processes/${run.pid}`);
    expect(p.result).toBe(answer);
    // Every step's deltas come before that step's proc.step on the wire, and the kernel had not yet
    // committed the step when any of its deltas went out.
    for (const stepNo of [1, 2]) {
      const at = run.events.findIndex((e) => e.event === 'proc.step' && e.data.stepNo === stepNo);
      const deltas = run.events.flatMap((e, i) =>
        e.event === 'llm.delta' && e.data.stepNo === stepNo ? [i] : [],
      );
      expect(deltas.length, `step ${stepNo} streamed`).toBeGreaterThan(1);
      expect(Math.max(...deltas)).toBeLessThan(at);
    }
    expect(committedAtDelta.length).toBeGreaterThan(2);
    for (const d of committedAtDelta) expect(d.committed).toBe(d.stepNo - 1);
    // The answer is exactly what streamed, piece by piece.
    expect(text(run.events, 2)).toBe(answer);
    // Tool-call fragments assemble to the call the step made.
    const frags = run.events
      .filter((e) => e.event === 'llm.delta' && e.data.stepNo === 1)
      .map((e) => e.data.delta as { type: string; name?: string; argumentsDelta?: string })
      .filter((d) => d.type === 'tool_call');
    expect(frags.map((f) => f.name ?? '').join('')).toBe('read_file');
    expect(JSON.parse(frags.map((f) => f.argumentsDelta ?? '').join(''))).toEqual({ path: 'notes.txt' });
    // The wire asked for a stream with usage; usage was recorded in one vocabulary everywhere.
    const bodies = sim.stats.bodies.slice(-2).map((b) => b.body);
    for (const b of bodies) {
      expect(b.stream).toBe(true);
      expect(b.stream_options).toEqual({ include_usage: true });
    }
    expect(p.usage.tokensIn).toBeGreaterThan(0);
    expect(p.usage.tokensOut).toBeGreaterThan(0);
    expect(p.usage.apiCalls).toBe(2);
    const metrics: string = await api('GET', '/metrics');
    const series = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? Number.NaN);
    expect(series(/aos_llm_tokens_total\{kind="input",model="gpt-4o",purpose="agent"\} (\d+)/)).toBe(
      p.usage.tokensIn,
    );
    expect(series(/aos_llm_tokens_total\{kind="output",model="gpt-4o",purpose="agent"\} (\d+)/)).toBe(
      p.usage.tokensOut,
    );
    expect(series(/aos_llm_ttft_seconds_count\{model="gpt-4o"\} (\d+)/)).toBe(2);
    // One vocabulary: the API summary's input tokens are the counter's input (every prompt token).
    const summary = await api('GET', '/metrics/summary');
    expect(summary.tokens).toEqual({
      input: p.usage.tokensIn,
      cached: p.usage.tokensCached,
      output: p.usage.tokensOut,
    });
    expect(series(/aos_llm_tokens_total\{kind="cached",model="gpt-4o",purpose="agent"\} (\d+)/)).toBe(
      p.usage.tokensCached,
    );
    // The context figures per model: two prompts rendered, their hit ratio, faults, swap-ins, utilisation.
    expect(series(/aos_context_model_renders\{model="gpt-4o"\} (\d+)/)).toBe(2);
    for (const name of ['prefix_hit_ratio', 'page_faults', 'swap_ins', 'utilisation'])
      expect(metrics).toMatch(new RegExp(`aos_context_model_${name}\\{model="gpt-4o"\\} [0-9.e-]+`));
    expect(series(/aos_context_model_utilisation\{model="gpt-4o"\} ([0-9.e-]+)/)).toBeGreaterThan(0);
    // The default stream carried the steps but no token deltas.
    expect(plain.some((e) => e.event === 'proc.step')).toBe(true);
    expect(plain.filter((e) => e.event.startsWith('llm.'))).toEqual([]);
  }, 90_000);

  it('a stream cut halfway is made again as a whole call, announced, counted, and committed once', async () => {
    const restartsBefore = Number(
      /aos_llm_stream_restarts_total\{model="gpt-4o"\} (\d+)/.exec(await api('GET', '/metrics'))?.[1] ?? 0,
    );
    const cut = 'This first attempt is going to be cut off before the model finishes its sentence.';
    const whole = 'The second attempt arrives whole: 4711.';
    const run = await runAgent([{ text: cut, cut: true }, { text: whole }]);
    expect(run.exit.data.state).toBe('terminated');
    expect(run.requests).toBe(2);
    const p = await api('GET', `/processes/${run.pid}`);
    expect(p.result).toBe(whole);
    // One committed step, whose text is the whole answer — nothing of the cut attempt.
    const steps = await api('GET', `/processes/${run.pid}/steps`);
    expect(steps.items.map((s: { stepNo: number }) => s.stepNo)).toEqual([1]);
    expect(JSON.stringify(steps.items[0].record)).not.toContain('first attempt');
    // Watchers saw: part of the cut text, a restart, then the whole answer as attempt 2.
    const restart = run.events.findIndex((e) => e.event === 'llm.restart');
    expect(restart).toBeGreaterThan(0);
    expect(run.events[restart]!.data).toMatchObject({ stepNo: 1, attempt: 2, final: false });
    const before = run.events.slice(0, restart);
    const after = run.events.slice(restart);
    const partial = text(before, 1);
    expect(partial.length).toBeGreaterThan(0);
    expect(cut.startsWith(partial) && partial !== cut).toBe(true);
    expect(text(after, 1)).toBe(whole);
    for (const e of after.filter((x) => x.event === 'llm.delta')) expect(e.data.attempt).toBe(2);
    const metrics: string = await api('GET', '/metrics');
    expect(Number(/aos_llm_stream_restarts_total\{model="gpt-4o"\} (\d+)/.exec(metrics)?.[1])).toBe(
      restartsBefore + 1,
    );
  }, 90_000);

  it('a 5xx before the first byte is retried without a restart; cuts past the retry budget park the process', async () => {
    const first = await runAgent([{ error: { status: 500 } }, { text: 'Recovered after a 500.' }]);
    expect(first.requests).toBe(2);
    expect(first.exit.data.state).toBe('terminated');
    expect(first.events.filter((e) => e.event === 'llm.restart')).toEqual([]);
    expect(text(first.events, 1)).toBe('Recovered after a 500.');

    // max_retries 1: two cut attempts exhaust the call; the step is abandoned uncommitted and the
    // process parks on the provider, then finishes on the next call.
    const parked: string[] = [];
    const off = kernel.hooks.on('proc.state', (e) => {
      if (e.to === 'waiting' && e.waitOn?.startsWith('provider:')) parked.push(e.waitOn);
    });
    const long = 'Cut once, cut twice, and then the process waits for the provider to recover.';
    const second = await runAgent([
      { text: long, cut: true },
      { text: long, cut: true },
      { text: 'Finished after parking.' },
    ]).finally(off);
    expect(second.requests).toBe(3);
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatch(/^provider:openai gpt-4o until \S+ — .*stream ended before the model finished/);
    const restarts = second.events.filter((e) => e.event === 'llm.restart').map((e) => e.data);
    expect(restarts).toMatchObject([
      { stepNo: 1, attempt: 2, final: false },
      { stepNo: 1, attempt: 2, final: true },
    ]);
    const p = await api('GET', `/processes/${second.pid}`);
    expect(p.result).toBe('Finished after parking.');
    const steps = await api('GET', `/processes/${second.pid}/steps`);
    expect(steps.items).toHaveLength(1);
  }, 90_000);
});

describe.skipIf(!existsSync(CLI))('the terminal prints tokens as they stream', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  const cli = (...args: string[]) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, AOS_URL: server.url, AOS_TOKEN: token, AOS_LOG: 'error', NO_COLOR: '1' },
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString('utf8');
    });
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString('utf8');
    });
    const exited = new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
    return { child, out: () => out, err: () => err, exited };
  };

  it('`aos logs -f` shows a step’s text while the model is still producing it', async () => {
    // The agent is parked on a rate limit first, so `aos logs -f` is watching before the model speaks.
    sim.engine.outage({ status: 429, retryAfterMs: 600_000 });
    const { pid } = await api('POST', '/processes', { name: 'held', task: 'hold the stream open' });
    await until(
      () => api('GET', `/processes/${pid}`),
      (p) => p.state === 'waiting' && String(p.waitOn).startsWith('provider:'),
      'parked',
    );
    const clients = server.events.size;
    const c = cli('logs', '-f', String(pid));
    await until(c.out, (o) => o.includes('waiting for provider:'), 'the wait line');
    // it prints the timeline first, then subscribes: the model may speak once it listens
    await until(
      () => server.events.size,
      (n) => n > clients,
      'aos logs -f on the event stream',
    );
    // The stream delivers these words, then stays open: the step cannot have committed.
    const partial = 'Thinking out loud while the stream is still open';
    sim.engine.outage(null);
    sim.engine.script([{ hang: true, partialText: partial }]);
    await api('POST', `/processes/${pid}/resume`, {});
    await until(c.out, (o) => o.includes(partial), `"${partial}" in aos logs -f output`, 20_000);
    expect((await api('GET', `/processes/${pid}`)).stepNo).toBe(0);
    expect(c.out()).toMatch(new RegExp(`\\[step 1 …\\] ${partial}`));
    c.child.kill('SIGTERM');
    await api('POST', `/processes/${pid}/kill`, {});
    await c.exited;
  }, 90_000);

  it('`aos run` prints the answer token by token before the step summary, control characters escaped', async () => {
    const answer = 'Streaming words \x1b[2J arrive one by one: 4711.';
    sim.engine.script([{ text: answer }]);
    const c = cli('run', 'stream an answer');
    const code = await c.exited;
    expect(code, c.err()).toBe(0);
    const out = c.out();
    const live = out.indexOf('[step 1 …] Streaming words \\x1b[2J arrive one by one: 4711.');
    const summary = out.indexOf('[step 1/20]');
    expect(live, out).toBeGreaterThanOrEqual(0);
    expect(summary).toBeGreaterThan(live);
    expect(out).not.toContain('\x1b[2J');
    expect(out).toMatch(/answer: Streaming words/);
  }, 90_000);

  it('`aos run` with its own kernel (no server) prints tokens live the same way', async () => {
    const cfg = join(dir, 'local.yaml');
    writeFileSync(
      cfg,
      [
        `data_dir: ${join(dir, 'local-data')}`,
        `default_model: ${MODEL}`,
        'llms:',
        '  models:',
        `    - { name: ${MODEL}, provider: openai, base_url: "${sim.urlFor('openai')}", api_key: sk-local }`,
        'security:',
        '  sandbox: none',
        `  workspace: ${join(dir, 'ws')}`,
        '',
      ].join('\n'),
    );
    const answer = 'Local kernel streaming straight to the terminal.';
    sim.engine.script([{ text: answer }]);
    const c = cli('-c', cfg, 'run', 'stream locally', '--storage', 'memory://');
    expect(await c.exited, c.err()).toBe(0);
    const out = c.out();
    expect(out).not.toContain('on the kernel at'); // it ran here, not on the server
    const live = out.indexOf(`[step 1 …] ${answer}`);
    expect(live, out).toBeGreaterThanOrEqual(0);
    expect(out.indexOf('[step 1/20]')).toBeGreaterThan(live);
  }, 90_000);
});
