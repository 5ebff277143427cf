import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { ApprovalManager } from '../security/approvals.js';
import { ToolLimiter } from '../security/limits.js';
import { SecurityPolicy } from '../security/policy.js';
import { NoSandbox } from '../security/sandbox/none.js';
import { builtinTools } from './builtin/index.js';
import { createToolContext } from './context.js';
import { type AuditSink, ToolExecutor } from './executor.js';
import { MemoryIdempotencyStore } from './idempotency.js';
import { ToolRegistry, toWireName } from './registry.js';
import { defineTool } from './tool.js';

const sandbox = new NoSandbox({ quiet: true });

function memAudit(): AuditSink & {
  entries: Array<{ stream: string; kind: string; actor: string; payload: any }>;
} {
  const entries: Array<{ stream: string; kind: string; actor: string; payload: any }> = [];
  return { entries, append: async (e) => void entries.push(e as (typeof entries)[number]) };
}

let ws: string;
beforeEach(() => {
  ws = mkdtempSync(join(tmpdir(), 'aos-exec-'));
});

function setup(extra: Partial<ConstructorParameters<typeof ToolExecutor>[0]> = {}) {
  const registry = new ToolRegistry().registerAll(builtinTools());
  const audit = memAudit();
  const exec = new ToolExecutor({ registry, sandbox, audit, ...extra });
  return { registry, audit, exec };
}

