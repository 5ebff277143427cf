import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { SecurityPolicy } from '../../security/policy.js';
import { BubblewrapSandbox } from '../../security/sandbox/bubblewrap.js';
import { NoSandbox } from '../../security/sandbox/none.js';
import type { Sandbox } from '../../security/sandbox.js';
import { createToolContext } from '../context.js';
import { ToolExecutor } from '../executor.js';
import { ToolRegistry } from '../registry.js';
import { McpManager } from './manager.js';

const FS_SERVER = resolve('node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
let sandbox: Sandbox;
try {
  sandbox = new BubblewrapSandbox();
} catch {
  sandbox = new NoSandbox({ quiet: true });
}
const policy = new SecurityPolicy();
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers) await c();
});

describe('MCP client against the real @modelcontextprotocol/server-filesystem (stdio, sandboxed)', () => {
  const ws = realpathSync(mkdtempSync(join(tmpdir(), 'aos-mcp-')));
  writeFileSync(join(ws, 'hello.txt'), 'hello from the workspace\n');
  const registry = new ToolRegistry();
  const mgr = new McpManager(registry, { sandbox, workspace: ws, limits: policy.limits });
  closers.push(() => mgr.close());

  test('discovers tools and registers them namespaced', async () => {
    const st = await mgr.start([{ name: 'filesystem', command: 'node', args: [FS_SERVER, ws] }]);
    expect(st[0]).toMatchObject({
      name: 'filesystem',
      state: 'connected',
      transport: 'stdio',
      sandboxed: true,
    });
    expect(registry.names()).toEqual(
      expect.arrayContaining([
        'filesystem.read_text_file',
        'filesystem.write_file',
        'filesystem.list_directory',
      ]),
    );
    const spec = registry.specs(['filesystem.read_text_file'])[0];
    expect(spec?.name).toBe('filesystem__read_text_file');
    expect(spec?.parameters).toMatchObject({ type: 'object', properties: { path: { type: 'string' } } });
  }, 30_000);

  test("config.example.yaml's entry (npx @modelcontextprotocol/server-filesystem ./workspace) connects in the sandbox", async () => {
    const reg = new ToolRegistry();
    const data = mkdtempSync(join(tmpdir(), 'aos-mcp-npx-data-'));
    const m = new McpManager(reg, { sandbox, workspace: ws, limits: policy.limits, dataDir: data });
    closers.push(() => m.close());
    const st = await m.start([
      { name: 'filesystem', command: 'npx', args: ['@modelcontextprotocol/server-filesystem', ws] },
    ]);
    expect(st[0], JSON.stringify(st[0])).toMatchObject({ state: 'connected', sandboxed: true });
    expect(reg.names()).toContain('filesystem.list_directory');
  }, 30_000);

  test('calls tools through the executor; server-side errors come back as tool errors', async () => {
    const exec = new ToolExecutor({ registry, sandbox });
    const ctx = createToolContext({ pid: 1, workspace: ws, sandbox, policy });
    const r = await exec.execute(
      {
        id: '1',
        name: 'filesystem__read_text_file',
        arguments: JSON.stringify({ path: join(ws, 'hello.txt') }),
      },
      ctx,
    );
    expect(r).toMatchObject({ ok: true, output: 'hello from the workspace\n' });
    const w = await exec.execute(
      {
        id: '2',
        name: 'filesystem.write_file',
        arguments: JSON.stringify({ path: join(ws, 'out.txt'), content: 'written via MCP' }),
      },
      ctx,
    );
    expect(w.ok).toBe(true);
    expect(readFileSync(join(ws, 'out.txt'), 'utf8')).toBe('written via MCP');
    const denied = await exec.execute(
      { id: '3', name: 'filesystem.read_text_file', arguments: JSON.stringify({ path: '/etc/hostname' }) },
      ctx,
    );
    expect(denied.ok).toBe(false);
    expect(denied.output).toMatch(/Access denied|outside allowed directories/i);
    const bad = await exec.execute(
      { id: '4', name: 'filesystem.read_text_file', arguments: JSON.stringify({ nope: 1 }) },
      ctx,
    );
    expect(bad.error?.code).toBe('EINVAL');
    expect(bad.output).toMatch(/path/);
  }, 30_000);

  test('reconnects after the server process dies', async () => {
    const conn = mgr.get('filesystem');
    const pid = conn?.pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid as number, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    const text = await conn?.call('read_text_file', { path: join(ws, 'hello.txt') });
    expect(text).toBe('hello from the workspace\n');
    expect(conn?.reconnects).toBe(1);
    expect(conn?.pid).not.toBe(pid);
  }, 30_000);
});

describe('MCP client over streamable HTTP (SDK server in-process)', () => {
  test('discovers and calls; a timeout is reported as ETIMEDOUT', async () => {
    // The SDK's stateless pattern: a fresh server + transport per HTTP request.
    const makeServer = () => {
      const server = new McpServer({ name: 'calc', version: '1.0.0' });
      server.registerTool(
        'add',
        { description: 'add two numbers', inputSchema: { a: z.number(), b: z.number() } },
        async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
      );
      server.registerTool('slow', { description: 'never answers in time', inputSchema: {} }, async () => {
        await new Promise((r) => setTimeout(r, 2000));
        return { content: [{ type: 'text', text: 'late' }] };
      });
      return server;
    };
    const http = createServer(async (req, res) => {
      const server = makeServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => void transport.close().then(() => server.close()));
      await server.connect(transport);
      await transport.handleRequest(req, res);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    closers.push(async () => {
      http.closeAllConnections();
      http.close();
    });
    const port = (http.address() as { port: number }).port;
    const registry = new ToolRegistry();
    const ws = mkdtempSync(join(tmpdir(), 'aos-mcp-http-'));
    const mgr = new McpManager(registry, { sandbox, workspace: ws, limits: policy.limits });
    closers.push(() => mgr.close());
    const st = await mgr.start([{ name: 'calc', url: `http://127.0.0.1:${port}/mcp`, timeout_ms: 300 }]);
    expect(st[0]?.error ?? null).toBeNull();
    expect(st[0]).toMatchObject({ state: 'connected', transport: 'http', tools: ['calc.add', 'calc.slow'] });
    const exec = new ToolExecutor({ registry, sandbox });
    const ctx = createToolContext({ pid: 1, workspace: ws, sandbox, policy });
    expect(
      (await exec.execute({ id: '1', name: 'calc__add', arguments: '{"a":2,"b":40}' }, ctx)).output,
    ).toBe('42');
    expect((await exec.execute({ id: '2', name: 'calc__slow', arguments: '{}' }, ctx)).error?.code).toBe(
      'ETIMEDOUT',
    );
  }, 30_000);
});
