/**
 * Classes 1, 4, 5 and 11 against the `docker` sandbox on a real container engine: podman (rootful, runc,
 * cgroupfs; the container test's rig, ../e2e/fixtures/podman.ts), image = the Dockerfile's base (Debian
 * bookworm minbase + Node, made once and cached). The kernel runs as root, `security.sandbox: docker`,
 * `security.container.engine: podman`. Each attack is an agent's `shell` call through the kernel's
 * syscall gate: write outside the workspace, change a sysctl, leave a setuid-root file, reach a service on
 * the host through the bridge's gateway / host loopback / private addresses / the kernel's API (with
 * network_allow ['*']), read the kernel's secrets with the data dir among allowed_paths, and check the
 * container's identity (non-root, no capabilities, no_new_privs, read-only root) and limits (pids, memory,
 * wall clock — the container is removed, not left running). /health is probed throughout.
 * Then the conformance suite every sandbox runs, on the same engine and image. Skipped, with the reason,
 * only where podman, runc or debootstrap is missing or the kernel is not root.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ToolOutcome } from '../../src/kernel/syscalls.js';
import { DockerSandbox, LABEL } from '../../src/security/sandbox/docker.js';
import { sandboxConformance } from '../../src/security/sandbox/sandbox.case.js';
import { type Podman, podmanSandboxImage, podmanUnavailable } from '../e2e/fixtures/podman.js';
import { bootRig, PROBE_TIMEOUT_MS, type Rig, shellData, whileProbing } from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SYSCTL = '/proc/sys/kernel/printk_ratelimit_burst';
const KEY = `sk-redteam${randomBytes(12).toString('hex')}`;
const log = (s: string) => process.stderr.write(`[docker sandbox] ${s}\n`);
const skip = podmanUnavailable();
/** Set once the first describe has made (or found) the image. */
let image = '';

function listen(host: string, body: string): Promise<Server> {
  const srv = createServer((_req, res) => res.end(body));
  return new Promise((r) => srv.listen(0, host, () => r(srv)));
}
const portOf = (s: Server) => (s.address() as { port: number }).port;

/** Bash: prints `<label>-OPEN` when a TCP connection to host:port succeeds, `<label>-closed` otherwise. */
const probeTcp = (label: string, host: string, port: number) =>
  `(exec 3<>/dev/tcp/${host}/${port} && echo ${label}-OPEN) 2>/dev/null || echo ${label}-closed`;

/** Bash: the proxy's status line for CONNECT host:port (the image has no curl). */
const viaProxy = (label: string, target: string) =>
  `{ exec 4<>/dev/tcp/127.0.0.1/3128 && printf 'CONNECT ${target} HTTP/1.1\\r\\nHost: ${target}\\r\\n\\r\\n' >&4 && read -r l <&4 && echo "${label}:$l"; } 2>/dev/null || echo ${label}:no-proxy`;