describe('ToolRegistry', () => {
  test('specs are sorted, JSON Schema, wire-safe names', () => {
    const { registry } = setup();
    registry.register(
      defineTool({
        name: 'read_file',
        namespace: 'filesystem',
        description: 'd',
        input: z.object({ path: z.string() }),
        permissions: ['fs.read'],
        run: async () => 'x',
      }),
    );
    const specs = registry.specs();
    expect(specs.map((s) => s.name)).toEqual([...specs.map((s) => s.name)].sort());
    for (const s of specs) expect(s.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    const fs = specs.find((s) => s.name === 'filesystem__read_file');
    expect(fs?.parameters).toMatchObject({
      type: 'object',
      properties: { path: { type: 'string' } },
      required: ['path'],
    });
    expect(fs?.parameters.$schema).toBeUndefined();
    expect(registry.resolve('filesystem__read_file')?.namespace).toBe('filesystem');
    expect(registry.resolve('filesystem.read_file')?.namespace).toBe('filesystem');
    expect(registry.specs(['filesystem.*']).map((s) => s.name)).toEqual(['filesystem__read_file']);
    expect(toWireName(`x.${'a'.repeat(80)}`)).toHaveLength(64);
    expect(() => registry.register(registry.get('calculator'))).toThrow(/already registered/);
  });
});

describe('ToolExecutor', () => {
  test('runs a tool, audits it, returns model-readable output', async () => {
    const { exec, audit } = setup();
    const ctx = createToolContext({ pid: 7, stepNo: 3, callIndex: 1, workspace: ws, sandbox });
    const r = await exec.execute(
      { id: 'c1', name: 'calculator', arguments: '{"expression":"2*(3+4)^2"}' },
      ctx,
    );
    expect(r).toMatchObject({ ok: true, output: '98', truncated: false, idempotencyKey: '7:3:1' });
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({ stream: 'proc:7', kind: 'io.tool_call', actor: 'pid:7' });
    expect(audit.entries[0]?.payload).toMatchObject({
      tool: 'calculator',
      ok: true,
      decision: 'allow',
      args: { expression: '2*(3+4)^2' },
    });
  });

  test('bad arguments give a structured error naming the field, never a throw', async () => {
    const { exec, audit } = setup();
    const ctx = createToolContext({ pid: 1, workspace: ws, sandbox });
    const r1 = await exec.execute({ id: 'a', name: 'write_file', arguments: '{"path": 3}' }, ctx);
    expect(r1.ok).toBe(false);
    expect(r1.error?.code).toBe('EINVAL');
    expect(r1.output).toMatch(/- path: .*expected string/);
    expect(r1.output).toMatch(/- content: /);
    expect(r1.error?.details?.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: 'path' })]),
    );
    const r2 = await exec.execute({ id: 'b', name: 'calculator', arguments: '{"expression": "1+' }, ctx);
    expect(r2.error?.code).toBe('EINVAL');
    expect(r2.output).toMatch(/not valid JSON/);
    const r3 = await exec.execute({ id: 'c', name: 'no_such_tool', arguments: '{}' }, ctx);
    expect(r3.error?.code).toBe('ENOTFOUND');
    expect(r3.output).toMatch(/Available tools: .*calculator/);
    const r4 = await exec.execute({ id: 'd', name: 'calculator', arguments: '{"expression":"1/0"}' }, ctx);
    expect(r4).toMatchObject({ ok: false, error: { code: 'EINVAL', message: 'division by zero' } });
    expect(audit.entries.map((e) => e.kind)).toEqual([
      'io.tool_error',
      'io.tool_error',
      'io.tool_error',
      'io.tool_error',
    ]);
  });

  test('policy denies what the level does not grant, and allowed_tools', async () => {
    const { exec, audit } = setup();
    const ro = createToolContext({
      pid: 2,
      workspace: ws,
      sandbox,
      policy: new SecurityPolicy({ permission_level: 'readonly' }),
    });
    const r = await exec.execute(
      { id: 'a', name: 'write_file', arguments: '{"path":"a.txt","content":"x"}' },
      ro,
    );
    expect(r.error?.code).toBe('EPERM');
    expect(r.output).toMatch(/needs fs.write, which permission level "readonly" does not grant/);
    const only = createToolContext({
      pid: 2,
      workspace: ws,
      sandbox,
      policy: new SecurityPolicy({ allowed_tools: ['calculator'] }),
    });
    expect((await exec.execute({ id: 'b', name: 'list_dir', arguments: '{}' }, only)).output).toMatch(
      /not in this process's allowed_tools/,
    );
    expect(
      (await exec.execute({ id: 'c', name: 'calculator', arguments: '{"expression":"1"}' }, only)).ok,
    ).toBe(true);
    expect(audit.entries[0]?.payload).toMatchObject({ decision: 'deny' });
  });

  test('non-idempotent results are recorded and a retried step replays instead of repeating', async () => {
    const idempotency = new MemoryIdempotencyStore();
    const { exec } = setup({ idempotency });
    let runs = 0;
    exec.registry.register(
      defineTool({
        name: 'charge',
        description: 'side effect',
        input: z.object({ amount: z.number() }),
        permissions: [],
        run: async (a) => `charged ${a.amount} (run ${++runs})`,
      }),
    );
    const ctx = createToolContext({ pid: 9, stepNo: 4, callIndex: 0, workspace: ws, sandbox });
    const first = await exec.execute({ id: 'x', name: 'charge', arguments: '{"amount":5}' }, ctx);
    const retry = await exec.execute({ id: 'x', name: 'charge', arguments: '{"amount":5}' }, ctx);
    expect(first.output).toBe('charged 5 (run 1)');
    expect(retry).toMatchObject({ ok: true, output: 'charged 5 (run 1)', replayed: true });
    expect(runs).toBe(1);
    const diverged = await exec.execute({ id: 'x', name: 'charge', arguments: '{"amount":6}' }, ctx);
    expect(diverged.error?.code).toBe('ECONFLICT');
    // idempotent tools without a plan are not recorded
    await exec.execute(
      { id: 'y', name: 'calculator', arguments: '{"expression":"1"}' },
      { ...ctx, idempotencyKey: '9:4:1' },
    );
    expect(idempotency.size).toBe(1);
  });

  test('a call with an intent but no result is never repeated: the process is told its outcome is unknown', async () => {
    const idempotency = new MemoryIdempotencyStore();
    const { exec, audit } = setup({ idempotency });
    let runs = 0;
    let crash = true;
    exec.registry.register(
      defineTool({
        name: 'charge',
        description: 'side effect',
        input: z.object({ amount: z.number() }),
        permissions: [],
        run: async (a) => {
          runs += 1;
          // the kernel dies after the effect, before the result is recorded
          if (crash) throw Object.assign(new Error('killed'), { name: 'AbortError' });
          return `charged ${a.amount}`;
        },
      }),
    );
    const ctx = createToolContext({ pid: 9, stepNo: 4, callIndex: 0, workspace: ws, sandbox });
    await idempotency.intend({ key: '9:4:0', tool: 'charge', argsHash: 'x' }); // what a crash leaves behind
    crash = false;
    const stale = await exec.execute({ id: 'x', name: 'charge', arguments: '{"amount":5}' }, ctx);
    expect(stale.error?.code).toBe('ECONFLICT'); // a different call under the same key is refused
    const ctx2 = { ...ctx, stepNo: 5, idempotencyKey: '9:5:0' };
    const ac = new AbortController();
    const p = exec.execute(
      { id: 'y', name: 'charge', arguments: '{"amount":5}' },
      { ...ctx2, signal: ac.signal },
    );
    ac.abort(); // killed mid-call: the intent stays, without a result
    await p;
    expect((await idempotency.lookup('9:5:0'))?.state).toBe('intent');
    const after = await exec.execute({ id: 'y', name: 'charge', arguments: '{"amount":5}' }, ctx2);
    expect(after).toMatchObject({ ok: false, error: { code: 'EINTERRUPTED' } });
    expect(after.output).toMatch(/outcome is unknown/);
    const again = await exec.execute({ id: 'y', name: 'charge', arguments: '{"amount":5}' }, ctx2);
    expect(again).toMatchObject({ ok: false, replayed: true, error: { code: 'EINTERRUPTED' } });
    expect(runs).toBeLessThanOrEqual(1);
    expect(audit.entries.at(-2)?.payload).toMatchObject({ interrupted: true });
  });

  test('write_file is idempotent by content: a re-run after a crash past the write appends nothing twice', async () => {
    const idempotency = new MemoryIdempotencyStore();
    let failPut = true;
    const store = Object.assign(Object.create(idempotency), {
      put: async (r: Parameters<typeof idempotency.put>[0]) => {
        if (failPut) throw new Error('kernel killed before the result was recorded');
        return idempotency.put(r);
      },
    });
    const { exec, audit } = setup({ idempotency: store });
    writeFileSync(join(ws, 'log.txt'), 'one\n');
    const ctx = createToolContext({ pid: 3, stepNo: 2, callIndex: 0, workspace: ws, sandbox });
    const call = {
      id: 'w',
      name: 'write_file',
      arguments: '{"path":"log.txt","content":"two\\n","append":true}',
    };
    await exec.execute(call, ctx).catch(() => undefined);
    expect(readFileSync(join(ws, 'log.txt'), 'utf8')).toBe('one\ntwo\n');
    expect((await idempotency.lookup('3:2:0'))?.state).toBe('intent');
    failPut = false;
    const rerun = await exec.execute(call, ctx);
    expect(rerun).toMatchObject({ ok: true });
    expect(readFileSync(join(ws, 'log.txt'), 'utf8')).toBe('one\ntwo\n');
    expect(audit.entries.at(-1)?.payload).toMatchObject({ rerun: true, attempt: 2 });
    // and no temporary file is left beside it
    expect(readdirSync(ws).sort()).toEqual(['log.txt']);
  });

  test('timeouts stop a tool with ETIMEDOUT; thrown errors become ETOOL', async () => {
    const { exec } = setup();
    exec.registry.register(
      defineTool({
        name: 'hang',
        description: '',
        input: z.object({}),
        permissions: [],
        timeoutMs: 30,
        run: () => new Promise(() => {}),
      }),
    );
    exec.registry.register(
      defineTool({
        name: 'boom',
        description: '',
        input: z.object({}),
        permissions: [],
        run: async () => {
          throw new Error('kaput');
        },
      }),
    );
    const ctx = createToolContext({ pid: 1, workspace: ws, sandbox });
    expect((await exec.execute({ id: '1', name: 'hang', arguments: '' }, ctx)).error?.code).toBe('ETIMEDOUT');
    expect((await exec.execute({ id: '2', name: 'boom', arguments: '{}' }, ctx)).error).toEqual({
      code: 'ETOOL',
      message: 'kaput',
    });
  });

  test('output is capped and marked truncated; a pager gets the full text', async () => {
    const paged: string[] = [];
    const { exec } = setup({
      maxOutputBytes: 1000,
      pager: async (t) => (paged.push(t), 'full output stored as page p1'),
    });
    exec.registry.register(
      defineTool({
        name: 'big',
        description: '',
        input: z.object({}),
        permissions: [],
        run: async () => `${'a'.repeat(5000)}END`,
      }),
    );
    const r = await exec.execute(
      { id: '1', name: 'big', arguments: '{}' },
      createToolContext({ pid: 1, workspace: ws, sandbox }),
    );
    expect(r.truncated).toBe(true);
    expect(Buffer.byteLength(r.output)).toBeLessThan(1200);
    expect(r.output).toMatch(/truncated: \d+ bytes omitted; full output stored as page p1/);
    expect(r.output.endsWith('END')).toBe(true);
    expect(paged[0]).toHaveLength(5003);
  });

  test('hooks can veto and rewrite arguments; after-hook observes', async () => {
    const seen: string[] = [];
    const { exec } = setup({
      hooks: {
        before: (ev) =>
          ev.tool === 'shell'
            ? { veto: 'no shells today' }
            : ev.tool === 'calculator'
              ? { args: { expression: '40+2' } }
              : undefined,
        after: (ev) => void seen.push(`${ev.tool}:${ev.ok}`),
      },
    });
    const ctx = createToolContext({ pid: 1, workspace: ws, sandbox });
    expect(
      (await exec.execute({ id: '1', name: 'shell', arguments: '{"command":"id"}' }, ctx)).output,
    ).toMatch(/EDENIED: vetoed by a hook: no shells today/);
    expect(
      (await exec.execute({ id: '2', name: 'calculator', arguments: '{"expression":"1"}' }, ctx)).output,
    ).toBe('42');
    expect(seen).toEqual(['shell:false', 'calculator:true']);
  });

  test('ask tools wait for approval; approve runs, deny refuses; both audited', async () => {
    const audit = memAudit();
    const approvals = new ApprovalManager({
      audit,
      onPending: (p) => {
        queueMicrotask(() => {
          if ((p.args as { content: string }).content.includes('ok')) void approvals.approve(p.id, 'alice');
          else void approvals.deny(p.id, 'bob', 'not today');
        });
      },
    });
    const { exec } = setup({ approvals, audit });
    const policy = new SecurityPolicy({ ask_tools: ['write_file'] });
    const ok = await exec.execute(
      { id: '1', name: 'write_file', arguments: '{"path":"a.txt","content":"ok"}' },
      createToolContext({ pid: 3, stepNo: 1, workspace: ws, sandbox, policy }),
    );
    expect(ok.ok).toBe(true);
    expect(readFileSync(join(ws, 'a.txt'), 'utf8')).toBe('ok');
    const no = await exec.execute(
      { id: '2', name: 'write_file', arguments: '{"path":"b.txt","content":"no"}' },
      createToolContext({ pid: 3, stepNo: 2, workspace: ws, sandbox, policy }),
    );
    expect(no.error?.code).toBe('EDENIED');
    expect(no.output).toMatch(/a human denied write_file \(bob\): not today/);
    expect(audit.entries.map((e) => e.kind)).toEqual([
      'approval.requested',
      'approval.approved',
      'io.tool_call',
      'approval.requested',
      'approval.denied',
      'io.tool_error',
    ]);
    expect(audit.entries[1]).toMatchObject({ actor: 'human:alice' });
  });

  test('rate limit and circuit breaker per tool', async () => {
    let t = 0;
    const limiter = new ToolLimiter({
      ratePerMinute: 2,
      perTool: { flaky: { ratePerMinute: 1000 } },
      failureThreshold: 2,
      openMs: 1000,
      now: () => t,
    });
    const { exec } = setup({ limiter });
    exec.registry.register(
      defineTool({
        name: 'flaky',
        description: '',
        input: z.object({}),
        permissions: [],
        run: async () => {
          throw new Error('down');
        },
      }),
    );
    const ctx = createToolContext({ pid: 1, workspace: ws, sandbox });
    const calc = { id: '1', name: 'calculator', arguments: '{"expression":"1"}' };
    expect((await exec.execute(calc, ctx)).ok).toBe(true);
    expect((await exec.execute(calc, ctx)).ok).toBe(true);
    expect((await exec.execute(calc, ctx)).error?.code).toBe('ERATELIMIT');
    t += 30_000;
    expect((await exec.execute(calc, ctx)).ok).toBe(true);
    const flaky = { id: '2', name: 'flaky', arguments: '{}' };
    expect((await exec.execute(flaky, ctx)).error?.code).toBe('ETOOL');
    expect((await exec.execute(flaky, ctx)).error?.code).toBe('ETOOL');
    expect((await exec.execute(flaky, ctx)).error?.code).toBe('ECIRCUIT');
    t += 1001;
    expect((await exec.execute(flaky, ctx)).error?.code).toBe('ETOOL'); // half-open probe runs, fails, reopens
    expect((await exec.execute(flaky, ctx)).error?.code).toBe('ECIRCUIT');
  });
});

