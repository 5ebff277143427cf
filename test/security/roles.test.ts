/**
 * Class 12 — an operator token cannot become admin. Through the HTTP API with one token per role: the
 * attack that worked (spawn with permission_level admin, allowed_paths ['/'], ask_tools [], then call
 * read_file on the admin token under that process) is refused at each step, and audited; what each role
 * may do still works.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bootRig, type Rig } from './harness.js';

let rig: Rig;
const tok = { admin: '', operator: '', viewer: '' };

async function api(method: string, url: string, token: string, body?: unknown) {
  const r = await rig.server.app.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { payload: JSON.stringify(body) } : {}),
  });
  return { status: r.statusCode, body: r.json() as Record<string, unknown> };
}

beforeAll(async () => {
  rig = await bootRig({ defaultPolicy: { permission_level: 'standard', ask_tools: ['shell'] } });
  for (const role of ['admin', 'operator', 'viewer'] as const)
    tok[role] = (await rig.server.tokens.create({ name: role, role })).token;
});
afterAll(async () => {
  await rig?.close();
});

const wide = { permission_level: 'admin', allowed_paths: ['/'], ask_tools: [] };

describe('red team: roles (operator → admin)', () => {
  test('operator: cannot spawn with a wider policy; every widening is named', async () => {
    const r = await api('POST', '/api/v1/processes', tok.operator, {
      name: 'escalate',
      task: 'x',
      program: 'attacker',
      args: { calls: [] },
      policy: wide,
    });
    expect(r.status).toBe(403);
    const msg = String((r.body.error as { message: string }).message);
    expect(msg).toMatch(/permission_level "admin"/);
    expect(msg).toMatch(/allowed_paths adds \//);
    // ask_tools: [] cannot drop an approval: requested ask_tools are added to the configured ones.
    const t = await api('POST', '/api/v1/processes', tok.operator, {
      name: 'noask',
      task: 'x',
      program: 'attacker',
      args: { calls: [] },
      policy: { ask_tools: [] },
    });
    expect(t.status).toBe(201);
    expect(
      rig.kernel.tools.policyFor(
        rig.kernel.procs.get(t.body.pid as number)?.pcb ?? ({ pid: t.body.pid, policy: {} } as never),
      ).askTools,
    ).toContain('shell');
    for (const p of [
      { network_allow: ['127.0.0.1:5432'] },
      { max_memory_mb: 100_000 },
      { allowed_paths: ['/etc'] },
    ]) {
      const x = await api('POST', '/api/v1/processes', tok.operator, { name: 'w', task: 'x', policy: p });
      expect(x.status, JSON.stringify(p)).toBe(403);
    }
  });

  test('operator: may spawn with a tighter policy', async () => {
    const r = await api('POST', '/api/v1/processes', tok.operator, {
      name: 'tight',
      task: 'x',
      program: 'attacker',
      args: { calls: [{ name: 'calculator', args: { expression: '1+1' } }] },
      policy: { permission_level: 'readonly', max_memory_mb: 64 },
    });
    expect(r.status).toBe(201);
    const st = await rig.kernel.wait(r.body.pid as number);
    expect(st.exitReason).toBeNull();
  });

  test("operator: cannot call tools under an admin-spawned process's wider policy", async () => {
    const a = await api('POST', '/api/v1/processes', tok.admin, {
      name: 'admins',
      task: 'x',
      program: 'attacker',
      args: { calls: [{ name: 'shell', args: { command: 'sleep 20' } }] },
      policy: wide,
    });
    expect(a.status).toBe(201);
    const pid = a.body.pid as number;
    const tokenFile = join(rig.dataDir, 'admin.token');
    const r = await api('POST', '/api/v1/tools/read_file/call', tok.operator, {
      pid,
      arguments: { path: tokenFile },
    });
    expect(r.status).toBe(403);
    expect(JSON.stringify(r.body)).not.toContain(tok.admin);
    // Without a pid the operator runs under the default policy, which cannot read the data dir.
    const d = await api('POST', '/api/v1/tools/read_file/call', tok.operator, {
      arguments: { path: tokenFile },
    });
    expect(d.body.ok).toBe(false);
    expect(JSON.stringify(d.body)).toMatch(/EPERM/);
    await rig.kernel.kill(pid).catch(() => {});
  });

  test('viewer: cannot spawn or call tools; can read', async () => {
    expect((await api('POST', '/api/v1/processes', tok.viewer, { name: 'v', task: 'x' })).status).toBe(403);
    expect(
      (await api('POST', '/api/v1/tools/calculator/call', tok.viewer, { arguments: { expression: '1' } }))
        .status,
    ).toBe(403);
    expect((await api('GET', '/api/v1/processes', tok.viewer)).status).toBe(200);
  });

  test('admin: may spawn wider (the one role allowed to)', async () => {
    const r = await api('POST', '/api/v1/processes', tok.admin, {
      name: 'wide',
      task: 'x',
      program: 'attacker',
      args: { calls: [{ name: 'calculator', args: { expression: '2*3' } }] },
      policy: { permission_level: 'elevated' },
    });
    expect(r.status).toBe(201);
    await rig.kernel.wait(r.body.pid as number);
  });
});
