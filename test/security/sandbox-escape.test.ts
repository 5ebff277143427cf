/**
 * Class 1 and 4 — the sandbox cannot change the host, and cannot reach the host's loopback services.
 * Attacks through the kernel (`io.tool_call` → shell) on real bubblewrap, with the kernel running as root
 * on this machine: change a host-wide sysctl, plant a setuid-root binary, reach PostgreSQL and the
 * kernel's own API on loopback even with network_allow ['*']. Each is blocked, audited, and the kernel's
 * /health answers within 1 s throughout.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bootRig, type Rig, shellData, whileProbing } from './harness.js';

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
    expect(worstMs).toBeLessThan(1000);
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
    expect(worstMs).toBeLessThan(1000);
  });
});
