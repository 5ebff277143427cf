/**
 * A gateway session survives a kernel restart: an agent talks to a real `aos start` (a child process,
 * PGlite on disk) through the official `openai` SDK; the kernel is stopped — gracefully, then with SIGKILL —
 * and started again on the same data directory; the agent's next call of the same session continues in
 * the same process (same pid, its steps, usage and audit chain carrying on), instead of that process failing
 * at boot and the session starting over in a new one.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { simConfig, startAos, stopAos } from './aos-start.js';

let sim: SimulatorHandle;
let dir: string;
let config: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  sim = await createSimulator();
  dir = mkdtempSync(join(tmpdir(), 'aos-gw-restart-'));
  config = simConfig(dir, sim.urlFor('openai'), { storage: `pglite://${join(dir, 'db')}` });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway: sessions survive a kernel restart', () => {
  it('the next call of a session continues in the same process after a graceful restart and after kill -9', async () => {
    let k = await startAos(config, children);
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

    await stopAos(k.child, 'SIGTERM');
    k = await startAos(config, children);
    // Recovered at boot as a gateway session, not failed for want of its program.
    const afterBoot = await proc(k.url, pid);
    expect(afterBoot.program).toBe('gateway');
    expect(['ready', 'running', 'waiting']).toContain(afterBoot.state);
    expect(await talk(k.url)).toBe(pid);

    // The answer goes out before its step commits; kill -9 once the third call is committed (accounted).
    for (let i = 0; i < 500 && (await proc(k.url, pid)).usage.apiCalls < 3; i++)
      await new Promise((r) => setTimeout(r, 20));
    await stopAos(k.child, 'SIGKILL');
    k = await startAos(config, children);
    expect(await talk(k.url)).toBe(pid);
    const p = await proc(k.url, pid);
    expect(p.usage.apiCalls).toBe(4);
    expect(['ready', 'running', 'waiting']).toContain(p.state);
    const audit = await fetch(`${k.url}/api/v1/processes/${pid}/audit`, {
      headers: { authorization: `Bearer ${admin}` },
    }).then((r) => r.json() as Promise<{ items: Array<{ kind: string }>; verified?: unknown }>);
    expect(audit.items.filter((e) => e.kind === 'llm.chat')).toHaveLength(4);
    await stopAos(k.child, 'SIGTERM');
  }, 180_000);
});
