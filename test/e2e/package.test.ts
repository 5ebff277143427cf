/**
 * The published package, as a user gets it: `npm pack` makes the tarball, `npm install <tarball>` puts it in
 * an empty directory, and `npx aos run "…"` and `npx aos start` work there with nothing else from this
 * checkout. The tarball holds the build, never the tests or the TypeScript sources; every `exports` and
 * `bin` target is inside it; LICENSE matches package.json.
 *
 * Cost: the install resolves ~160 packages. It prefers npm's local cache (`--prefer-offline`: `npm ci` for
 * this checkout filled it) and reaches the registry only for a miss; the figures are logged.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  license: string;
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
};
const built = existsSync(join(root, 'dist/cli/main.js'));

/** A user's shell: none of this checkout's or the test runner's AOS_*, npm_* or provider variables. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AOS_|npm_|VITEST|NODE_OPTIONS$)|_API_KEY$/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: '1', AOS_LOG: 'warn', npm_config_update_notifier: 'false' };
}

describe.skipIf(!built)('the npm package', () => {
  let dir: string;
  let app: string;
  let files: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'aos-pack-'));
    app = join(dir, 'app');
    // --ignore-scripts: `prepare` would rebuild dist/, which `npm test` has just built
    const t0 = performance.now();
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: root,
      encoding: 'utf8',
      env: userEnv(),
    });
    const info = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }>; size: number }>;
    files = info[0]!.files.map((f) => f.path);
    console.log(
      `npm pack: ${Math.round(performance.now() - t0)} ms, ${files.length} files, ${info[0]!.size} bytes`,
    );
  }, 120_000);

  afterAll(() => {
    for (const c of children) {
      try {
        if (c.pid) process.kill(-c.pid, 'SIGKILL');
      } catch {} // the group has exited
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the build and the docs a user needs, never tests or TypeScript sources', () => {
    expect(files).toContain('package.json');
    expect(files).toContain('LICENSE');
    expect(files).toContain('README.md');
    expect(files).toContain('config.example.yaml');
    expect(files).toContain('dist/web/index.html');
    const leaked = files.filter(
      (f) =>
        f.startsWith('src/') ||
        f.startsWith('test/') ||
        f.startsWith('web/') ||
        f.startsWith('bench/') ||
        /\.test\.|(?<!\.d)\.ts$/.test(f),
    );
    expect(leaked).toEqual([]);
    const targets = [
      ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e))),
      ...Object.values(pkg.bin),
    ].map((p) => p.replace(/^\.\//, ''));
    expect(targets.filter((t) => !files.includes(t))).toEqual([]);
  });

  it('LICENSE is the licence package.json names', () => {
    const text = readFileSync(join(root, 'LICENSE'), 'utf8');
    const heading: Record<string, RegExp> = {
      MIT: /^MIT License\b/,
      'Apache-2.0': /^\s*Apache License\s+Version 2\.0/,
      ISC: /^ISC License\b/,
    };
    expect(heading[pkg.license], `no LICENSE check for "${pkg.license}"`).toBeDefined();
    expect(text).toMatch(heading[pkg.license]!);
  });

  it('installs into an empty directory; `npx aos run` answers and `npx aos start` serves there', async () => {
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'aos-user-app', private: true }));
    const tarball = join(dir, `${pkg.name}-${pkg.version}.tgz`);
    const t0 = performance.now();
    const inst = spawnSync(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball],
      { cwd: app, encoding: 'utf8', env: userEnv(), timeout: 300_000 },
    );
    expect(inst.status, `${inst.stdout}\n${inst.stderr}`).toBe(0);
    console.log(`npm install <tarball> --prefer-offline: ${Math.round(performance.now() - t0)} ms`);
    expect(existsSync(join(app, 'node_modules/.bin/aos'))).toBe(true);

    // `npx --no`: use the installed bin, never fetch a registry package that happens to be named aos
    const run = spawnSync('npx', ['--no', 'aos', 'run', 'What is 17 * 23 + 4?'], {
      cwd: app,
      encoding: 'utf8',
      env: userEnv(),
      timeout: 180_000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('calculator(');
    expect(run.stdout).toMatch(/answer: .*395/s);

    // its own process group, as in a terminal: Ctrl-C (SIGINT to the group) reaches npx and the kernel
    const start = spawn('npx', ['--no', 'aos', 'start', '--port', '0'], {
      cwd: app,
      env: userEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    children.push(start);
    let out = '';
    const collect = (d: Buffer) => {
      out += d.toString();
    };
    start.stdout!.on('data', collect);
    start.stderr!.on('data', collect);
    const url = await new Promise<string>((resolve, reject) => {
      const give = setTimeout(
        () => reject(new Error(`aos start did not serve within 180 s:\n${out}`)),
        180_000,
      );
      const timer = setInterval(() => {
        const m = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
        if (m) {
          clearInterval(timer);
          clearTimeout(give);
          resolve(m[1]!);
        }
      }, 100);
      start.once('exit', (code) => {
        clearInterval(timer);
        reject(new Error(`aos start exited (${code}) before serving:\n${out}`));
      });
    });
    const token = readFileSync(join(app, '.aos/admin.token'), 'utf8').trim();
    const health = await fetch(`${url}/api/v1/health`);
    expect(health.status).toBe(200);
    const page = await fetch(`${url}/`);
    expect(await page.text()).toMatch(/<div id="app">/);
    const procs = await fetch(`${url}/api/v1/processes`, { headers: { authorization: `Bearer ${token}` } });
    expect(procs.status).toBe(200);
    // the run above left its process in the same data dir: the server sees it
    const list = (await procs.json()) as { items: Array<{ task: string }> };
    expect(list.items.some((p) => p.task === 'What is 17 * 23 + 4?')).toBe(true);
    // Ctrl-C: the kernel shuts down cleanly and stops serving (npx itself may end by the signal)
    const exited = new Promise<string>((r) => start.once('exit', (code, sig) => r(sig ?? String(code))));
    process.kill(-start.pid!, 'SIGINT');
    expect(['0', 'SIGINT']).toContain(await exited);
    let serving = true;
    for (let i = 0; i < 300 && serving; i++) {
      serving = await fetch(`${url}/api/v1/health`).then(
        () => true,
        () => false,
      );
      if (serving) await new Promise((r) => setTimeout(r, 200));
    }
    expect(serving, out).toBe(false);
    expect(out).toContain('shutting down');
    expect(out).not.toMatch(/aos: E[A-Z]+:|Error:/);
  }, 900_000);
});
