/**
 * The CLI in a real terminal: tmux (160×40) runs `aos shell` and `aos top` from the built package against
 * a kernel server started by this test (temp data dir, free port, simulator), and the assertions read the
 * screen with `capture-pane`. Also `aos ps --json`, `aos logs`, and the errors when no server answers.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const CLI = join(root, 'dist/cli/main.js');
const SERVE = join(root, 'test/e2e/fixtures/serve.mjs');
const SOCK = `aos-cli-test-${process.pid}`;
const haveTmux = spawnSync('tmux', ['-V']).status === 0;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCK, '-f', '/dev/null', ...args], { encoding: 'utf8' });
}

function screen(target: string): string {
  return tmux('capture-pane', '-p', '-t', target);
}

/** Polls the pane until `re` matches (the screen is the only interface a terminal user has). */
async function waitFor(target: string, re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    last = screen(target);
    const m = re.exec(last);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`screen never matched ${re} within ${timeoutMs} ms; it shows:\n${last}`);
}

function keys(target: string, ...k: string[]): void {
  tmux('send-keys', '-t', target, ...k);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

describe.skipIf(!haveTmux || !existsSync(CLI))('aos shell and aos top in tmux', () => {
  let dir: string;
  let cfg: string;
  let url: string;
  let server: ChildProcess;
  let token: string;
  const env = { ...process.env, AOS_LOG: 'error', AOS_TOKEN: '', AOS_URL: '' };
  const aos = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, '-c', cfg, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aos-cli-'));
    const port = await freePort();
    cfg = join(dir, 'config.yaml');
    writeFileSync(
      cfg,
      `data_dir: ${join(dir, 'data')}\nstorage:\n  url: "memory://"\nserver:\n  host: 127.0.0.1\n  port: ${port}\n  demo_agents: false\nsecurity:\n  workspace: ${join(dir, 'ws')}\nagents:\n  - name: calc-bot\n    system: You are Calc-bot.\n    tools: [calculator]\n`,
    );
    server = spawn(process.execPath, [SERVE, cfg], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    server.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      server.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
    });
    token = readFileSync(join(dir, 'data', 'admin.token'), 'utf8').trim();
    tmux('new-session', '-d', '-s', 'main', '-x', '160', '-y', '40', '-c', dir, 'bash --norc --noprofile');
    tmux('set-option', '-t', 'main', 'history-limit', '5000');
    keys('main', `export PS1='$ ' NO_COLOR=1 AOS_LOG=error; cd ${dir}; clear`, 'Enter');
  }, 120_000);

  afterAll(async () => {
    spawnSync('tmux', ['-L', SOCK, 'kill-server']);
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('aos shell: help, spawn, logs -f, ps, tab completion, history', async () => {
    keys('main', `node ${CLI} -c ${cfg} shell; echo SHELL_EXIT=$?`, 'Enter');
    await waitFor('main', new RegExp(`aos shell — server ${url.replace(/[.]/g, '\\.')}`));
    await waitFor('main', /^aos>\s*$/m); // capture-pane trims the prompt's trailing space
    keys('main', 'help', 'Enter');
    await waitFor('main', /spawn "<task>"/);
    keys('main', 'spawn "What is 6 * 7?"', 'Enter');
    const pid = (await waitFor('main', /spawned pid (\d+)/))[1]!;
    keys('main', `logs ${pid} -f`, 'Enter');
    await waitFor('main', /call +calculator\(\{"expression":"6 \* 7"\}\)/);
    await waitFor('main', /^answer: [\s\S]*6 \* 7 = 42/m);
    keys('main', 'clear', 'Enter'); // not a shell command: shows the error path
    await waitFor('main', /unknown command "clear"/);
    keys('main', 'ps', 'Enter');
    await waitFor('main', new RegExp(`^${pid} +- +terminated +50 +2 `, 'm'));
    keys('main', 'sta', 'Tab');
    await waitFor('main', /aos> status$/m);
    keys('main', 'Enter');
    await waitFor('main', /processes 1: terminated 1/);
    keys('main', 'kill 999', 'Enter');
    await waitFor('main', /error: ENOPROC/);
    keys('main', 'exit', 'Enter');
    // The shell's own exit, not a screen race: under load the pane may redraw late (liveness, generous).
    await waitFor('main', /SHELL_EXIT=0/, 120_000);
    expect(screen('main')).toMatch(/^bye$/m);
    const history = readFileSync(join(dir, 'data', 'shell_history'), 'utf8');
    expect(history).toContain('spawn "What is 6 * 7?"');
    expect(history.trim().split('\n').at(-1)).toBe('exit');
  }, 240_000);

  it('aos top: full screen, updates live as processes run, q quits', async () => {
    tmux('send-keys', '-t', 'main', 'clear', 'Enter');
    keys('main', `node ${CLI} -c ${cfg} top; echo TOP_EXIT=$?`, 'Enter');
    await waitFor('main', /aos top — http/);
    await waitFor('main', /PID +PPID +STATE/);
    // a process spawned behind top's back appears on the next redraw without a key press
    const res = await fetch(`${url}/api/v1/processes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'seen-by-top', task: 'What is 12 * 12?' }),
    });
    const { pid } = (await res.json()) as { pid: number };
    await waitFor('main', new RegExp(`^${pid} .*seen-by-top`, 'm'));
    await waitFor('main', new RegExp(`^${pid} +- +terminated .*seen-by-top`, 'm'));
    expect(screen('main')).toMatch(/processes 2: terminated 2/);
    keys('main', 'q');
    await waitFor('main', /TOP_EXIT=0/);
    // the alternate screen is gone: the command line that started top is visible again
    expect(screen('main')).toContain(' top; echo TOP_EXIT');
  });

  it('aos top fits narrow terminals: no line wraps at 120 or 70 columns, every row stays one row', async () => {
    for (const width of [120, 70]) {
      const s = `w${width}`;
      tmux(
        'new-session',
        '-d',
        '-s',
        s,
        '-x',
        String(width),
        '-y',
        '30',
        '-c',
        dir,
        'bash --norc --noprofile',
      );
      keys(s, `export PS1='$ ' AOS_LOG=error; clear; node ${CLI} -c ${cfg} top; echo TOP_EXIT=$?`, 'Enter');
      await waitFor(s, /^PID +STATE|^PID +PPID +STATE/m);
      await waitFor(s, /^\d+ +(- +)?terminated/m);
      // -J joins wrapped lines: a line longer than the pane would show up here longer than `width`
      const joined = tmux('capture-pane', '-p', '-J', '-t', s).split('\n');
      for (const l of joined) expect(l.length, `"${l}"`).toBeLessThanOrEqual(width);
      const rows = joined.filter((l) => /^\d+ /.test(l));
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) expect(r).toMatch(/terminated|running|waiting|ready/);
      keys(s, 'q');
      await waitFor(s, /TOP_EXIT=0/);
      tmux('kill-session', '-t', s);
    }
  });

  it('ps --json, logs, kill/restore errors through the CLI', async () => {
    const ps = aos('ps', '--json');
    expect(ps.status, ps.stderr).toBe(0);
    const page = JSON.parse(ps.stdout) as {
      items: Array<{ pid: number; state: string; result: unknown }>;
      total: number;
    };
    expect(page.total).toBe(2);
    expect(page.items.every((p) => p.state === 'terminated')).toBe(true);
    expect(page.items[0]!.result).toBeTruthy();
    const logs = aos('logs', String(page.items[0]!.pid));
    expect(logs.status, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/\[step 1\]/);
    expect(logs.stdout).toMatch(/answer: /);
    const cp = aos('checkpoint', String(page.items[0]!.pid));
    expect(cp.status, cp.stderr).toBe(0);
    const id = /checkpoint (\d+)/.exec(cp.stdout)?.[1];
    expect(Number(id)).toBeGreaterThan(0);
    // Restored through the CLI, the agent finishes its task again (not just "exits").
    const orig = page.items[0]!.pid;
    const rs = aos('restore', String(id), '--json');
    expect(rs.status, rs.stderr).toBe(0);
    const restored = (JSON.parse(rs.stdout) as { pid: number }).pid;
    expect(restored).not.toBe(orig);
    const rw = aos('restore', String(id), '--same-pid', '--json');
    expect(rw.status, rw.stderr).toBe(0);
    expect((JSON.parse(rw.stdout) as { pid: number }).pid).toBe(orig);
    for (const p of [restored, orig]) {
      let info: { state: string; exitReason: string | null; result: unknown } | undefined;
      for (let i = 0; i < 200; i++) {
        const r = aos('ps', '--json');
        info = (JSON.parse(r.stdout) as { items: Array<{ pid: number } & typeof info> }).items.find(
          (x) => x!.pid === p,
        ) as typeof info;
        if (info?.state === 'terminated') break;
      }
      expect(info?.state).toBe('terminated');
      expect(info?.exitReason).toBeNull();
      // Restored from its exit checkpoint the agent takes another turn: the answer is the same number.
      const answer = /-?\d+(?:\.\d+)?(?!.*\d)/s.exec(String(page.items[0]!.result))?.[0];
      expect(answer).toBeDefined();
      expect(String(info?.result)).toContain(answer!);
    }
    // aos workspace rm goes to the server: each process has its own workspace (the default), which it deletes
    const own = join(dir, 'ws', 'proc', String(orig));
    mkdirSync(own, { recursive: true });
    writeFileSync(join(own, 'left.txt'), 'x');
    const removed = aos('workspace', 'rm', String(orig));
    expect(removed.status, removed.stderr).toBe(0);
    expect(existsSync(own)).toBe(false);
    const none = aos('workspace', 'rm', '99999', '--json');
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('no process 99999');
    const bad = aos('kill', 'abc');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('pid must be a positive integer');
    const wrong = spawnSync(process.execPath, [CLI, '-c', cfg, 'ps'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...env, AOS_TOKEN: 'aos_wrong' },
    });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('AOS_TOKEN');
  });

  it('with no server: live commands name `aos start`, listings read storage', () => {
    const off = join(dir, 'offline.yaml');
    writeFileSync(
      off,
      `data_dir: ${join(dir, 'offline')}\nstorage:\n  url: "memory://"\nserver:\n  port: 9\n`,
    );
    const kill = spawnSync(process.execPath, [CLI, '-c', off, 'kill', '1'], {
      cwd: dir,
      encoding: 'utf8',
      env,
    });
    expect(kill.status).toBe(1);
    expect(kill.stderr).toContain('aos start');
    const ps = spawnSync(process.execPath, [CLI, '-c', off, 'ps'], { cwd: dir, encoding: 'utf8', env });
    expect(ps.status, ps.stderr).toBe(0);
    expect(ps.stdout).toContain('no processes');
  });

  it('aos run hands the agent to the running server and shows its steps live', () => {
    const r = aos('run', 'What is 6 * 7?');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`on the kernel at ${url}`);
    expect(r.stdout).toContain('calculator(');
    expect(r.stdout).toMatch(/answer: .*42/s);
  }, 90_000);

  it('aos run asks inline on a terminal when its agent needs an approval, and continues after y', async () => {
    keys('main', 'clear', 'Enter');
    // the default policy (no ask_tools in this config) asks before shell
    keys(
      'main',
      `node ${CLI} -c ${cfg} run 'Run \`echo approved-in-tmux\` in the shell'; echo RUN_EXIT=$?`,
      'Enter',
    );
    await waitFor('main', /waiting for approval [0-9a-f]{8}: shell: echo approved-in-tmux/);
    await waitFor('main', /approve\? \[y\/N\]\s*$/m);
    keys('main', 'y', 'Enter');
    await waitFor('main', /approved [0-9a-f]{8}/);
    await waitFor('main', /call +shell\(\{"command":"echo approved-in-tmux"\}\)/);
    await waitFor('main', /^answer: [\s\S]*approved-in-tmux/m);
    await waitFor('main', /RUN_EXIT=0/);
  }, 90_000);

  it('aos chat holds a two-turn conversation with one agent in the terminal', async () => {
    keys('main', 'clear', 'Enter');
    keys('main', `node ${CLI} -c ${cfg} chat --agent calc-bot; echo CHAT_EXIT=$?`, 'Enter');
    await waitFor('main', /aos chat — http\S+ · agent calc-bot/);
    await waitFor('main', /^you>\s*$/m);
    keys('main', 'What is 17 * 23?', 'Enter');
    const pid = (await waitFor('main', /\(pid (\d+)\)/))[1]!;
    await waitFor('main', /calculator\(\{"expression":"17 \* 23"\}\) → 391/);
    await waitFor('main', /^agent> [\s\S]*17 \* 23 = 391[\s\S]*^you>\s*$/m);
    keys('main', 'And what is 391 + 9?', 'Enter');
    await waitFor('main', /^agent> [\s\S]*391 \+ 9 = 400[\s\S]*^you>\s*$/m);
    keys('main', '/exit', 'Enter');
    await waitFor('main', new RegExp(`bye \\(the conversation is process ${pid};`));
    await waitFor('main', /CHAT_EXIT=0/);
    // one process held both turns, and it is the profile's
    const res = await fetch(`${url}/api/v1/processes/${pid}/conversation`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const turns = ((await res.json()) as { items: Array<{ role: string; text: string }> }).items;
    expect(turns.map((t) => t.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(turns[3]!.text).toContain('391 + 9 = 400');
    const p = aos('ps', '--json');
    const row = JSON.parse(p.stdout).items.find((x: { pid: number }) => x.pid === Number(pid));
    expect(row.name).toBe('calc-bot');
  }, 120_000);

  it('aos send continues a finished agent and prints its answer to the follow-up', () => {
    const run = aos('run', '-q', 'What is 6 * 7?');
    expect(run.status, run.stderr).toBe(0);
    const list = JSON.parse(aos('ps', '--json').stdout).items as Array<{ pid: number; task: string }>;
    const pid = Math.max(...list.filter((x) => x.task === 'What is 6 * 7?').map((x) => x.pid));
    const sent = aos('send', String(pid), 'Now what is 42 * 2?');
    expect(sent.status, sent.stderr).toBe(0);
    expect(sent.stdout).toContain('calculator({"expression":"42 * 2"}) → 84');
    expect(sent.stdout).toMatch(/agent> [\s\S]*42 \* 2 = 84/);
    const json = aos('send', String(pid), 'And 84 - 4?', '--json');
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ pid, continued: true, exitReason: null });
    expect(String(JSON.parse(json.stdout).result)).toContain('84 - 4 = 80');
    const bad = aos('send', '99999', 'hello');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('ENOPROC');
  }, 120_000);

  it('without a terminal, aos run prints the exact command; another shell approves it and the run ends', async () => {
    const run = spawn(
      process.execPath,
      [CLI, '-c', cfg, 'run', 'Run `echo approved-elsewhere` in the shell'],
      {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    run.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number>((r) => run.once('exit', (c) => r(c ?? -1)));
    const until = Date.now() + 60_000;
    const hint = /decide with aos -c \S+ approve ([0-9a-f]{8})/;
    while (!hint.test(out) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const m = hint.exec(out);
    expect(m, out).not.toBeNull();
    const short = m![1]!;
    const list = aos('approvals');
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${short} +\\d+ .*shell: echo approved-elsewhere`, 'm'));
    const ps = aos('ps', '--state', 'waiting');
    expect(ps.stdout).toMatch(new RegExp(`waiting\\(approval ${short}\\)`));
    const ok = aos('approve', short, '--reason', 'looks harmless');
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`approved ${short}: shell: echo approved-elsewhere`));
    expect(await exited).toBe(0);
    expect(out).toMatch(/answer: [\s\S]*approved-elsewhere/);
    const again = aos('approve', short);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('no pending approval');
  }, 90_000);
});

