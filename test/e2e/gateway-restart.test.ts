/**
 * A gateway session survives a kernel restart: an agent talks to a real `aos start` (a child process,
 * PGlite on disk) through the official `openai` SDK; the kernel is stopped — gracefully, then with SIGKILL —
 * and started again on the same data directory; the agent's next call of the same session continues in
 * the same process (same pid, its steps, usage and audit chain carrying on), instead of that process failing
 * at boot and the session starting over in a new one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';

const MAIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;
let sim: SimulatorHandle;
let dir: string;
let config: string;
const children: ChildProcess[] = [];

function startKernel(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN, '--config', config, 'start', '--no-demo'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AOS_LOG: 'warn', NO_COLOR: '1' },
  });
  children.push(child);
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /API\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code, signal) =>
      reject(new Error(`aos start exited ${code ?? signal}:\n${out}\n${err}`)),
    );
  });
}

async function stop(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

beforeAll(async () => {
  sim = await createSimulator();
  dir = mkdtempSync(join(tmpdir(), 'aos-gw-restart-'));
  config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      `data_dir: ${dir}`,
      `storage: { url: "pglite://${join(dir, 'db')}" }`,
      'server: { port: 0, demo_agents: false }',
      'security: { sandbox: none }',
      'default_model: gpt-sim',
      'llms:',
      '  models:',
      `    - { name: gpt-sim, provider: openai, base_url: "${sim.urlFor('openai')}", api_key: sk-provider-secret }`,
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway: sessions survive a kernel restart', () => {
  it('the next call of a session continues in the same process after a graceful restart and after kill -9', async () => {
    let k = await startKernel();
    const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hello, remember me.' }];
    const talk = async (url: string) => {
      const c = new OpenAI({
        baseURL: `${url}/v1`,
        apiKey: admin,
        maxRetries: 0,
        defaultHeaders: { 'x-aos-session': 'long-talk' },
      });
      const r = await c.chat.completions.create({ model: 'gpt-sim', messages }).withResponse();
      messages.push(
        { role: 'assistant', content: r.data.choices[0]!.message.content ?? '' },
        { role: 'user', content: `And now question ${messages.length}.` },
      );
      return Number(r.response.headers.get('x-aos-pid'));
    };
    const proc = async (url: string, pid: number) => {
      const r = await fetch(`${url}/api/v1/processes/${pid}`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(r.status).toBe(200);
      return (await r.json()) as {
        state: string;
        program: string;
        usage: { apiCalls: number };
        exitReason?: string;
      };
    };

    const pid = await talk(k.url);
    expect(await talk(k.url)).toBe(pid);

    await stop(k.child, 'SIGTERM');
    k = await startKernel();
    // Recovered at boot as a gateway session, not failed for want of its program.
    const afterBoot = await proc(k.url, pid);
    expect(afterBoot.program).toBe('gateway');
    expect(['ready', 'running', 'waiting']).toContain(afterBoot.state);
    expect(await talk(k.url)).toBe(pid);

    // The answer goes out before its step commits; kill -9 once the third call is committed (accounted).
    for (let i = 0; i < 500 && (await proc(k.url, pid)).usage.apiCalls < 3; i++)
      await new Promise((r) => setTimeout(r, 20));
    await stop(k.child, 'SIGKILL');
    k = await startKernel();
    expect(await talk(k.url)).toBe(pid);
    const p = await proc(k.url, pid);
    expect(p.usage.apiCalls).toBe(4);
    expect(['ready', 'running', 'waiting']).toContain(p.state);
    const audit = await fetch(`${k.url}/api/v1/processes/${pid}/audit`, {
      headers: { authorization: `Bearer ${admin}` },
    }).then((r) => r.json() as Promise<{ items: Array<{ kind: string }>; verified?: unknown }>);
    expect(audit.items.filter((e) => e.kind === 'llm.chat')).toHaveLength(4);
    await stop(k.child, 'SIGTERM');
  }, 180_000);
});
