/**
 * What a gateway caller waits for, through the wire an agent uses (the official `openai` SDK): storage
 * writes that need not be on the call's path are not.
 * - The kernel's model-call journal row (llm_calls) is written after the answer went out, and the session's
 *   step commits only once that row is stored: with the row's INSERT held, the caller still gets its answer,
 *   the step stays uncommitted, and once released the row and then the step are there.
 * - A call's statements: its llm_calls row and its gateway_journal row go in the step's one-statement
 *   commit (held-calls), so a session's call costs that one statement — no more. A step that commits
 *   another way writes its journal row in that transaction; one whose commit fails writes it on its own.
 *   Reads of the journal (the sessions listing, replay) wait for the rows of the calls already answered.
 * - An API key in steady use is never looked up on a call's path (a background refresh keeps it cached),
 *   its last use is written in batches, and a revoked key is refused at once.
 */
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, gatewayFixture } from './gateway-fixture.js';

// On PostgreSQL the kernel is a cluster node: a call's llm_calls row is written before its step commits
// (another node may redo the step), so a call is that statement and the commit.
describe.each(['memory', 'postgres'] as const)('gateway call path (%s)', (storage) => {
  const cluster = storage === 'postgres';
  let f: GatewayFixture;
  let held: string[] = [];
  let hold: ((sql: string) => boolean) | null = null;
  let release: () => void = () => undefined;
  let heldGate: Promise<void> = Promise.resolve();
  let seen: string[] | null = null;
  /** The next statement it matches fails with this error instead of reaching storage (once). */
  let failNext: { match: (sql: string) => boolean; err: Error } | null = null;
  beforeAll(async () => {
    f = await gatewayFixture({ storage });
    const driver = f.kernel.storage.driver;
    const query = driver.query.bind(driver);
    // Statements the test chooses wait here, before storage sees them, until released.
    driver.query = (async (sql: string, params?: unknown[]) => {
      seen?.push(sql);
      if (failNext?.match(sql)) {
        const { err } = failNext;
        failNext = null;
        throw err;
      }
      if (hold?.(sql)) {
        held.push(sql);
        await heldGate;
      }
      return query(sql, params);
    }) as typeof driver.query;
    // A transaction's statements are seen too, marked `tx: `.
    const transaction = driver.transaction.bind(driver);
    driver.transaction = ((fn: Parameters<typeof driver.transaction>[0]) =>
      transaction((tx) =>
        fn({
          ...tx,
          query: (sql: string, params?: readonly unknown[]) => {
            seen?.push(`tx: ${sql}`);
            return tx.query(sql, params);
          },
        } as typeof tx),
      )) as typeof driver.transaction;
  }, 60_000);
  afterAll(async () => {
    release();
    await f?.close();
  });
  // A failed test leaves nothing held or armed for the next one.
  afterEach(() => {
    hold = null;
    release();
    seen = null;
    failNext = null;
  });
  /** Resolves once the process has committed step `no`. */
  const stepped = (pid: number, no: number) =>
    new Promise<void>((resolve) => {
      if (f.kernel.procs.get(pid)!.pcb.stepNo >= no) return resolve();
      const off = f.kernel.hooks.on('proc.step', (e) => {
        if (e.pid !== pid || e.stepNo < no) return;
        off();
        resolve();
      });
    });
  /** The process's gateway_journal rows, in id order. */
  const journalOf = async (pid: number) =>
    (
      await f.kernel.storage.driver.query<{ request_hash: string; response: unknown }>(
        'SELECT request_hash, response FROM gateway_journal WHERE pid = $1 ORDER BY id',
        [pid],
      )
    ).rows.map((r) => ({ hash: r.request_hash, answered: r.response !== null }));

  it('the caller gets its answer before its rows are written; the step commits with its llm_calls and journal rows', async () => {
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
    // The answer came while its journal rows are still held back: both in the step's one statement.
    expect(r.data.choices[0]!.message.content).toBeTruthy();
    expect(held).toHaveLength(1);
    // (A node writes the llm_calls row on its own, and the step's commit, with the journal row, waits for it.)
    if (!cluster) expect(held[0]).toMatch(/INSERT INTO gateway_journal/);
    const pid = Number(r.response.headers.get('x-aos-pid'));
    // Storage is not blocked (other reads go on) but the step does not commit, nor its journal row.
    const { rows: journaled } = await f.kernel.storage.driver.query<{ n: number | string }>(
      'SELECT count(*) AS n FROM gateway_journal WHERE pid = $1',
      [pid],
    );
    expect(Number(journaled[0]!.n)).toBe(0);
    expect(f.kernel.procs.get(pid)!.pcb.stepNo).toBe(0);
    // The sessions listing counts every call already answered: it waits for that commit.
    let listed = false;
    const sessions = fetch(`${f.server.url}/api/v1/gateway/sessions`, {
      headers: { authorization: `Bearer ${f.admin}` },
    })
      .then((x) => x.json() as Promise<{ items: Array<{ session: string; journal: unknown }> }>)
      .finally(() => {
        listed = true;
      });
    await new Promise((r) => setTimeout(r, 100));
    expect(listed).toBe(false);
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
    const listing = (await sessions).items.find((s) => s.session === 'held-journal');
    expect(listing?.journal).toEqual({ calls: 1, replayed: 0, errors: 0 });
  });

  it('a call costs one statement: its step commit with its llm_calls and gateway_journal rows', async () => {
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
    await stepped(pid, 1);
    seen = [];
    const r = await ask('and now?');
    expect(Number(r.response.headers.get('x-aos-pid'))).toBe(pid);
    await stepped(pid, 2);
    await new Promise((r) => setTimeout(r, 50));
    const stmts = seen;
    seen = null;
    // The step's commit: process row, step row, audit, and both journal rows. A node reads and writes its
    // llm_calls row before it, and its NOTIFY hints and lease renewals run beside: its count is not exact.
    const journal = stmts.filter((s) => s.includes('gateway_journal'));
    expect(journal).toHaveLength(1);
    expect(journal[0]).toMatch(/UPDATE processes/);
    expect(stmts.filter((s) => s.includes('INSERT INTO llm_calls'))).toHaveLength(1);
    if (!cluster) {
      expect(stmts).toHaveLength(1);
      expect(stmts[0]).toMatch(/INSERT INTO llm_calls/);
    }
    const { rows } = await f.kernel.storage.driver.query<{ n: number | string }>(
      'SELECT count(*) AS n FROM llm_calls WHERE pid = $1 AND step_no = 2',
      [pid],
    );
    expect(Number(rows[0]!.n)).toBe(1);
    expect(await journalOf(pid)).toEqual([
      { hash: expect.any(String), answered: true },
      { hash: expect.any(String), answered: true },
    ]);
  });

  it('a step that commits another way writes its journal row in that transaction, once', async () => {
    const client = new OpenAI({
      baseURL: `${f.server.url}/v1`,
      apiKey: f.admin,
      maxRetries: 0,
      defaultHeaders: { 'x-aos-session': 'other-way' },
    });
    // The one-statement commit meets a key a concurrent writer took (a pool): nothing written, false.
    const taken = Object.assign(new Error('duplicate key value violates unique constraint'), {
      code: '23505',
    });
    failNext = {
      match: (sql) => sql.includes('INSERT INTO gateway_journal') && sql.includes('WITH p'),
      err: taken,
    };
    seen = [];
    const r = await client.chat.completions
      .create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'the long way' }] })
      .withResponse();
    const pid = Number(r.response.headers.get('x-aos-pid'));
    await stepped(pid, 1);
    const stmts = seen;
    seen = null;
    expect(failNext).toBeNull();
    // The refused statement, then the row in the step's transaction (after its step row), not on its own.
    const rides = stmts.filter((s) => s.includes('INSERT INTO gateway_journal'));
    expect(rides).toHaveLength(2);
    expect(rides[0]).toMatch(/^WITH p/);
    expect(rides[1]).toMatch(/^tx: INSERT INTO gateway_journal/);
    const stepRow = stmts.findIndex((s) => s.startsWith('tx: ') && s.includes('INSERT INTO steps'));
    expect(stepRow).toBeGreaterThan(-1);
    expect(stmts.indexOf(rides[1]!)).toBeGreaterThan(stepRow);
    expect(await journalOf(pid)).toEqual([{ hash: expect.any(String), answered: true }]);
  });

  it('a step whose commit fails still journals the call it answered, on its own', async () => {
    const client = new OpenAI({
      baseURL: `${f.server.url}/v1`,
      apiKey: f.admin,
      maxRetries: 0,
      defaultHeaders: { 'x-aos-session': 'commit-fails' },
    });
    const first = await client.chat.completions
      .create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'first' }] })
      .withResponse();
    const pid = Number(first.response.headers.get('x-aos-pid'));
    await stepped(pid, 1);
    // The next step's commit fails outright (not a storage outage): the process fails, the answer is out.
    failNext = {
      match: (sql) => sql.includes('INSERT INTO gateway_journal') && sql.includes('WITH p'),
      err: new Error('injected: the step commit failed'),
    };
    const exited = new Promise<void>((resolve) => {
      const off = f.kernel.hooks.on('proc.exit', (e) => {
        if (e.pid !== pid) return;
        off();
        resolve();
      });
    });
    const second = await client.chat.completions.create({
      model: 'gpt-sim',
      messages: [{ role: 'user', content: 'second' }],
    });
    expect(second.choices[0]!.message.content).toBeTruthy();
    await exited;
    expect(failNext).toBeNull();
    expect((await f.kernel.storage.state.listSteps(pid)).map((s) => s.kind)).toEqual(['gateway.call']);
    // Both answered calls are journaled, and the listing (which waits for them) answers.
    expect(await journalOf(pid)).toEqual([
      { hash: expect.any(String), answered: true },
      { hash: expect.any(String), answered: true },
    ]);
    const sessions = await fetch(`${f.server.url}/api/v1/gateway/sessions?all=true`, {
      headers: { authorization: `Bearer ${f.admin}` },
    }).then((x) => x.json() as Promise<{ items: Array<{ session: string; journal: unknown }> }>);
    expect(sessions.items.find((s) => s.session === 'commit-fails')?.journal).toEqual({
      calls: 2,
      replayed: 0,
      errors: 0,
    });
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
