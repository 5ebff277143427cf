/**
 * Plugins at run time, through the user's path: a real server on loopback, requests with fetch, the built
 * CLI as a child process. An admin loads a plugin file into the running kernel; its hook takes effect at
 * once (a spawn it vetoes is refused); removing it unregisters the hook although the plugin returned no
 * teardown (the spawn goes through again); both acts are audited with the caller; an operator cannot load
 * code into the kernel; bad modules get errors that name the fix.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';

const run = promisify(execFile);
let kernel: Kernel;
let server: ApiServer;
let dir: string;
let admin: string;

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
async function api(
  method: string,
  path: string,
  body?: unknown,
  token = admin,
): Promise<{ status: number; body: any }> {
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

const PLUGIN = `
export default {
  name: 'name-guard',
  setup(kernel, options) {
    kernel.hooks.on('proc.spawn.before', (e) => {
      if (e.name === options.deny) return { veto: 'that name is not allowed here' };
    });
    kernel.hooks.on('proc.exit', () => {});
  },
};
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aos-plugins-'));
  // in the agents' workspace on purpose: once loaded, no agent may edit it
  mkdirSync(join(dir, 'ws'), { recursive: true });
  writeFileSync(join(dir, 'ws', 'guard.mjs'), PLUGIN);
  writeFileSync(join(dir, 'broken.mjs'), 'export default { setup() {} };');
  kernel = await createKernel({
    config: {
      data_dir: join(dir, 'data'),
      storage: { url: 'memory://' },
      security: { sandbox: 'none', workspace: join(dir, 'ws') },
      server: { demo_agents: false },
    },
    recover: false,
  });
  server = await createServer(kernel, { host: '127.0.0.1', port: 0, dashboardDir: null });
  admin = readFileSync(server.adminTokenFile, 'utf8').trim();
}, 60_000);

afterAll(async () => {
  await server?.close();
  await kernel?.shutdown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('plugins at run time', () => {
  it('an admin loads a plugin, its hook acts at once, and removing it takes the hook away', async () => {
    expect((await api('GET', '/plugins')).body.items).toEqual([]);
    const added = await api('POST', '/plugins', {
      module: join(dir, 'ws', 'guard.mjs'),
      options: { deny: 'evil' },
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ name: 'name-guard', source: 'runtime', hooks: 2 });

    const refused = await api('POST', '/processes', { name: 'evil', task: 'What is 1 + 1?' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('that name is not allowed here');
    const fine = await api('POST', '/processes', { name: 'kind', task: 'What is 1 + 1?' });
    expect(fine.status).toBe(201);
    // the plugin's file is out of agents' reach now, like config's plugins: no agent can plant code in it
    const edit = await api('POST', '/tools/write_file/call', {
      arguments: { path: join(dir, 'ws', 'guard.mjs'), content: 'export default {}' },
    });
    expect(edit.body.ok).toBe(false);
    expect(readFileSync(join(dir, 'ws', 'guard.mjs'), 'utf8')).toBe(PLUGIN);

    const again = await api('POST', '/plugins', { module: join(dir, 'ws', 'guard.mjs') });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain("a plugin named 'name-guard' is already loaded");

    const removed = await api('DELETE', '/plugins/name-guard');
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ name: 'name-guard', hooks: 2 });
    expect((await api('GET', '/plugins')).body.items).toEqual([]);
    // the plugin returned no teardown, yet its hook is gone: the name passes now
    const after = await api('POST', '/processes', { name: 'evil', task: 'What is 1 + 1?' });
    expect(after.status).toBe(201);

    const audit = await api('GET', '/audit?stream=kernel&limit=1000');
    const kinds = audit.body.items.map((e: { kind: string; actor: string; payload: { name: string } }) => [
      e.kind,
      e.actor.split(' ')[0],
      e.payload.name,
    ]);
    expect(kinds).toContainEqual(['plugin.add', 'api:admin', 'name-guard']);
    expect(kinds).toContainEqual(['plugin.remove', 'api:admin', 'name-guard']);
  });

  it('an operator cannot load code into the kernel; bad modules get errors that name the fix', async () => {
    const op = await api('POST', '/tokens', { name: 'op', role: 'operator' });
    expect(op.status).toBe(201);
    const denied = await api('POST', '/plugins', { module: join(dir, 'ws', 'guard.mjs') }, op.body.token);
    expect(denied.status).toBe(403);
    expect((await api('GET', '/plugins')).body.items).toEqual([]);

    const missing = await api('POST', '/plugins', { module: join(dir, 'nope.mjs') });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toContain('could not be loaded');
    const broken = await api('POST', '/plugins', { module: join(dir, 'broken.mjs') });
    expect(broken.status).toBe(400);
    expect(broken.body.error.message).toContain('must export { name: string, setup(kernel) }');
    const unknown = await api('DELETE', '/plugins/ghost');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain("no plugin named 'ghost' is loaded");
  });

  it('aos plugins add / list / remove work against the running server', async () => {
    const cli = resolve('dist/cli/main.js');
    const env = { ...process.env, AOS_URL: server.url, AOS_TOKEN: admin, NO_COLOR: '1' };
    const add = await run(process.execPath, [cli, 'plugins', 'add', 'guard.mjs', '-o', 'deny=bad'], {
      cwd: join(dir, 'ws'),
      env,
    });
    expect(add.stdout).toContain('loaded name-guard');
    const list = await run(process.execPath, [cli, 'plugins', '--json'], { cwd: dir, env });
    expect(JSON.parse(list.stdout).items).toEqual([
      expect.objectContaining({
        name: 'name-guard',
        module: join(dir, 'ws', 'guard.mjs'),
        source: 'runtime',
      }),
    ]);
    const refused = await api('POST', '/processes', { name: 'bad', task: 'hi' });
    expect(refused.status).toBe(403);
    const rm = await run(process.execPath, [cli, 'plugins', 'remove', 'name-guard'], { cwd: dir, env });
    expect(rm.stdout).toContain('removed name-guard');
    expect(kernel.plugins.list()).toEqual([]);
  });
});
