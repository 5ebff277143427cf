/**
 * Class 1 and 4 — the sandbox cannot change the host, and cannot reach the host's loopback services.
 * Attacks through the kernel (`io.tool_call` → shell) on real bubblewrap, with the kernel running as root
 * on this machine: change a host-wide sysctl, plant a setuid-root binary, reach PostgreSQL and the
 * kernel's own API on loopback even with network_allow ['*']. Each is blocked, audited, and the kernel's
 * /health answers throughout (its latency distribution is printed; `npm run bench security` measures it).
 * The last test attacks from a checkout under a 0700 directory, which bwrap (as root) can now bind.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bootRig, PROBE_TIMEOUT_MS, type Rig, shellData, whileProbing } from './harness.js';

const SYSCTL = '/proc/sys/kernel/printk_ratelimit_burst';

describe('red team: sandbox escape (bubblewrap, kernel as root)', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await bootRig({ sandbox: 'bubblewrap' });
  });
  afterAll(async () => {
    await rig?.close();
  });

  test('a sandboxed command cannot change a host-wide sysctl', async () => {
    const before = readFileSync(SYSCTL, 'utf8').trim();
    const { result, worstMs } = await whileProbing(rig, () =>
      rig.attack([
        {
          name: 'shell',
          args: {
            command: `echo ${Number(before) + 7} > ${SYSCTL}; echo core > /proc/sys/kernel/core_pattern; id -u`,
          },
        },
      ]),
    );
    const after = readFileSync(SYSCTL, 'utf8').trim();
    if (after !== before) {
      // restore what the old code let through before failing
      writeFileSync(SYSCTL, before);
    }
    expect(after).toBe(before);
    const d = shellData(result.out[0]!);
    expect(d.stderr).toMatch(/Read-only file system|Permission denied/);
    expect(d.stdout.trim()).not.toBe('0');
    const audit = await rig.audit(result.pid);
    expect(
      audit.some((e) => e.kind === 'io.tool_call' && (e.payload as { tool: string }).tool === 'shell'),
    ).toBe(true);
    expect(worstMs).toBeLessThan(PROBE_TIMEOUT_MS);
  });

  test('a setuid file made inside is not setuid-root on the host', async () => {
    const { out } = await rig.attack([
      { name: 'shell', args: { command: 'cp /usr/bin/id ./suid && chmod 4755 ./suid && ls -ln ./suid' } },
    ]);
    expect(out[0]!.ok).toBe(true);
    const st = statSync(join(rig.workspace, 'suid'));
    // Either the bit did not survive or the owner is not root: never both.
    expect(st.uid === 0 && (st.mode & 0o4000) !== 0).toBe(false);
    expect(st.uid).not.toBe(0);
  });

  test("loopback PostgreSQL and the kernel's API are unreachable, even with network_allow ['*']", async () => {
    const api = new URL(rig.server.url);
    const cmd = [
      // direct TCP: the sandbox has its own network namespace, so host loopback is not there
      `(exec 3<>/dev/tcp/127.0.0.1/5432 && echo PG-OPEN) 2>/dev/null || echo pg-closed`,
      `(exec 3<>/dev/tcp/127.0.0.1/${api.port} && echo API-OPEN) 2>/dev/null || echo api-closed`,
      // through the kernel's proxy: '*' means public addresses only
      `curl -s -o /dev/null -w 'proxy-pg:%{http_code}\\n' --max-time 5 http://127.0.0.1:5432/ || true`,
      `curl -s -o /dev/null -w 'proxy-api:%{http_code}\\n' --max-time 5 ${rig.server.url}/api/v1/health || true`,
      `curl -s -o /dev/null -w 'proxy-localhost:%{http_code}\\n' --max-time 5 http://localhost:5432/ || true`,
    ].join('; ');
    const { result, worstMs } = await whileProbing(rig, () =>
      rig.attack([{ name: 'shell', args: { command: cmd } }], { network_allow: ['*'] }),
    );
    const d = shellData(result.out[0]!);
    expect(d.stdout).not.toMatch(/PG-OPEN|API-OPEN/);
    expect(d.stdout).not.toMatch(/proxy-(pg|api|localhost):200/);
    expect(d.stdout).toMatch(/pg-closed/);
    expect(d.stdout).toMatch(/api-closed/);
    const audit = await rig.audit(result.pid);
    const refusals = audit.filter((e) => e.kind === 'net.refused');
    expect(refusals.length).toBeGreaterThanOrEqual(3);
    for (const r of refusals) expect((r.payload as { decision: string }).decision).toBe('deny');
    expect(worstMs).toBeLessThan(PROBE_TIMEOUT_MS);
  });
});

/** A dependency-free MCP stdio server (newline-delimited JSON-RPC): one tool that reports who runs it. */
const MCP_SERVER = `
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize')
    send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion,
      capabilities: { tools: {} }, serverInfo: { name: 'who', version: '1.0.0' } } });
  else if (m.method === 'tools/list')
    send({ jsonrpc: '2.0', id: m.id, result: { tools: [{ name: 'whoami', description: 'uid and a project file',
      inputSchema: { type: 'object', properties: {} }, annotations: { readOnlyHint: true } }] } });
  else if (m.method === 'tools/call')
    send({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text',
      text: 'uid=' + process.getuid() + ' ' + readFileSync(new URL('./data.txt', import.meta.url), 'utf8') }] } });
  else if (m.id !== undefined) send({ jsonrpc: '2.0', id: m.id, result: {} });
});
`;