describe.skipIf(!existsSync(CLI))('the CLI beside `aos start` on embedded storage', () => {
  let dir: string;
  let cfg: string;
  let server: ChildProcess;
  const env = { ...process.env, AOS_LOG: 'error', AOS_TOKEN: '', AOS_URL: '', NO_COLOR: '1' };
  const aos = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, '-c', cfg, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env,
      timeout: 90_000,
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aos-cli-start-'));
    const port = await freePort();
    cfg = join(dir, 'config.yaml');
    // pglite: one process may open the data dir, so every command below must go through the server
    writeFileSync(
      cfg,
      `data_dir: ${join(dir, 'data')}\nstorage:\n  url: "pglite://${join(dir, 'data', 'db')}"\nserver:\n  host: 127.0.0.1\n  port: ${port}\n  demo_agents: false\nsecurity:\n  workspace: ${join(dir, 'ws')}\n`,
    );
    server = spawn(process.execPath, [CLI, '-c', cfg, 'start'], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    server.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ctrl-C stops the kernel')) resolve();
      });
      server.on('exit', (code) => reject(new Error(`aos start exited ${code}: ${err}`)));
    });
  }, 180_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('aos audit verify|anchor|replay work while aos start holds the storage (no ELOCKED)', () => {
    const run = aos('run', 'What is 6 * 7?');
    expect(run.status, run.stderr).toBe(0);
    const pid = /pid (\d+)/.exec(run.stdout)?.[1];
    expect(pid, run.stdout).toBeDefined();
    const anchor = aos('audit', 'anchor');
    expect(anchor.status, anchor.stderr).toBe(0);
    expect(anchor.stdout).toMatch(/anchored \d+ stream heads to .*audit-anchors\.jsonl/);
    const verify = aos('audit', 'verify');
    expect(verify.stderr).not.toContain('ELOCKED');
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^ok: \d+ entries chain-verified, [1-9]\d* signed anchors/m);
    const replay = aos('audit', 'replay', pid!);
    expect(replay.status, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/tool\.call|proc\.exit/);
    const ps = aos('ps');
    expect(ps.status, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(new RegExp(`^${pid} .*done: `, 'm'));
  }, 240_000);
});
