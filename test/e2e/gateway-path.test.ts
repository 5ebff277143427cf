/**
 * What a gateway caller waits for, through the wire an agent uses (the official `openai` SDK): storage
 * writes that need not be on the call's path are not.
 * - The kernel's model-call journal row (llm_calls) is written after the answer went out, and the session's
 *   step commits only once that row is stored: with the row's INSERT held, the caller still gets its answer,
 *   the step stays uncommitted, and once released the row and then the step are there.
 * - A call's statements: its llm_calls row goes in the step's one-statement commit (held-calls), so a
 *   session's call costs that statement and its share of the batched gateway journal INSERT — no more.
 * - An API key in steady use is never looked up on a call's path (a background refresh keeps it cached),
 *   its last use is written in batches, and a revoked key is refused at once.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

describe('gateway call path', () => {
  let f: GatewayFixture;
  let held: string[] = [];
  let hold: ((sql: string) => boolean) | null = null;
  let release: () => void = () => undefined;
  let heldGate: Promise<void> = Promise.resolve();
  let seen: string[] | null = null;
  beforeAll(async () => {
    f = await gatewayFixture();
    const driver = f.kernel.storage.driver;
    const query = driver.query.bind(driver);
    // Statements the test chooses wait here, before storage sees them, until released.
    driver.query = (async (sql: string, params?: unknown[]) => {
      seen?.push(sql);
      if (hold?.(sql)) {
        held.push(sql);
        await heldGate;
      }
      return query(sql, params);
    }) as typeof driver.query;
  }, 60_000);
  afterAll(async () => {
    release();
    await f?.close();
  });

  it('the caller gets its answer before the llm_calls row is written; the step commits only after the row', async () => {
    const client = new OpenAI({
      baseURL: `${f.server.url}/v1`,
      apiKey: f.admin,
      maxRetries: 0,
      defaultHeaders: { 'x-aos-session': 'held-journal' },
    });
    heldGate = new Promise<void>((r) => {
      release = r;
    });
    held = [];
    hold = (sql) => sql.includes('INSERT INTO llm_calls');
    const r = await client.chat.completions
      .create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'say something' }] })
      .withResponse();
    // The answer came while its journal row is still held back.
    expect(r.data.choices[0]!.message.content).toBeTruthy();
    expect(held).toHaveLength(1);
    const pid = Number(r.response.headers.get('x-aos-pid'));
    // Storage is not blocked (the gateway journal and other reads go on) but the step does not commit.
    const sessions = await fetch(`${f.server.url}/api/v1/gateway/sessions`, {
      headers: { authorization: `Bearer ${f.admin}` },
    }).then((x) => x.json() as Promise<{ items: Array<{ session: string }> }>);
    expect(sessions.items.map((s) => s.session)).toContain('held-journal');
    expect(f.kernel.procs.get(pid)!.pcb.stepNo).toBe(0);
    const committed = new Promise<void>((resolve) => {
      const off = f.kernel.hooks.on('proc.step', (e) => {
        if (e.pid !== pid) return;
        off();
        resolve();
      });
    });
    hold = null;
    release();
    await committed;
    const { rows } = await f.kernel.storage.driver.query<{ n: number | string }>(
      'SELECT count(*) AS n FROM llm_calls WHERE pid = $1 AND step_no = 1',
      [pid],
    );
    expect(Number(rows[0]!.n)).toBe(1);
    expect(f.kernel.procs.get(pid)!.pcb.stepNo).toBe(1);
  });

  it('a call costs one statement for its llm_calls row and its step commit together, plus the journal row', async () => {
    const client = new OpenAI({
      baseURL: `${f.server.url}/v1`,
      apiKey: f.admin,
      maxRetries: 0,
      defaultHeaders: { 'x-aos-session': 'statements' },
    });
    const ask = (content: string) =>
      client.chat.completions
        .create({ model: 'gpt-sim', messages: [{ role: 'user', content }] })
        .withResponse();
    const first = await ask('warm up');
    const pid = Number(first.response.headers.get('x-aos-pid'));
    const stepped = (no: number) =>
      new Promise<void>((resolve) => {
        if (f.kernel.procs.get(pid)!.pcb.stepNo >= no) return resolve();
        const off = f.kernel.hooks.on('proc.step', (e) => {
          if (e.pid !== pid || f.kernel.procs.get(pid)!.pcb.stepNo < no) return;
          off();
          resolve();
        });
      });
    await stepped(1);
    seen = [];
    const r = await ask('and now?');
    expect(Number(r.response.headers.get('x-aos-pid'))).toBe(pid);
    await stepped(2);
    await new Promise((r) => setTimeout(r, 50));
    const stmts = seen;
    seen = null;
    const calls = stmts.filter((s) => s.includes('INSERT INTO llm_calls'));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(/UPDATE processes/); // the same statement as the step's commit
    expect(stmts.filter((s) => s.includes('INSERT INTO gateway_journal'))).toHaveLength(1);
    expect(stmts).toHaveLength(2);
    const { rows } = await f.kernel.storage.driver.query<{ n: number | string }>(
      'SELECT count(*) AS n FROM llm_calls WHERE pid = $1 AND step_no = 2',
      [pid],
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it('a key in use is not looked up on the path, its last use is written in batches, a revoked key is refused at once', async () => {
    const { token, info } = await f.server.tokens.create({ name: 'steady', role: 'operator' });
    const client = new OpenAI({ baseURL: `${f.server.url}/v1`, apiKey: token, maxRetries: 0 });
    const ask = () =>
      client.chat.completions.create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'hi' }] });
    await ask(); // first use: looked up once
    held = [];
    hold = (sql) => sql.includes('api_tokens');
    heldGate = new Promise<void>((r) => {
      release = r;
    });
    // With every api_tokens statement held, calls with the cached key still go through.
    await Promise.all([ask(), ask(), ask()]);
    hold = null;
    release();
    // Its last use reaches the table (listing flushes what is pending).
    const listed = (await f.server.tokens.list()).find((t) => t.id === info.id);
    expect(listed?.lastUsedAt).toBeInstanceOf(Date);
    // Revoked on this node: the very next call is refused.
    await f.server.tokens.revoke(info.id);
    await expect(ask()).rejects.toMatchObject({ status: 401 });
  });
});
