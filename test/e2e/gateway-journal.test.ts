/**
 * The journal under concurrency, through the wire an agent uses: many sessions answered at once are
 * journaled together (one grouped write), and every one of them is still there to replay — a session whose
 * process idled out and whose agent asks the same thing again is answered from the journal, with zero
 * provider calls, counted at the simulator.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

async function until(cond: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

describe('gateway journal: concurrent sessions', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    // Sessions exit after 300 ms without a call; the next call starts a fresh process of the same session.
    f = await gatewayFixture({ gateway: { session_idle_ms: 300 } });
  }, 60_000);
  afterAll(async () => {
    await f?.close();
  });

  it('twenty sessions answered at once are all journaled and all replay with zero provider calls', async () => {
    const key = await f.token({ tenant: 'j' });
    const n = 20;
    const client = (i: number) =>
      new OpenAI({
        baseURL: `${f.server.url}/v1`,
        apiKey: key,
        maxRetries: 0,
        defaultHeaders: { 'x-aos-session': `conc-${i}`, 'x-aos-replay': '1' },
      });
    const ask = (i: number) => [{ role: 'user' as const, content: `question number ${i}` }];
    const first = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        client(i)
          .chat.completions.create({ model: 'gpt-sim', messages: ask(i) })
          .withResponse(),
      ),
    );
    const pids = first.map((r) => Number(r.response.headers.get('x-aos-pid')));
    expect(new Set(pids).size).toBe(n);
    // Every session's process idles out (its step commits, its journal row is written).
    await until(
      async () =>
        (await Promise.all(pids.map((p) => f.kernel.get(p)))).every((s) => s.state === 'terminated'),
      'the sessions idle out',
    );
    const before = f.sim.engine.stats.requests;
    const again = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        client(i)
          .chat.completions.create({ model: 'gpt-sim', messages: ask(i) })
          .withResponse(),
      ),
    );
    expect(f.sim.engine.stats.requests).toBe(before);
    again.forEach((r, i) => {
      expect(r.response.headers.get('x-aos-replayed')).toBe('1');
      expect(r.data.choices[0]!.message.content).toBe(first[i]!.data.choices[0]!.message.content);
    });
    // The sessions may idle out again at any moment (300 ms): ask for the ended ones too.
    const sessions = await fetch(`${f.server.url}/api/v1/gateway/sessions?all=true`, {
      headers: { authorization: `Bearer ${key}` },
    }).then((r) => r.json() as Promise<{ items: Array<{ journal: { calls: number; replayed: number } }> }>);
    expect(sessions.items).toHaveLength(n);
    for (const s of sessions.items) expect(s.journal).toMatchObject({ calls: 1, replayed: 1 });
  });
});
