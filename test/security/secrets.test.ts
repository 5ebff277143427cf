/**
 * Classes 5, 14 and 15 — the kernel's secrets are out of an agent's reach, the data dir is private, and
 * what an agent writes cannot drive the user's terminal. Attacks through the kernel on real bubblewrap
 * (and the `none` sandbox for the environment), with the kernel as root, at the admin level with
 * allowed_paths ['/'] — the most permissive policy there is: read the admin token, the signing key, the
 * data dir, every /proc/…/environ form, the user's credential files; plant a plugin; read the kernel's
 * environment from a command; smuggle the admin token out base64-encoded; print escape sequences
 * through `aos ps` and `aos logs`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ToolOutcome } from '../../src/kernel/syscalls.js';
import { bootTestKernel } from '../../src/kernel/testing/test-kernel.js';
import { setLogSink } from '../../src/util/log.js';
import { bootRig, type Rig, shellData } from './harness.js';

const KEY = `sk-redteam${randomBytes(12).toString('hex')}`;
const wide = { permission_level: 'admin', allowed_paths: ['/'], ask_tools: [] };

let rig: Rig;
let none: Rig;
let token: string;

beforeAll(async () => {
  process.env.OPENAI_API_KEY = KEY;
  rig = await bootRig({ sandbox: 'bubblewrap', storage: 'pglite:data-dir' });
  none = await bootRig({ sandbox: 'none' });
  token = readFileSync(join(rig.dataDir, 'admin.token'), 'utf8').trim();
  await rig.kernel.anchors?.anchor({ force: true }); // the signing key exists
});
afterAll(async () => {
  delete process.env.OPENAI_API_KEY;
  for (const r of [rig, none]) {
    await r?.close();
    if (r) {
      rmSync(r.workspace, { recursive: true, force: true });
      rmSync(r.dataDir, { recursive: true, force: true });
    }
  }
});

describe('red team: secrets (bubblewrap, kernel as root, admin level, allowed_paths /)', () => {
  test("the file tools cannot read or write the kernel's or the user's secrets at any level", async () => {
    const d = rig.dataDir;
    const tid = process.pid;
    const targets = [
      join(d, 'admin.token'),
      join(d, 'keys/audit-ed25519.pem'),
      join(d, 'audit-anchors.jsonl'),
      '/proc/self/environ',
      '/proc/thread-self/environ',
      `/proc/${process.pid}/environ`,
      `/proc/${process.pid}/task/${tid}/environ`,
      '/proc/self/cmdline',
      join(homedir(), '.npmrc'),
      join(homedir(), '.ssh/id_ed25519'),
      '/root/.bash_history',
    ];
    const { pid, out } = await rig.attack(
      [
        ...targets.map((path) => ({ name: 'read_file', args: { path } })),
        { name: 'list_dir', args: { path: d } },
        { name: 'write_file', args: { path: join(d, 'plugins/evil.mjs'), content: 'x', create_dirs: true } },
        { name: 'edit_file', args: { path: join(d, 'admin.token'), old_string: 'aos_', new_string: 'x' } },
      ],
      wide,
    );
    expect(out).toHaveLength(targets.length + 3);
    for (const [i, o] of out.entries()) {
      expect(o.ok, `${i}: ${o.output}`).toBe(false);
      expect(o.error?.code, `${i}: ${o.output}`).toBe('EPERM');
      expect(o.output).not.toContain(token);
      expect(o.output).not.toContain(KEY);
    }
    expect(() => lstatSync(join(d, 'plugins'))).toThrow();
    const denials = (await rig.audit(pid)).filter((e) => e.kind === 'io.tool_error');
    expect(denials).toHaveLength(out.length);
    for (const e of denials) expect((e.payload as { decision: string }).decision).toBe('deny');
  });

  test('a sandboxed command with / bound sees the data dir empty, and never the provider key', async () => {
    const { out } = await rig.attack(
      [
        {
          name: 'shell',
          args: {
            command: `ls -A ${rig.dataDir} | wc -l; cat ${rig.dataDir}/admin.token; env; cat /proc/1/environ | tr '\\0' '\\n'`,
          },
        },
      ],
      wide,
    );
    const d = shellData(out[0] as ToolOutcome);
    expect(d.stdout.split('\n')[0]?.trim(), JSON.stringify(d).slice(0, 600)).toBe('0');
    expect(d.stdout).not.toContain(token);
    expect(d.stdout).not.toContain(KEY);
    // the `none` sandbox: no isolation, but still not the kernel's environment
    const n = await none.attack([{ name: 'shell', args: { command: 'env' } }]);
    const nd = shellData(n.out[0] as ToolOutcome);
    expect(nd.stdout).toMatch(/PATH=/);
    expect(nd.stdout).not.toContain(KEY);
    // …and not the kernel user's home either: bash would run that user's ~/.bashrc in every command
    expect(nd.stdout).not.toContain(`HOME=${homedir()}\n`);
  });

  test('an allowed path that is itself a denied one is masked whole (the data dir, /etc/ssh)', async () => {
    // /etc/ssh is world-readable on the host, so uid 64000 would list it were it bound as it is
    const { out } = await rig.attack(
      [{ name: 'shell', args: { command: `ls -A /etc/ssh | wc -l; ls -A ${rig.dataDir} | wc -l` } }],
      { ...wide, allowed_paths: ['/etc/ssh', rig.dataDir] },
    );
    const d = shellData(out[0] as ToolOutcome);
    expect(d.stdout.split('\n').slice(0, 2), JSON.stringify(d).slice(0, 600)).toEqual(['0', '0']);
  });

  test('secrets are redacted with a mark saying what was removed, base64 of the admin token included', async () => {
    const b64 = Buffer.from(token).toString('base64');
    const { pid } = await rig.attack([
      { name: 'shell', args: { command: `echo ${b64}; echo ${KEY}; echo plain-words-stay` } },
    ]);
    const text = JSON.stringify(await rig.audit(pid));
    expect(text).not.toContain(b64);
    expect(text).not.toContain(token);
    expect(text).not.toContain(KEY);
    expect(text).toContain('[redacted:admin-token]');
    expect(text).toMatch(/\[redacted:(openai-key|openai-api-key)\]/);
    expect(text).toContain('plain-words-stay');
  });

  test('the data dir is 0700 and its files 0600 (PGlite included); loose files are named at boot', async () => {
    const loose: string[] = [];
    const walk = (p: string) => {
      for (const n of readdirSync(p)) {
        const f = join(p, n);
        const st = lstatSync(f);
        if (st.isSymbolicLink()) continue;
        if (st.mode & 0o077) loose.push(`${f} ${(st.mode & 0o777).toString(8)}`);
        if (st.isDirectory()) walk(f);
      }
    };
    walk(rig.dataDir);
    expect(loose.slice(0, 5)).toEqual([]);
    expect(lstatSync(rig.dataDir).mode & 0o077).toBe(0);
    // a data dir other users could enter, with a loose file: the boot warning names it, and it is fixed
    const dir = mkdtempSync(join(tmpdir(), 'aos-red-loose-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'planted.db'), 'x', { mode: 0o666 });
    chmodSync(join(dir, 'planted.db'), 0o666);
    const lines: string[] = [];
    setLogSink((level, _scope, msg) => {
      if (level === 'warn') lines.push(msg);
    });
    const ws = mkdtempSync(join(tmpdir(), 'aos-red-ws-'));
    try {
      await (await bootTestKernel({ dir, config: { security: { workspace: ws } } })).close();
    } finally {
      setLogSink(null);
    }
    expect(lines.join('\n')).toContain(join(dir, 'planted.db'));
    expect(lstatSync(join(dir, 'planted.db')).mode & 0o777).toBe(0o600);
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
    // a private data dir: files PGlite made 0644 are fixed without a warning on every start (nobody else
    // could reach them), which a new user saw on each command
    lines.length = 0;
    writeFileSync(join(dir, 'pg_internal.init'), 'x', { mode: 0o644 });
    setLogSink((level, _scope, msg) => {
      if (level === 'warn' && msg.includes('data dir')) lines.push(msg);
    });
    try {
      await (await bootTestKernel({ dir, config: { security: { workspace: ws } } })).close();
    } finally {
      setLogSink(null);
    }
    expect(lines).toEqual([]);
    expect(lstatSync(join(dir, 'pg_internal.init')).mode & 0o777).toBe(0o600);
    rmSync(dir, { recursive: true, force: true });
    rmSync(ws, { recursive: true, force: true });
  });

  test('a shared directory as data_dir is a config error, and nothing in it changes', async () => {
    // A stand-in for /tmp (never /tmp itself: a regression would make it 0700): sticky, world-writable,
    // with another program's readable file in it.
    const shared = mkdtempSync(join(tmpdir(), 'aos-red-shared-'));
    chmodSync(shared, 0o1777);
    writeFileSync(join(shared, 'someone-elses.txt'), 'x', { mode: 0o644 });
    chmodSync(join(shared, 'someone-elses.txt'), 0o644);
    const ws = mkdtempSync(join(tmpdir(), 'aos-red-ws-'));
    try {
      await expect(bootTestKernel({ dir: shared, config: { security: { workspace: ws } } })).rejects.toThrow(
        /ECONFIG|cannot be the kernel's data dir: .*sticky.*set data_dir to a directory of its own/,
      );
      expect(lstatSync(shared).mode & 0o7777).toBe(0o1777);
      expect(lstatSync(join(shared, 'someone-elses.txt')).mode & 0o777).toBe(0o644);
    } finally {
      rmSync(shared, { recursive: true, force: true });
      rmSync(ws, { recursive: true, force: true });
    }
  });
});

describe('red team: terminal injection through the CLI', () => {
  const run = promisify(execFile);
  const aos = async (args: string[]) => {
    const r = await run(
      process.execPath,
      ['--import', resolve('src/storage/testing/ts-register.mjs'), resolve('src/cli/main.ts'), ...args],
      {
        env: { ...process.env, AOS_LOG: 'error', AOS_TOKEN: token, AOS_URL: rig.server.url },
        timeout: 60_000,
      },
    );
    return r.stdout;
  };
  test('escape sequences in names, tasks and tool output reach aos ps and aos logs escaped', async () => {
    const evil = '\x1b[2J\x1b]0;pwned\x07\x1b[31mred\u202e';
    const pid = await rig.kernel.spawn({
      name: `n${evil}`,
      task: `t${evil}`,
      program: 'attacker',
      args: { calls: [{ name: 'shell', args: { command: "printf 'out\\033[2J\\033]0;title\\007'" } }] },
    });
    await rig.kernel.wait(pid);
    const ps = await aos(['ps', '--url', rig.server.url, '--all']).catch(
      async () => await aos(['ps', '--url', rig.server.url]),
    );
    const logs = await aos(['logs', String(pid), '--url', rig.server.url]);
    for (const text of [ps, logs]) {
      expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
      expect(text).toContain('\\x1b');
    }
    expect(ps).toContain('n\\x1b[2J');
    expect(logs).toContain('t\\x1b[2J');
  });
});