describe('red team: a checkout under a 0700 directory (kernel as root)', () => {
  let rig: Rig;
  let priv: string;
  beforeAll(async () => {
    // Like a project in /root or a `mktemp -d`: root's 0700 directory above the workspace and the server.
    priv = realpathSync(mkdtempSync(join(tmpdir(), 'aos-red-0700-')));
    chmodSync(priv, 0o700);
    const ws = join(priv, 'proj', 'workspace');
    const server = join(priv, 'proj', 'mcp', 'server.mjs');
    mkdirSync(ws, { recursive: true });
    mkdirSync(dirname(server));
    writeFileSync(server, MCP_SERVER);
    writeFileSync(join(dirname(server), 'data.txt'), 'project-file-read');
    rig = await bootRig({
      sandbox: 'bubblewrap',
      workspace: ws,
      config: { mcp: { servers: [{ name: 'who', command: 'node', args: [server] }] } },
    });
  });
  afterAll(async () => {
    await rig?.close();
    if (priv) rmSync(priv, { recursive: true, force: true });
  });

  test('a sandboxed command and a sandboxed MCP server work there, as the sandbox uid', async () => {
    const { out } = await rig.attack([
      { name: 'shell', args: { command: 'echo made > out.txt && id -u && pwd' } },
      { name: 'who.whoami', args: {} },
    ]);
    const d = shellData(out[0]!);
    expect(d.exit_code, d.stderr).toBe(0);
    expect(d.stdout).toContain('64000');
    expect(readFileSync(join(rig.workspace, 'out.txt'), 'utf8')).toBe('made\n');
    expect(statSync(join(rig.workspace, 'out.txt')).uid).toBe(64_000);
    expect(out[1]?.ok, out[1]?.output).toBe(true);
    expect(out[1]?.output).toContain('uid=64000 project-file-read');
    // The kernel did not loosen the private directory to get there.
    expect(statSync(priv).mode & 0o777).toBe(0o700);
  });

  test('the attacks still fail from there: sysctl, setuid-root, loopback, the private directory itself', async () => {
    const before = readFileSync(SYSCTL, 'utf8').trim();
    const { out } = await rig.attack(
      [
        {
          name: 'shell',
          args: {
            command: [
              `echo ${Number(before) + 7} > ${SYSCTL}`,
              'cp /usr/bin/id ./suid2 && chmod 4755 ./suid2',
              `(exec 3<>/dev/tcp/127.0.0.1/5432 && echo PG-OPEN) 2>/dev/null || echo pg-closed`,
              `ls -A ${priv} | wc -l`,
              `touch ${priv}/planted 2>&1 || echo no-plant`,
            ].join('; '),
          },
        },
      ],
      { network_allow: ['*'] },
    );
    const after = readFileSync(SYSCTL, 'utf8').trim();
    if (after !== before) writeFileSync(SYSCTL, before);
    expect(after).toBe(before);
    const d = shellData(out[0]!);
    expect(d.stdout).toContain('pg-closed');
    expect(d.stdout).not.toContain('PG-OPEN');
    expect(existsSync(join(priv, 'planted'))).toBe(false);
    const st = statSync(join(rig.workspace, 'suid2'));
    expect(st.uid).not.toBe(0);
  });
});