describe('built-in tools', () => {
  const sysTable = () => {
    const calls: Array<[string, unknown]> = [];
    const table = {
      'mem.store': async (a: unknown) => (calls.push(['mem.store', a]), { id: 'm1' }),
      'mem.search': async (a: unknown) => (
        calls.push(['mem.search', a]), [{ id: 'm1', content: 'the sky is blue', score: 0.9 }]
      ),
      'mem.recall': async (a: unknown) => (calls.push(['mem.recall', a]), { content: 'page body' }),
      'proc.spawn': async (a: unknown) => (calls.push(['proc.spawn', a]), { pid: 12 }),
      'ipc.send': async (a: unknown) => (calls.push(['ipc.send', a]), { queued: true }),
      'ipc.recv': async (a: unknown) => (
        calls.push(['ipc.recv', a]), [{ id: 1, from: 12, topic: 't', body: { x: 1 } }]
      ),
      'proc.wait': async (a: unknown) => (
        calls.push(['proc.wait', a]),
        { pid: 12, name: 'kid', state: 'terminated', result: 'done', exitReason: null }
      ),
    };
    return { calls, table };
  };

  test('syscall tools call the kernel with the syscall shapes', async () => {
    const { exec } = setup();
    const { calls, table } = sysTable();
    const ctx = createToolContext({ pid: 5, workspace: ws, sandbox, sys: table });
    const run = async (name: string, args: unknown) =>
      (await exec.execute({ id: name, name, arguments: JSON.stringify(args) }, ctx)).output;
    expect(await run('memory_store', { content: 'the sky is blue', metadata: { src: 'obs' } })).toBe(
      'stored memory m1',
    );
    expect(await run('memory_search', { query: 'sky', k: 3 })).toBe('1. [m1] (score 0.900) the sky is blue');
    expect(await run('recall', { page_id: 'p7' })).toBe('page body');
    expect(await run('recall', {})).toMatch(/give page_id or query/);
    expect(await run('spawn_agent', { name: 'kid', task: 'count' })).toBe('spawned kid as pid 12');
    expect(await run('send_message', { to: 12, body: { hi: 1 } })).toBe('message queued for pid 12');
    expect(await run('receive_messages', { timeout_s: 1 })).toBe('from pid 12 [t]: {"x":1}');
    expect(await run('wait', { pid: 12, timeout_s: 2 })).toBe('pid 12 (kid) is terminated; result: "done"');
    expect(await run('final_answer', { answer: '42' })).toBe('42');
    expect(calls).toEqual([
      ['mem.store', { content: 'the sky is blue', metadata: { src: 'obs' } }],
      ['mem.search', { query: 'sky', k: 3 }],
      ['mem.recall', { pageId: 'p7' }],
      ['proc.spawn', { name: 'kid', task: 'count' }],
      ['ipc.send', { to: 12, body: { hi: 1 } }],
      ['ipc.recv', { timeoutMs: 1000 }],
      ['proc.wait', { pid: 12, timeoutMs: 2000 }],
    ]);
  });

  test('file tools: write, read ranges, edit, list; escapes refused', async () => {
    const { exec } = setup();
    const ctx = createToolContext({ pid: 5, workspace: ws, sandbox });
    const run = async (name: string, args: unknown) =>
      exec.execute({ id: name, name, arguments: JSON.stringify(args) }, ctx);
    expect(
      (await run('write_file', { path: 'src/a.txt', content: 'one\ntwo\nthree\n', create_dirs: true })).ok,
    ).toBe(true);
    expect((await run('read_file', { path: 'src/a.txt', offset: 2, limit: 1 })).output).toBe('two');
    expect((await run('edit_file', { path: 'src/a.txt', old_string: 'two', new_string: 'TWO' })).output).toBe(
      'replaced 1 occurrence(s) in src/a.txt',
    );
    expect(readFileSync(join(ws, 'src/a.txt'), 'utf8')).toBe('one\nTWO\nthree\n');
    expect((await run('edit_file', { path: 'src/a.txt', old_string: 'zzz', new_string: '' })).output).toMatch(
      /not found/,
    );
    mkdirSync(join(ws, 'd'));
    writeFileSync(join(ws, 'd', 'x'), '');
    expect((await run('list_dir', { path: '.', recursive: true })).output).toBe('d/\nd/x\nsrc/\nsrc/a.txt');
    expect((await run('read_file', { path: '../../etc/passwd' })).error?.code).toBe('EPERM');
    expect((await run('write_file', { path: '/tmp/aos-outside.txt', content: 'x' })).error?.code).toBe(
      'EPERM',
    );
  });

  test('search runs ripgrep; the pattern cannot become an option', async () => {
    const { exec } = setup();
    writeFileSync(join(ws, 'a.ts'), 'const x = 1;\n// TODO fix\n');
    writeFileSync(join(ws, 'b.md'), 'nothing here\n');
    const ctx = createToolContext({ pid: 5, workspace: ws, sandbox });
    const r = await exec.execute(
      { id: '1', name: 'search', arguments: JSON.stringify({ pattern: 'TODO' }) },
      ctx,
    );
    expect(r.output).toBe(`${join(ws, 'a.ts')}:2:// TODO fix`);
    const dash = await exec.execute(
      { id: '2', name: 'search', arguments: JSON.stringify({ pattern: '--files' }) },
      ctx,
    );
    expect(dash.output).toBe('no matches');
  });

  test('http_fetch refuses hosts outside the allowlist and private addresses', async () => {
    const { exec } = setup();
    const ctx = createToolContext({
      pid: 5,
      workspace: ws,
      sandbox,
      policy: new SecurityPolicy({ network_allow: ['example.com'] }),
    });
    const run = async (url: string) =>
      exec.execute({ id: url, name: 'http_fetch', arguments: JSON.stringify({ url }) }, ctx);
    expect((await run('http://127.0.0.1:5432/')).output).toMatch(
      /EPERM: network access to 127.0.0.1 is refused: loopback and private addresses/,
    );
    expect((await run('https://evil.example.org/')).output).toMatch(
      /EPERM: network access to evil.example.org is not allowed/,
    );
    expect((await run('file:///etc/passwd')).output).toMatch(/only http and https/);
  });

  test('http_fetch fetches from an allowed host and reports status and body', async () => {
    const { createServer } = await import('node:http');
    const srv = createServer((req, res) =>
      req.url === '/r'
        ? res.writeHead(302, { location: '/ok' }).end()
        : res.writeHead(200, { 'content-type': 'text/plain' }).end('hello'),
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    try {
      const { exec } = setup();
      const ctx = createToolContext({
        pid: 5,
        workspace: ws,
        sandbox,
        // ports are allowlisted too (default 80/443): a loopback test server is named with its port
        policy: new SecurityPolicy({ network_allow: [`127.0.0.1:${port}`] }),
      });
      const r = await exec.execute(
        { id: '1', name: 'http_fetch', arguments: JSON.stringify({ url: `http://127.0.0.1:${port}/r` }) },
        ctx,
      );
      expect(r.data).toMatchObject({ status: 200, body: 'hello', url: `http://127.0.0.1:${port}/ok` });
    } finally {
      srv.close();
    }
  });
});
