/**
 * `aos run` outlives a kernel restart: the agent is handed to a real `aos start` (a child process, PGlite on
 * disk), waits for an approval, and the kernel is killed with SIGKILL. `aos run` says the kernel stopped
 * answering and waits; the kernel is started again on the same port and data dir, the process comes back
 * asking again, the approval is given through the API, and `aos run` shows the step and the answer and
 * exits 0 — it used to exit 1 at the first refused poll although the process lived on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const MAIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'aos-run-reconnect-'));
const config = join(dir, 'config.yaml');
const children: ChildProcess[] = [];
const env = { ...process.env, AOS_LOG: 'warn', NO_COLOR: '1' };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function startKernel(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN, '--config', config, 'start', '--no-demo'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/API\s+http:\/\/127\.0\.0\.1:\d+\/api\/v1/.test(out)) resolve(child);
    });
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (code, signal) => reject(new Error(`aos start exited ${code ?? signal}:\n${out}`)));
  });
}

/** Resolves when `text` matches what the child printed so far (both streams). */
function until(seen: () => string, re: RegExp, what: string, ms = 120_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const m = re.exec(seen());
      if (m) return resolve(m);
      if (Date.now() - t0 > ms) return reject(new Error(`no ${what} after ${ms} ms:\n${seen()}`));
      setTimeout(tick, 100);
    };
    tick();
  });
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('aos run across a kernel restart', () => {
  it('waits for a killed kernel to come back and follows the agent to its answer', async () => {
    const port = await freePort();
    writeFileSync(
      config,
      [
        `data_dir: ${dir}`,
        `storage: { url: "pglite://${join(dir, 'db')}" }`,
        `server: { port: ${port}, demo_agents: false }`,
        'security:',
        '  sandbox: none',
        `  workspace: ${join(dir, 'ws')}`,
        '  default_policy: { ask_tools: [shell] }',
        '',
      ].join('\n'),
    );
    let kernel = await startKernel();
    const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const run = spawn(
      process.execPath,
      [MAIN, '--config', config, 'run', 'run the shell command: echo reconnected-ok'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
      },
    );
    children.push(run);
    let seen = '';
    run.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    run.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    const exit = new Promise<number | null>((r) => run.once('exit', (code) => r(code)));
    const first = await until(() => seen, /waiting for approval (\w+)/, 'approval prompt');

    const killed = new Promise((r) => kernel.once('exit', r));
    kernel.kill('SIGKILL');
    await killed;
    await until(() => seen, /stopped answering/, 'notice that the kernel is gone');
    expect(run.exitCode).toBeNull(); // still waiting, not failed

    kernel = await startKernel();
    await until(() => seen, /the kernel is back/, 'reconnect notice');
    // the process came back waiting for the same approval (asked again under a new id)
    const api = `http://127.0.0.1:${port}/api/v1`;
    const auth = { authorization: `Bearer ${admin}` };
    let pending: Array<{ id: string; pid: number }> = [];
    for (let i = 0; i < 600 && pending.length === 0; i++) {
      const body = (await (await fetch(`${api}/approvals`, { headers: auth })).json()) as {
        items: typeof pending;
      };
      pending = body.items;
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(pending).toHaveLength(1);
    expect(pending[0]!.id).not.toBe(first[1]);
    const ok = await fetch(`${api}/approvals/${pending[0]!.id}/approve`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(ok.status).toBe(200);

    expect(await exit).toBe(0);
    expect(seen).toMatch(/call\s+shell\(\{"command":"echo reconnected-ok"\}\)/);
    expect(seen).toMatch(/answer:.*reconnected-ok/s);
    kernel.kill('SIGTERM');
  }, 300_000);
});
