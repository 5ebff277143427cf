/**
 * An MCP server added from the dashboard (POST /mcp/servers) is still there after a restart: the kernel
 * saves it to the config file it started from, keeping the user's comments, and a removal takes it out
 * again. Driven through the real server on loopback, the real filesystem MCP server, two kernel boots.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { parseConfigText } from '../../src/config/load.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';

const dir = mkdtempSync(join(tmpdir(), 'aos-mcp-config-'));
const file = join(dir, 'config.yaml');
const ws = join(dir, 'ws');
const fsServer = resolve('node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const CONFIG = `# my kernel
data_dir: ${JSON.stringify(join(dir, 'data'))}
storage:
  url: memory://   # throwaway
security:
  sandbox: none
  workspace: ${JSON.stringify(ws)}
server:
  demo_agents: false
mcp:
  # servers I run
  servers: []
`;

let open: { kernel: Kernel; server: ApiServer } | null = null;

async function boot(): Promise<{ kernel: Kernel; server: ApiServer; token: string }> {
  const kernel = await createKernel({ configPath: file, recover: false });
  const server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
  open = { kernel, server };
  return { kernel, server, token: readFileSync(server.adminTokenFile, 'utf8').trim() };
}

async function stop(): Promise<void> {
  await open?.server.close();
  await open?.kernel.shutdown();
  open = null;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
async function api(
  b: { server: ApiServer; token: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${b.server.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${b.token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

afterAll(async () => {
  await stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('MCP servers added at run time are saved to the config file', () => {
  it('survive a restart, keep the comments, and a removal takes them out for good', async () => {
    mkdirSync(ws, { recursive: true });
    writeFileSync(ws + '/note.txt', 'hello from the workspace');
    writeFileSync(file, CONFIG, { mode: 0o600 });

    const first = await boot();
    const added = await api(first, 'POST', '/mcp/servers', {
      name: 'fs',
      command: process.execPath,
      args: [fsServer, ws],
      env: { FS_MODE: 'test' },
      sandbox: false,
    });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body).toMatchObject({ name: 'fs', state: 'connected', saved_to: file });
    const saved = readFileSync(file, 'utf8');
    for (const kept of ['# my kernel', 'url: memory://   # throwaway', '# servers I run'])
      expect(saved).toContain(kept);
    expect(parseConfigText(saved, file).config.mcp.servers).toEqual([
      expect.objectContaining({
        name: 'fs',
        command: process.execPath,
        args: [fsServer, ws],
        env: { FS_MODE: 'test' },
        sandbox: false,
      }),
    ]);
    await stop();

    // the next start connects it from the file, and its tool works
    const second = await boot();
    const listed = await api(second, 'GET', '/mcp/servers');
    expect(listed.body.items).toEqual([expect.objectContaining({ name: 'fs', state: 'connected' })]);
    const tools = await api(second, 'GET', '/tools');
    expect(tools.body.items.map((t: { name: string }) => t.name)).toContain('fs.read_text_file');

    const removed = await api(second, 'DELETE', '/mcp/servers/fs');
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(removed.body).toMatchObject({ items: [], saved_to: file });
    const after = readFileSync(file, 'utf8');
    expect(parseConfigText(after, file).config.mcp.servers).toEqual([]);
    expect(after).toBe(CONFIG); // every byte as the user wrote it
    await stop();

    const third = await boot();
    expect((await api(third, 'GET', '/mcp/servers')).body.items).toEqual([]);
  });
});
