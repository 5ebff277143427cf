/**
 * The Dockerfile, built and run: podman builds the image from a locally made base image tagged as the
 * Dockerfile's FROM (no registry is reachable; ./fixtures/podman.ts), starts it as a user would (non-root,
 * `--security-opt unmask=/proc/*` so bubblewrap can mount /proc, the sandbox required), and drives it from
 * the host: an agent spawned over the HTTP API runs a shell command that must answer from inside a
 * bubblewrap sandbox inside the container; `aos run` inside the container hands its agent to the running
 * kernel and prints the answer; the container is killed with SIGKILL and started again — a new pid
 * namespace finds the dead kernel's lock (pid 1, another namespace), recovers it, and the earlier
 * process's result is still there.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerfileBase, type Podman, podmanUnavailable, podmanWithBase } from './fixtures/podman.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const IMAGE = 'localhost/agent-os-kernel:ci-test';
const NAME = `aos-ci-${process.pid}`;
const log = (s: string) => process.stderr.write(`[container test] ${s}\n`);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} not reached in ${ms} ms${last ? `: ${String(last)}` : ''}`);
}

const skip = podmanUnavailable();

describe.skipIf(skip !== null)(`the container image${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let pm: Podman;
  let port: number;
  let url: string;
  let token: string;

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  const healthy = () =>
    until('the kernel in the container answering /health', 180_000, async () => {
      const r = await fetch(`${url}/api/v1/health`);
      return r.ok ? true : undefined;
    });

  const exited = (pid: number) =>
    until(`process ${pid} exiting`, 120_000, async () => {
      const p = await api('GET', `/processes/${pid}`);
      return p.state === 'terminated' || p.state === 'zombie' ? p : undefined;
    });

  beforeAll(async () => {
    const t0 = Date.now();
    pm = await podmanWithBase(dockerfileBase(join(ROOT, 'Dockerfile')), log);
    const t1 = Date.now();
    await pm.run(['build', '--network', 'host', '--pull=never', '--format', 'docker', '-t', IMAGE, ROOT], {
      timeoutMs: 25 * 60_000,
    });
    log(
      `base ready in ${Math.round((t1 - t0) / 1000)} s, image built in ${Math.round((Date.now() - t1) / 1000)} s (${pm.driver} storage)`,
    );
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // host networking, loopback only; the sandbox is required (no silent fallback to none)
    await pm.run([
      'run',
      '-d',
      '--name',
      NAME,
      '--network',
      'host',
      '--security-opt',
      'unmask=/proc/*',
      '-e',
      'AOS_SANDBOX=bubblewrap',
      IMAGE,
      'start',
      '--no-demo',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ]);
    await healthy();
    token = (await pm.run(['exec', NAME, 'cat', '/var/lib/aos/kernel/admin.token'])).trim();
  }, 40 * 60_000);

  afterAll(async () => {
    if (!pm) return;
    const logs = await pm.run(['logs', NAME], { both: true }).catch(() => '');
    if (logs) log(`kernel log (tail):\n${logs.split('\n').slice(-15).join('\n')}`);
    // One name per `rm`: podman 4.3's `rm -f A B` with B absent (the -nosb container exists only if its test
    // ran) removes neither and exits 0 — the kernel container outlived every run. Then nothing may be left.
    for (const n of [NAME, `${NAME}-nosb`]) await pm.run(['rm', '-f', '-i', '-v', n]);
    expect((await pm.run(['ps', '-a', '--filter', `name=^${NAME}`, '--format', '{{.Names}}'])).trim()).toBe(
      '',
    );
    // the cache keeps the base image and the newest build; older builds' layers go
    await pm.run(['image', 'prune', '-f']).catch(() => undefined);
  });

  it('runs as the unprivileged user aos, not root', async () => {
    const ps = await pm.run(['exec', NAME, 'sh', '-c', 'id -u; id -un']);
    expect(ps.trim().split('\n')).toEqual(['10001', 'aos']);
  });

  let sandboxedPid = 0;
  it('an agent spawned over the API runs its shell command in a bubblewrap sandbox inside the container', async () => {
    const { pid } = (await api('POST', '/processes', {
      name: 'in-container',
      task: 'Run `cat /proc/1/comm` and tell me what it prints.',
      policy: { ask_tools: [] },
    })) as { pid: number };
    sandboxedPid = pid;
    const p = await exited(pid);
    expect(p.exitReason ?? null, JSON.stringify(p)).toBeNull();
    // In the sandbox's own PID namespace, PID 1 is bwrap; in the container's, it is tini. (Not the
    // hostname: podman's default seccomp profile refuses sethostname, so the sandbox keeps the container's.)
    expect(String(p.result)).toContain('bwrap');
    const h = (await (await fetch(`${url}/api/v1/health`)).json()) as { sandbox: unknown };
    expect(h.sandbox).toEqual({ name: 'bubblewrap', isolated: true, warning: null });
  });

  it('aos run inside the container hands its agent to the running kernel and prints the answer', async () => {
    // AOS_URL: the server listens on the test's port, not the config's 7878
    const out = await pm.run([
      'exec',
      '-e',
      `AOS_URL=${url}`,
      NAME,
      'aos',
      'run',
      '--quiet',
      'What is (12 + 30) * 2?',
    ]);
    expect(out).toContain('84');
  });

  it('killed with SIGKILL and started again, the kernel recovers the dead lock and keeps its processes', async () => {
    await pm.run(['kill', '--signal', 'KILL', NAME]);
    await pm.run(['wait', NAME], { timeoutMs: 60_000 }).catch(() => undefined);
    await pm.run(['start', NAME]);
    await healthy();
    const logs = await pm.run(['logs', NAME], { both: true });
    expect(logs).toMatch(/recovering a stale lock/);
    const before = await api('GET', `/processes/${sandboxedPid}`);
    expect(String(before.result)).toContain('bwrap');
    const { pid } = (await api('POST', '/processes', { name: 'after-restart', task: 'What is 6 * 7?' })) as {
      pid: number;
    };
    expect(String((await exited(pid)).result)).toContain('42');
  });
});