describe.skipIf(skip !== null)(
  `red team: the docker sandbox on podman (kernel as root)${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let rig: Rig;
    let pm: Podman;
    let wide: Server; // a host service bound to every interface (PostgreSQL with listen_addresses '*')
    let loop: Server; // a host service on loopback only
    let outside: string;

    beforeAll(async () => {
      const t0 = Date.now();
      const img = await podmanSandboxImage(join(ROOT, 'Dockerfile'), log);
      pm = img.pm;
      log(`image ${img.image} ready in ${Math.round((Date.now() - t0) / 1000)} s (${pm.driver} storage)`);
      Object.assign(process.env, img.engineEnv);
      image = img.image;
      process.env.OPENAI_API_KEY = KEY;
      wide = await listen('0.0.0.0', 'WIDE-SERVICE');
      loop = await listen('127.0.0.1', 'LOOPBACK-SERVICE');
      outside = realpathSync(mkdtempSync(join(tmpdir(), 'aos-red-outside-')));
      writeFileSync(join(outside, 'keep.txt'), 'host file\n');
      chmodSync(outside, 0o755); // readable by the sandbox uid when it is bound; writable by root only
      rig = await bootRig({ sandbox: 'docker', container: { engine: 'podman', image: img.image } });
    }, 40 * 60_000);

    afterAll(async () => {
      await rig?.close();
      wide?.close();
      loop?.close();
      delete process.env.OPENAI_API_KEY;
      // the engine's configuration stays for the conformance suite below (this file runs in its own process)
      if (outside) rmSync(outside, { recursive: true, force: true });
    });

    const shell = async (command: string, policy?: Record<string, unknown>, label?: string) => {
      const { result, worstMs } = await whileProbing(
        rig,
        () => rig.attack([{ name: 'shell', args: { command } }], policy),
        label,
      );
      expect(worstMs).toBeLessThan(PROBE_TIMEOUT_MS);
      return {
        pid: result.pid,
        out: result.out[0] as ToolOutcome,
        d: shellData(result.out[0] as ToolOutcome),
      };
    };

    test('health and the boot say: docker, isolated', async () => {
      const h = (await (await fetch(`${rig.server.url}/api/v1/health`)).json()) as { sandbox: unknown };
      expect(h.sandbox).toEqual({ name: 'docker', isolated: true, warning: null });
    });

    test('the command is not root, has no capabilities, no_new_privs, a read-only root', async () => {
      const { d } = await shell(
        'id -u; grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; touch /planted 2>&1; touch /usr/planted 2>&1; echo ok > tmp-ok && cat tmp-ok',
        undefined,
        'identity',
      );
      expect(d.exit_code, d.stderr).toBe(0);
      const lines = d.stdout.split('\n');
      expect(lines[0]).toBe('64000');
      expect(d.stdout).toMatch(/CapEff:\s+0000000000000000/);
      expect(d.stdout).toMatch(/CapBnd:\s+0000000000000000/);
      expect(d.stdout).toMatch(/NoNewPrivs:\s+1/);
      expect(d.stdout).toMatch(/touch: cannot touch '\/planted': Read-only file system/);
      expect(d.stdout).toContain('ok');
    });

    test('nothing outside the workspace (and /tmp, its own) can be written', async () => {
      const { d } = await shell(
        [
          `echo x > ${outside}/planted 2>&1 || echo no-outside`,
          'echo x > /etc/planted 2>&1 || echo no-etc',
          'echo x > /root/planted 2>&1 || echo no-root',
          'echo x > /tmp/in-tmp && echo tmp-ok',
          `ls ${outside} 2>&1 | head -1`,
        ].join('; '),
        undefined,
        'writes',
      );
      expect(d.stdout).toContain('no-outside');
      expect(d.stdout).toContain('no-etc');
      expect(d.stdout).toContain('no-root');
      expect(d.stdout).toContain('tmp-ok');
      expect(existsSync(join(outside, 'planted'))).toBe(false);
      expect(existsSync('/etc/planted')).toBe(false);
      expect(existsSync('/root/planted')).toBe(false);
      expect(existsSync('/tmp/in-tmp')).toBe(false); // the container's /tmp is its own tmpfs
      // a host directory among allowed_paths is there read-only
      const ro = await shell(`cat ${outside}/keep.txt; echo x > ${outside}/planted2 2>&1 || echo ro`, {
        allowed_paths: [outside],
      });
      expect(ro.d.stdout).toContain('host file');
      expect(ro.d.stdout).toContain('ro');
      expect(existsSync(join(outside, 'planted2'))).toBe(false);
    });

    test('a host-wide sysctl cannot be changed', async () => {
      const before = readFileSync(SYSCTL, 'utf8').trim();
      const { pid, d } = await shell(
        `echo ${Number(before) + 7} > ${SYSCTL}; echo core > /proc/sys/kernel/core_pattern; id -u`,
        undefined,
        'sysctl',
      );
      const after = readFileSync(SYSCTL, 'utf8').trim();
      if (after !== before) writeFileSync(SYSCTL, before);
      expect(after).toBe(before);
      expect(d.stderr).toMatch(/Read-only file system|Permission denied/);
      const audit = await rig.audit(pid);
      expect(audit.some((e) => e.kind === 'io.tool_call')).toBe(true);
    });

    test('a setuid file made inside is not setuid-root on the host', async () => {
      const { out } = await shell(
        'cp /usr/bin/id ./suid && chmod 4755 ./suid; ls -ln ./suid',
        undefined,
        'setuid',
      );
      expect(out.ok, out.output).toBe(true);
      const st = statSync(join(rig.workspace, 'suid'));
      expect(st.uid === 0 && (st.mode & 0o4000) !== 0).toBe(false);
      expect(st.uid).toBe(64_000);
    });

    test("with network_allow ['*'] no host service is reachable: gateway, loopback, private ranges, the kernel's API", async () => {
      const api = new URL(rig.server.url);
      const w = portOf(wide);
      const cmd = [
        // the default route's gateway (a bridge's is the host): a service on 0.0.0.0 answers there
        `gw=$(awk '$2=="00000000"{printf "%d.%d.%d.%d", "0x" substr($3,7,2), "0x" substr($3,5,2), "0x" substr($3,3,2), "0x" substr($3,1,2)}' /proc/net/route 2>/dev/null); echo "gw=$gw"`,
        `[ -n "$gw" ] && ${probeTcp('GW', '$gw', w)}`,
        probeTcp('HOSTIP', '10.88.0.1', w),
        probeTcp('PG', '127.0.0.1', 5432),
        probeTcp('API', '127.0.0.1', Number(api.port)),
        `ns=$(awk '/^nameserver/{print $2; exit}' /etc/resolv.conf); [ -n "$ns" ] && ${probeTcp('DNS', '$ns', 53)}`,
        'cat /proc/net/route | wc -l',
        viaProxy('proxy-pg', '127.0.0.1:5432'),
        viaProxy('proxy-api', `127.0.0.1:${api.port}`),
        viaProxy('proxy-localhost', 'localhost:5432'),
        viaProxy('proxy-private', `10.88.0.1:${w}`),
      ].join('; ');
      const { pid, d } = await shell(cmd, { network_allow: ['*'] }, "network '*'");
      for (const open of ['GW-OPEN', 'HOSTIP-OPEN', 'PG-OPEN', 'API-OPEN', 'DNS-OPEN'])
        expect(d.stdout, d.stdout).not.toContain(open);
      expect(d.stdout).toContain('PG-closed');
      // no interface but loopback: /proc/net/route has its header only
      expect(d.stdout).toMatch(/^1$/m);
      // the kernel's proxy is the only way out, and it refuses loopback and private addresses
      for (const p of ['proxy-pg', 'proxy-api', 'proxy-localhost', 'proxy-private'])
        expect(d.stdout).toMatch(new RegExp(`${p}:HTTP/1.1 403`));
      const refusals = (await rig.audit(pid)).filter((e) => e.kind === 'net.refused');
      expect(refusals.length).toBeGreaterThanOrEqual(4);
      for (const r of refusals) expect((r.payload as { decision: string }).decision).toBe('deny');
    });

    test('an address named literally in network_allow is reachable, through the proxy only', async () => {
      const l = portOf(loop);
      const { d } = await shell(
        `${probeTcp('DIRECT', '127.0.0.1', l)}; exec 4<>/dev/tcp/127.0.0.1/3128 && printf 'GET http://127.0.0.1:${l}/ HTTP/1.1\\r\\nHost: 127.0.0.1:${l}\\r\\nConnection: close\\r\\n\\r\\n' >&4 && cat <&4`,
        { network_allow: [`127.0.0.1:${l}`] },
        'allowlisted',
      );
      expect(d.stdout).toContain('DIRECT-closed');
      expect(d.stdout).toContain('LOOPBACK-SERVICE');
    });

    test("the kernel's secrets stay hidden with the data dir among allowed_paths, and no provider key", async () => {
      const token = readFileSync(join(rig.dataDir, 'admin.token'), 'utf8').trim();
      const { d } = await shell(
        `ls -A ${rig.dataDir} | wc -l; cat ${rig.dataDir}/admin.token 2>&1; env; tr '\\0' '\\n' < /proc/1/environ`,
        { permission_level: 'admin', allowed_paths: [rig.dataDir], ask_tools: [] },
        'secrets',
      );
      expect(d.stdout.split('\n')[0]?.trim(), JSON.stringify(d).slice(0, 600)).toBe('0');
      expect(d.stdout).not.toContain(token);
      expect(d.stdout).not.toContain(KEY);
      expect(d.stdout).not.toMatch(/CONTAINERS_CONF/);
      // a denied path in a bound tree, and one named itself: /etc/ssh is world-readable on the host
      const etc = await shell('ls -A /etc/ssh | wc -l', {
        permission_level: 'admin',
        allowed_paths: ['/etc'],
        ask_tools: [],
      });
      expect(etc.d.stdout.split('\n')[0]?.trim(), etc.d.stdout + etc.d.stderr).toBe('0');
    });

    test('an allowed path that is itself a denied one (~/.ssh-like /etc/ssh) is empty inside', async () => {
      const { d } = await shell('ls -A /etc/ssh | wc -l', {
        permission_level: 'admin',
        allowed_paths: ['/etc/ssh'],
        ask_tools: [],
      });
      expect(d.stdout.trim(), d.stderr).toBe('0');
    });

    test('limits: processes, memory, and the wall clock removes the container', async () => {
      const pids = await shell(
        'for i in $(seq 40); do sleep 5 >/dev/null 2>&1 & done; echo forks-done',
        { max_processes: 16 },
        'pids',
      );
      expect(pids.d.stdout + pids.d.stderr).toMatch(/fork: (retry: )?Resource temporarily unavailable/);
      const mem = await shell(
        `node -e 'const a=[]; for(;;) a.push(Buffer.alloc(16<<20, 1))'`,
        { max_memory_mb: 96 },
        'memory',
      );
      expect(mem.out.ok).toBe(false);
      expect(mem.out.error?.code, mem.out.output).toBe('EQUOTA');
      const t0 = Date.now();
      const wall = await shell('sleep 300', { max_wall_seconds: 3 }, 'wall clock');
      expect(wall.out.error?.code, wall.out.output).toBe('ETIMEDOUT');
      expect(Date.now() - t0).toBeLessThan(120_000);
      const left = (
        await pm.run(['ps', '-a', '--filter', 'label=io.agent-os-kernel.sandbox=1', '--format', '{{.Names}}'])
      ).trim();
      expect(left.split('\n').filter((n) => n.includes(`aos-sandbox-${process.pid}-`))).toEqual([]);
      // nothing of the killed command is still running on the host
      expect(() => execFileSync('pgrep', ['-u', '64000', '-f', 'sleep 300'])).toThrow();
    });
  },
);

// A kernel that dies (SIGKILL, OOM) while a sandboxed command runs: its container must not run on.
describe.skipIf(skip !== null)(
  `docker sandbox: containers of a dead kernel${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let pm: Podman;
    beforeAll(async () => {
      const img = await podmanSandboxImage(join(ROOT, 'Dockerfile'), log);
      pm = img.pm;
      Object.assign(process.env, img.engineEnv);
      image = img.image;
    }, 40 * 60_000);

    const running = async (pid: number) =>
      (await pm.run(['ps', '--filter', `label=${LABEL}=1`, '--format', '{{.Names}}']))
        .split('\n')
        .filter((n) => n.startsWith(`aos-sandbox-${pid}-`));

    /** A kernel-like process that runs `sleep 300` in the sandbox (wall limit `wall` s), SIGKILLed once its container runs. */
    async function killedKernelWithContainer(wall: number): Promise<number> {
      const mod = join(ROOT, 'dist/security/sandbox/docker.js');
      const script = `const { DockerSandbox } = await import(${JSON.stringify(mod)});
        const s = new DockerSandbox({ engine: 'podman', image: ${JSON.stringify(image)} });
        process.stdout.write('ready\\n');
        await s.exec({ command: 'sleep', args: ['300'], cwd: '/tmp',
          limits: { memoryMb: 64, cpuSeconds: 10, processes: 8, fileSizeMb: 1, wallSeconds: ${wall} } });`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: process.env,
      });
      try {
        // Past the constructor: its probe container (same name prefix) has come and gone.
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
          child.once('exit', (code) =>
            reject(new Error(`the kernel-like child exited ${code} before its command ran`)),
          );
        });
        for (let i = 0; i < 600 && (await running(child.pid!)).length === 0; i++)
          await new Promise((r) => setTimeout(r, 200));
        expect(await running(child.pid!)).toHaveLength(1);
      } finally {
        child.kill('SIGKILL');
      }
      await new Promise((r) => child.once('exit', r));
      return child.pid!;
    }

    test('the next kernel to boot removes them; a live kernel keeps its own', async () => {
      // What a dead kernel leaves (its client killed before it could remove the container), made directly:
      // killing the kernel leaves it only sometimes (podman proxies the client's signal to the command).
      const gone = spawn('true');
      await new Promise((r) => gone.once('exit', r));
      const leftover = (pid: number) => [
        'run',
        '-d',
        '--name',
        `aos-sandbox-${pid}-1-${randomBytes(3).toString('hex')}`,
        '--label',
        `${LABEL}=1`,
        '--label',
        `io.agent-os-kernel.host=${hostname()}`,
        image,
        'sleep',
        '300',
      ];
      await pm.run(leftover(gone.pid!));
      await pm.run(leftover(process.pid)); // this (live) process's own
      try {
        expect(await running(gone.pid!)).toHaveLength(1);
        const booted = new DockerSandbox({ engine: 'podman', image }); // boot reaps what dead kernels left
        expect(await running(gone.pid!)).toEqual([]);
        expect(await running(process.pid)).toHaveLength(1);
        expect(booted.reapOrphans()).toEqual([]);
      } finally {
        await pm.run([
          'rm',
          '-f',
          '--time',
          '0',
          ...(await running(process.pid)),
          ...(await running(gone.pid!)),
        ]);
      }
    }, 300_000);

    test('a leftover is removed even when another one listed with it is already gone', async () => {
      // The reaper lists, then removes; a container whose own --timeout fires in between is gone by then.
      // podman 4.3's `rm -f A GONE` removes neither and exits 0: A outlived the reaper (found in CI).
      const gone = spawn('true');
      await new Promise((r) => gone.once('exit', r));
      const name = `aos-sandbox-${gone.pid}-1-${randomBytes(3).toString('hex')}`;
      await pm.run(['create', '--name', name, '--label', `${LABEL}=1`, image, 'sleep', '300']);
      try {
        const s = new DockerSandbox({ engine: 'podman', image });
        s.removeContainers([`aos-sandbox-${gone.pid}-9-gone`, name]);
        expect(
          (await pm.run(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Names}}'])).trim(),
        ).toBe('');
      } finally {
        await pm.run(['rm', '-f', '-i', name]);
      }
    }, 300_000);

    test('on podman the container dies at its wall limit even if no kernel boots again', async () => {
      // A wall limit long enough that the (slow, loaded) engine shows the container before the kernel's own
      // wall-clock kill would remove it: with 3 s, a CI run never saw it running.
      const dead = await killedKernelWithContainer(20);
      // --timeout = wall limit + SANDBOX_CONTAINER_TIMEOUT_GRACE_S: gone without anyone removing it (the
      // code before left it running for its whole `sleep 300`, past this loop's 150 s)
      for (let i = 0; i < 300 && (await running(dead)).length > 0; i++)
        await new Promise((r) => setTimeout(r, 500));
      expect(await running(dead)).toEqual([]);
    }, 300_000);
  },
);

// The conformance suite every sandbox runs (src/security/sandbox/sandbox.case.ts), on the same engine and image.
sandboxConformance(
  'docker on podman',
  () => new DockerSandbox({ engine: 'podman', image }),
  skip ?? undefined,
);
