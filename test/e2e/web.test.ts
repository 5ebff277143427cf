/**
 * The dashboard in a real browser: headless Chromium (Debian's, driven by playwright-core) against a kernel
 * + API on 127.0.0.1:0 with memory:// storage and the simulator (slowed so runs are visible live). Logs in
 * with the admin token, spawns an agent from the form and watches it finish in the live table, opens its
 * page (steps, context memory map), then approves a tool call that the agent's policy says to ask about.
 * Screenshots go to test-artifacts/web/; `UPDATE_DOCS_IMG=1` also writes the numbered ones to
 * docs/img/dashboard-<name>.png (the pictures docs/dashboard.md shows).
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import { type AgentProgram, continueWith, done } from '../../src/kernel/program.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';

const root = new URL('../../', import.meta.url).pathname;
const CHROMIUM = process.env.AOS_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(root, 'test-artifacts', 'web');
const DOCS_IMG = process.env.UPDATE_DOCS_IMG === '1' ? join(root, 'docs', 'img') : null;
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const haveChromium = existsSync(CHROMIUM);

/**
 * Step 1 spawns a ReAct child whose task needs the shell (so it waits on an approval) and writes to it (the
 * mail leaves with the step's commit); step 2 waits for the child.
 */
const parent: AgentProgram<{ task: string; child: number | null }> = {
  name: 'parent',
  init: ({ task }) => ({ task, child: null }),
  async step(s, sys) {
    if (s.child === null) {
      const { pid } = await sys.call('proc.spawn', { name: 'child', task: s.task, program: 'react' });
      await sys.call('ipc.send', { to: pid, topic: 'note', body: { from: 'parent', text: 'hello child' } });
      return continueWith({ ...s, child: pid });
    }
    const st = await sys.call('proc.wait', { pid: s.child });
    return done(s, st.exitReason ?? st.result);
  },
};

describe.skipIf(!haveChromium)('dashboard in headless Chromium', () => {
  let kernel: Kernel;
  let server: ApiServer;
  let ctx: BrowserContext;
  let page: Page;
  let dataDir: string;
  let profile: string;
  let token: string;

  const shot = async (name: string) => {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
    if (DOCS_IMG && /^\d/.test(name))
      copyFileSync(join(SHOTS, `${name}.png`), join(DOCS_IMG, `dashboard-${name}.png`));
  };

  beforeAll(async () => {
    if (!existsSync(join(root, 'web/dist/index.html'))) {
      // CI builds it in `npm ci` (prepare); a bare checkout gets it here
      const { build } = await import('vite');
      await build({ configFile: join(root, 'web/vite.config.mjs'), logLevel: 'warn' });
    }
    mkdirSync(SHOTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'aos-web-'));
    profile = mkdtempSync(join(tmpdir(), 'aos-chromium-'));
    kernel = await createKernel({
      config: {
        data_dir: dataDir,
        storage: { url: 'memory://' },
        security: { workspace: join(dataDir, 'ws') },
      },
      // a little latency per LLM call so a run is long enough to be seen running
      models: resolverFromProvider(new SimulatedProvider({ latency: { ttftMs: 400 } })),
      recover: false,
      plugins: false,
      programs: [parent],
    });
    server = await createServer(kernel, {
      host: '127.0.0.1',
      port: 0,
      dataDir,
      dashboardDir: join(root, 'web/dist'),
    });
    token = readFileSync(server.adminTokenFile, 'utf8').trim();
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1440, height: 900 },
    });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(30_000);
  }, 180_000);

  afterAll(async () => {
    await ctx?.close();
    await server?.close();
    await kernel?.shutdown();
    for (const d of [dataDir, profile]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('refuses a wrong token and accepts the admin token', async () => {
    await page.goto(server.url);
    await page.fill('input[name=token]', 'aos_not_a_real_token');
    await page.click('button[type=submit]');
    await expect.poll(() => page.locator('[role=alert]').textContent()).toContain('not valid');
    await shot('01-login');
    await page.fill('input[name=token]', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=proc-table]');
    await page.waitForSelector('.dot.ok'); // the event stream is connected
    expect(await page.evaluate("localStorage.getItem('aos.token')")).toBe(token);
  });

  it('spawns an agent from the form and watches it run to completion in the live table', async () => {
    await page.fill('textarea[name=task]', 'What is 17 * 23 + 4?');
    await page.fill('input[name=name]', 'browser-calc');
    await page.click('[data-testid=spawn-form] button[type=submit]');
    const msg = await page.locator('[data-testid=spawn-result]').textContent();
    const pid = Number(/pid (\d+)/.exec(msg ?? '')?.[1]);
    expect(pid).toBeGreaterThan(0);
    const row = page.locator(`tr[data-pid="${pid}"]`);
    await row.waitFor();
    // the table only changes through the event stream (no polling on this page): seeing the final state is the live update
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 30_000 }).toBe('terminated');
    expect(await row.textContent()).toContain('browser-calc');
    await shot('02-processes');
  });

  it('opens the process page: the step timeline and the context memory map', async () => {
    const pid = Number(await page.locator('tr[data-state=terminated]').first().getAttribute('data-pid'));
    await page.click(`tr[data-pid="${pid}"]`);
    await page.waitForSelector('[data-testid=timeline] li.step');
    const timeline = await page.locator('[data-testid=timeline]').textContent();
    expect(timeline).toContain('calculator');
    expect(timeline).toContain('395'); // 17 * 23 + 4, from the calculator tool
    expect(await page.locator('[data-testid=result]').textContent()).toContain('395');
    await shot('03-process-timeline');
    await page.click('button[role=tab]:has-text("Context")');
    await page.waitForSelector('[data-testid=context]');
    const pages = await page.locator('[data-testid=context] [data-testid=page]').count();
    const stored = (await (
      await fetch(`${server.url}/api/v1/processes/${pid}/context`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as { pages: unknown[] };
    expect(pages).toBe(stored.pages.length);
    expect(pages).toBeGreaterThan(0);
    await shot('04-context-map');
  });

  it('continues the finished agent from the chat box; its shell call is approved from the inbox', async () => {
    const pid = Number(/#\/proc\/(\d+)/.exec(page.url())?.[1]);
    const chat = page.locator('[data-testid=chat]');
    expect(await chat.locator('li.turn[data-role=user]').first().textContent()).toContain('17 * 23 + 4');
    await chat.locator('textarea[name=message]').fill('And what is 395 - 5?');
    await chat.locator('button[type=submit]').click();
    const answers = chat.locator('li.turn[data-role=assistant]');
    await expect.poll(() => answers.count(), { timeout: 30_000 }).toBe(2);
    expect(await answers.nth(1).textContent()).toContain('395 - 5 = 390');
    await expect.poll(() => page.locator('[data-testid=result]').textContent()).toContain('390');
    await shot('04b-chat');
    // a third turn needs the shell, which the default policy asks a human about
    await chat.locator('textarea[name=message]').fill('Now run `echo chat-approved` in the shell');
    await chat.locator('button[type=submit]').click();
    await page.waitForSelector('[data-testid=approvals-badge]', { timeout: 30_000 });
    await page.click('a[href="#/approvals"]');
    const card = page.locator('.approval', { hasText: `pid ${pid}` });
    await card.waitFor();
    expect(await card.textContent()).toContain('echo chat-approved');
    await card.locator('button:has-text("Approve")').click();
    await page.waitForSelector('[data-testid=no-approvals]');
    await page.goto(`${server.url}/#/proc/${pid}`);
    await expect.poll(() => answers.count(), { timeout: 30_000 }).toBe(3);
    expect(await answers.nth(2).textContent()).toContain('chat-approved');
    expect(await answers.nth(2).textContent()).not.toMatch(/error|denied/i); // the command ran
    const turns = await chat.locator('li.turn').allTextContents();
    expect(turns.length).toBe(6);
  });

  it('the full trace: prompt delta, tool arguments and results with their audit ids, tokens, cost, latency', async () => {
    const pid = Number(/#\/proc\/(\d+)/.exec(page.url())?.[1]);
    await page.goto(`${server.url}/#/proc/${pid}`);
    const first = page.locator('[data-testid=timeline] li.step[data-step="1"]');
    await first.waitFor();
    const call = first.locator('.call[data-tool=calculator]');
    expect(await call.locator('pre.args').textContent()).toContain('17 * 23 + 4');
    expect(await call.locator('pre.out').textContent()).toContain('395');
    // the audit id shown is the executor's entry for this very call
    const shown = Number(/audit #(\d+)/.exec((await call.textContent()) ?? '')?.[1]);
    const entries = await kernel.audit.list({ stream: `proc:${pid}`, limit: 1000 });
    const entry = entries.find((e) => e.id === shown);
    expect(entry?.kind).toBe('io.tool_call');
    expect(JSON.stringify(entry?.payload)).toContain('17 * 23 + 4');
    const usage = (await first.locator('[data-testid=step-usage]').textContent()) ?? '';
    const stored = (await kernel.steps(pid))[0]!.usage as { tokensIn: number; tokensOut: number };
    expect(usage).toContain(`in ${stored.tokensIn}`);
    expect(usage).toContain(`out ${stored.tokensOut}`);
    expect(usage).toMatch(/cache hit (\d+%|—)/);
    expect(usage).toMatch(/\$[\d.]+/);
    expect(usage).toMatch(/\d+ ms/);
    // step 2's prompt grew by the calculator's result
    const second = page.locator('[data-testid=timeline] li.step[data-step="2"]');
    await second.locator('[data-testid=prompt-delta] summary').click();
    expect(await second.locator('[data-testid=prompt-delta]').textContent()).toMatch(
      /tool calculator[\s\S]*395/,
    );
    expect(await second.locator('[data-testid=prompt-delta] summary').textContent()).toMatch(/\(\+\d+\)/);
    await shot('14-trace');
  });

  it('forks from a step with an edited next message: the fork answers the edited question', async () => {
    const source = Number(/#\/proc\/(\d+)/.exec(page.url())?.[1]);
    // step 2 ended the first turn (its exit snapshot); the source was then asked "And what is 395 - 5?"
    const step = page.locator('[data-testid=timeline] li.step[data-step="2"]');
    await step.locator('button[data-fork="2"]').click();
    const form = step.locator('[data-testid=fork-form]');
    const box = form.locator('textarea[name=forkMessage]');
    expect(await box.inputValue()).toBe('And what is 395 - 5?');
    await box.fill('And what is 395 + 5?');
    await shot('15-fork');
    await form.locator('button[type=submit]').click();
    await page.waitForURL((u) => /#\/proc\/\d+$/.test(u.hash) && !u.hash.endsWith(`/${source}`));
    const fork = Number(/#\/proc\/(\d+)/.exec(page.url())?.[1]);
    expect(fork).not.toBe(source);
    await expect
      .poll(() => page.locator('[data-testid=result]').textContent(), { timeout: 30_000 })
      .toContain('400');
    const st = await kernel.wait(fork, 30_000);
    expect(st.exitReason).toBeNull();
    expect(String(st.result)).toContain('395 + 5 = 400');
    // the fork took the edited message only: not the source's own follow-ups (390, the shell)
    const turns = (await kernel.steps(fork)).flatMap((s) => (s.record as { user?: string[] }).user ?? []);
    expect(turns).toEqual(['And what is 395 + 5?']);
    expect((await kernel.steps(fork))[0]!.stepNo).toBe(3); // numbered on from the snapshot's step
    expect(String((await kernel.get(source)).result)).toContain('chat-approved'); // the source is untouched
    await page.waitForSelector('[data-testid=timeline] li.step[data-step="3"]');
    await shot('16-fork-answer');
  });

  it('approves a pending tool call from the approvals inbox and the agent finishes', async () => {
    await page.goto(`${server.url}/#/processes`);
    await page.fill('textarea[name=task]', 'What is 6 * 7?');
    await page.fill('input[name=name]', 'needs-approval');
    await page.fill('input[name=askTools]', 'calculator');
    await page.click('[data-testid=spawn-form] button[type=submit]');
    const pid = Number(
      /pid (\d+)/.exec((await page.locator('[data-testid=spawn-result]').textContent()) ?? '')?.[1],
    );
    const row = page.locator(`tr[data-pid="${pid}"]`);
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 30_000 }).toBe('waiting');
    expect(await row.locator('.state').textContent()).toContain('waiting');
    await page.waitForSelector('[data-testid=approvals-badge]');
    await shot('05-waiting-for-approval');
    await page.click('a[href="#/approvals"]');
    const card = page.locator('.approval', { hasText: `pid ${pid}` });
    await card.waitFor();
    expect(await card.textContent()).toContain('calculator');
    await shot('06-approvals');
    await card.locator('button:has-text("Approve")').click();
    await page.waitForSelector('[data-testid=no-approvals]');
    const st = await kernel.wait(pid, 30_000);
    expect(st.exitReason).toBeNull();
    expect(String(st.result)).toContain('42');
  });

  it('checkpoints and kills a process from its page', async () => {
    // parked on an approval nobody gives, so it is still live when the buttons are pressed
    const pid = await kernel.spawn({
      name: 'to-kill',
      task: 'What is 2 * 21?',
      policy: { ask_tools: ['calculator'] },
    });
    await page.goto(`${server.url}/#/proc/${pid}`);
    await expect
      .poll(() => page.locator('h2 .state').textContent(), { timeout: 30_000 })
      .toContain('waiting');
    await page.click('button:has-text("Checkpoint")');
    await expect.poll(() => page.locator('p.ok').textContent()).toMatch(/checkpoint \d+ written/);
    await page.click('button:has-text("Kill")');
    await expect
      .poll(() => page.locator('[data-testid=result]').textContent(), { timeout: 30_000 })
      .toContain('failed');
    expect((await kernel.get(pid)).exitReason).toContain('kill');
  });

  it('the process list tells done, failed and killed apart, in words and colour', async () => {
    // a step budget of 1 for a task that needs two steps (calculator, then the answer): it fails
    const failed = await kernel.spawn({
      name: 'over-budget',
      task: 'What is 17 * 23 + 4?',
      budgets: { maxSteps: 1 },
    });
    expect((await kernel.wait(failed, 30_000)).exitReason).toBeTruthy();
    const all = (await kernel.status()).processes;
    const done = all.find((p) => p.name === 'needs-approval')!.pid;
    const killed = all.find((p) => p.name === 'to-kill')!.pid;
    await page.goto(`${server.url}/#/processes`);
    const badge = (pid: number) => page.locator(`tr[data-pid="${pid}"] .result`);
    await badge(failed).waitFor();
    const seen: Record<string, { word: string; colour: string }> = {};
    for (const [what, pid] of [
      ['done', done],
      ['failed', failed],
      ['killed', killed],
    ] as const) {
      expect(await badge(pid).getAttribute('data-outcome')).toBe(what);
      const word = (await badge(pid).locator('b').textContent()) ?? '';
      // the word's pill colour (a function: evaluate() runs it with the element)
      const colour = await badge(pid)
        .locator('b')
        .evaluate(
          (el) =>
            (
              globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }
            ).getComputedStyle(el).backgroundColor,
        );
      seen[what] = { word, colour: String(colour) };
    }
    expect(seen.done!.word).toBe('done');
    expect(seen.failed!.word).toBe('failed');
    expect(seen.killed!.word).toBe('killed');
    expect(seen.done!.colour).not.toBe(seen.failed!.colour);
    // the answer of a done process and the reason of a failed one are in the row itself
    expect(await badge(done).textContent()).toContain('42');
    expect(await badge(failed).textContent()).toMatch(/step|budget/i);
    await shot('02-processes');
  });

  it('MCP servers: adds one with its environment, lists its tools, reconnects and removes it', async () => {
    // a stdio MCP server whose one tool answers with an environment variable the form sets
    const req = createRequire(join(root, 'package.json'));
    const sdk = (p: string) => pathToFileURL(req.resolve(`@modelcontextprotocol/sdk/${p}`)).href;
    const script = join(dataDir, 'greet-mcp.mjs');
    writeFileSync(
      script,
      `import { McpServer } from ${JSON.stringify(sdk('server/mcp.js'))};
import { StdioServerTransport } from ${JSON.stringify(sdk('server/stdio.js'))};
const s = new McpServer({ name: 'greet', version: '1.0.0' });
s.registerTool('whoami', { description: 'says GREETING', inputSchema: {} }, async () => ({
  content: [{ type: 'text', text: 'GREETING=' + process.env.GREETING }],
}));
await s.connect(new StdioServerTransport());
`,
    );
    await page.goto(`${server.url}/#/tools`);
    const form = page.locator('[data-testid=mcp-form]');
    await form.locator('input[name=mcpName]').fill('greet');
    await form.locator('input[name=command]').fill(process.execPath);
    await form.locator('textarea[name=args]').fill(script);
    await form.locator('textarea[name=env]').fill('GREETING=hello-from-the-form');
    // the script lives in this test's 0700 temp dir, which the sandbox uid cannot enter
    await form.locator('input[name=sandbox]').uncheck();
    await form.locator('button[type=submit]').click();
    await expect
      .poll(() => page.locator('[data-testid=mcp-result]').textContent(), { timeout: 30_000 })
      .toContain('greet: connected, 1 tools');
    const row = page.locator('tr[data-server=greet]');
    expect(await row.getAttribute('data-state')).toBe('connected');
    await row.locator('button:has-text("tools")').click();
    expect(await page.locator('[data-testid=mcp-tools]').textContent()).toContain('greet.whoami');
    await page.waitForSelector('td.mono:has-text("greet.whoami")'); // and in the tools table
    const called = await fetch(`${server.url}/api/v1/tools/greet.whoami/call`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ arguments: {} }),
    });
    expect(await called.text()).toContain('GREETING=hello-from-the-form');
    await shot('11-mcp');
    await row.locator('button:has-text("Reconnect")').click();
    await expect
      .poll(
        async () =>
          `${await page.locator('[data-testid=mcp-result]').textContent()}${await page
            .locator('[data-testid=mcp] [role=alert]')
            .textContent()
            .catch(() => '')}`,
        { timeout: 30_000 },
      )
      .toContain('greet: reconnected — connected, 1 tools');
    await expect.poll(() => row.locator('td').nth(5).textContent()).toBe('1'); // reconnects
    page.once('dialog', (d) => void d.accept());
    await row.locator('button:has-text("Remove")').click();
    await row.waitFor({ state: 'detached' });
    await page.waitForSelector('td.mono:has-text("greet.whoami")', { state: 'detached' });
    expect((await kernel.devices.registry.list()).map((t) => t.name)).not.toContain('whoami');
  });

  it('API tokens: creates one with a role (secret shown once), shows its last use, revokes it', async () => {
    await page.goto(`${server.url}/#/tokens`);
    const form = page.locator('[data-testid=token-form]');
    await form.locator('input[name=tokenName]').fill('ci-bot');
    await form.locator('select[name=role]').selectOption('viewer');
    await form.locator('button[type=submit]').click();
    const secret = ((await page.locator('[data-testid=token-secret] pre').textContent()) ?? '').trim();
    expect(secret).toMatch(/^aos_/);
    const row = page.locator('tr[data-token=ci-bot]');
    expect(await row.locator('.pill').textContent()).toBe('viewer');
    expect(await row.locator('.last-used').textContent()).toBe('never');
    const as = (t: string, path: string, method = 'GET') =>
      fetch(`${server.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${t}` } });
    expect(((await (await as(secret, '/whoami')).json()) as { role: string }).role).toBe('viewer');
    expect((await as(secret, '/processes/1/kill', 'POST')).status).toBe(403); // a viewer cannot act
    await page.reload();
    await expect.poll(() => row.locator('.last-used').textContent()).not.toBe('never');
    await shot('12-tokens');
    page.once('dialog', (d) => void d.accept());
    await row.locator('button:has-text("Revoke")').click();
    await expect.poll(() => row.getAttribute('data-state')).toBe('revoked');
    expect((await as(secret, '/whoami')).status).toBe(401);
  });

  it('memory: lists an owner, searches with the rank of each arm, inspects one in full and deletes it', async () => {
    const keep = await kernel.storage.memory.store({
      owner: 'team',
      content: 'The deploy key rotates every Tuesday at 09:00 UTC; ask #ops for the new one.',
      metadata: { source: 'browser test' },
    });
    await kernel.storage.memory.store({ owner: 'team', content: 'Lunch is at noon in the big room.' });
    await page.goto(`${server.url}/#/memory`);
    const form = page.locator('[data-testid=memory-form]');
    await form.locator('input[name=owner]').fill('team');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=memories] tbody tr').count()).toBe(2);
    await form.locator('input[name=q]').fill('when does the deploy key rotate');
    await form.locator('button[type=submit]').click();
    const first = page.locator('[data-testid=memories] tbody tr').first();
    await expect.poll(() => first.getAttribute('data-memory')).toBe(keep.id);
    expect(await first.textContent()).toMatch(/#1/); // its rank in an arm
    await first.click();
    const detail = page.locator('[data-testid=memory-detail]');
    expect(await detail.locator('[data-testid=memory-content]').textContent()).toBe(keep.content);
    expect(await detail.textContent()).toContain('browser test');
    await shot('13-memory');
    page.once('dialog', (d) => void d.accept());
    await detail.locator('button:has-text("Delete")').click();
    await detail.waitFor({ state: 'detached' });
    expect(await kernel.storage.memory.get(keep.id)).toBeNull();
    const hits = await kernel.storage.memory.search({ owner: 'team', query: 'deploy key' });
    expect(hits.map((h) => h.id)).not.toContain(keep.id);
  });

  it('lays out at 1100, 1400 and 1920 px: no page or table overflows sideways, the header stays on one line', async () => {
    const pid = (await kernel.status()).processes.find((p) => p.state === 'terminated')!.pid;
    const pages = [
      'processes',
      `proc/${pid}`,
      'tree',
      'scheduler',
      'approvals',
      'tools',
      'memory',
      'audit',
      'tokens',
      'metrics',
    ];
    const problems: string[] = [];
    for (const width of [1100, 1400, 1920]) {
      await page.setViewportSize({ width, height: 900 });
      for (const p of pages) {
        await page.goto(`${server.url}/#/${p}`);
        await page.waitForSelector('main .card');
        if (p === 'audit')
          await page.waitForSelector('main table', { timeout: 10_000 }).catch(() => undefined);
        // evaluated in the page (a string: this file is compiled without the DOM library)
        const m = (await page.evaluate(`(() => {
          const bar = document.querySelector('.bar');
          const wide = [...document.querySelectorAll('main .card')]
            .filter((c) => c.scrollWidth > c.clientWidth + 1)
            .map((c) => (c.querySelector('h2')?.textContent ?? c.className).trim().slice(0, 40));
          const tables = [...document.querySelectorAll('main table')]
            .filter((t) => t.getBoundingClientRect().right > document.documentElement.clientWidth + 1
              || t.scrollWidth > t.parentElement.clientWidth + 1)
            .map((t) => (t.closest('.card')?.querySelector('h2')?.textContent ?? 'table').trim().slice(0, 40));
          const nav = document.querySelector('.bar nav');
          return {
            tables,
            navWraps: nav ? nav.scrollHeight > 40 : false,
            scroll: document.documentElement.scrollWidth,
            inner: window.innerWidth,
            barHeight: bar ? bar.offsetHeight : 0,
            wide,
          };
        })()`)) as {
          scroll: number;
          inner: number;
          barHeight: number;
          wide: string[];
          tables: string[];
          navWraps: boolean;
        };
        if (m.scroll > m.inner) problems.push(`${width} ${p}: page ${m.scroll} px wide in ${m.inner}`);
        // one line of the header is ~46 px; a wrapped one is twice that
        if (m.barHeight > 60) problems.push(`${width} ${p}: header wraps (${m.barHeight} px high)`);
        if (m.navWraps) problems.push(`${width} ${p}: the tabs wrap`);
        for (const w of m.wide) problems.push(`${width} ${p}: card "${w}" overflows`);
        for (const t of m.tables) problems.push(`${width} ${p}: table in "${t}" overflows`);
        await shot(`layout-${width}-${p.replace('/', '-')}`);
        if (p.startsWith('proc/')) await shot(`17-layout-${width}`);
      }
    }
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(`${server.url}/#/processes`);
    expect(problems).toEqual([]);
  }, 300_000); // 30 page loads with screenshots: a hang guard for a loaded machine, not a speed bound

  it('shows the scheduler, tools, a verified audit chain and the charts', async () => {
    await page.click('a[href="#/scheduler"]');
    await page.waitForSelector('text=LLM slots');
    expect(await page.locator('main').textContent()).toContain((await kernel.status()).scheduler.policy);
    await shot('07-scheduler');
    await page.click('a[href="#/tools"]');
    await page.waitForSelector('td.mono:has-text("calculator")');
    await page.click('a[href="#/audit"]');
    await page.click('[data-testid=verify]');
    expect(await page.locator('[data-testid=verdict]').textContent()).toContain('intact');
    await shot('08-audit');
    await page.click('a[href="#/metrics"]');
    // two metrics ticks drew a line (attached, not visible: an idle series is a flat line with no height)
    await page.waitForSelector('figure.chart svg path[d*="L"]', { state: 'attached', timeout: 30_000 });
    expect(await page.locator('figure.chart').count()).toBe(5);
    await shot('09-metrics');
  });

  it('shows learning: a trajectory with its tools, the analysis, lessons (forget one) and eval runs', async () => {
    const pid = await kernel.spawn({ name: 'learn-calc', task: 'What is 17 * 23 + 4?' });
    await kernel.wait(pid, 30_000);
    const learned = await kernel.learning.onExit(pid); // what learning.enabled does at exit
    expect(learned.length).toBeGreaterThan(0);
    mkdirSync(join(dataDir, 'evals'), { recursive: true });
    const run = (d: string, passRate: number) =>
      JSON.stringify({
        suite: 'simulator',
        startedAt: d,
        regressions: [],
        summary: { passRate, runs: 5, stepsMean: 2.2, tokensMean: 900, costTotal: 0 },
      });
    writeFileSync(
      join(dataDir, 'evals', 'simulator.jsonl'),
      `${run('2026-11-30T10:00:00Z', 0.6)}\n${run('2026-12-01T10:00:00Z', 1)}\n`,
    );
    await page.click('a[href="#/learning"]');
    await page.fill('input[name=agent]', 'learn-calc');
    await page.click('form:has(input[name=agent]) button[type=submit]');
    const row = page.locator(`[data-testid=trajectories] tr[data-pid="${pid}"]`);
    await row.waitFor();
    await expect
      .poll(() => page.locator('[data-testid=analysis] h3').textContent())
      .toBe('Analysis: learn-calc');
    expect(await page.locator('[data-testid=analysis]').textContent()).toContain('success 100%');
    await row.click();
    await page.waitForSelector('[data-testid=trajectory] li.step');
    expect(await page.locator('[data-testid=trajectory]').textContent()).toContain('calculator');
    const lesson = page.locator(`[data-lesson="${learned[0]!.id}"]`);
    expect(await lesson.textContent()).toContain(`pid ${pid}`);
    await shot('10-learning');
    await lesson.locator('button:has-text("Forget")').click();
    await lesson.waitFor({ state: 'detached' });
    expect(await kernel.learning.lessons.list()).not.toContainEqual(
      expect.objectContaining({ id: learned[0]!.id }),
    );
    await page.waitForSelector('[data-testid=evals] tbody tr >> nth=1');
    expect(await page.locator('figure.chart', { hasText: 'pass rate' }).textContent()).toContain('100%');
  });
  it('the process tree: a parent waiting on its child, the child waiting on an approval, the mail between them', async () => {
    const root = await kernel.spawn({
      name: 'tree-parent',
      task: 'Run `echo from-the-child` in the shell',
      program: 'parent',
    });
    await expect
      .poll(async () => (await kernel.status()).processes.find((p) => p.parentPid === root)?.waitOn ?? '', {
        timeout: 30_000,
      })
      .toMatch(/^approval/);
    const child = (await kernel.status()).processes.find((p) => p.parentPid === root)!.pid;
    await page.goto(`${server.url}/#/processes`);
    await page.click('[data-testid=tree-link]');
    const parentRow = page.locator(`[data-testid=tree] tr[data-pid="${root}"]`);
    const childRow = page.locator(`[data-testid=tree] tr[data-pid="${child}"]`);
    await childRow.waitFor();
    expect(await childRow.getAttribute('data-parent')).toBe(String(root));
    expect(Number(await childRow.getAttribute('data-depth'))).toBe(
      Number(await parentRow.getAttribute('data-depth')) + 1,
    );
    await expect.poll(() => parentRow.locator('.state').getAttribute('data-wait')).toBe(`child:${child}`);
    expect(await childRow.locator('.state').getAttribute('data-wait')).toMatch(/^approval:/);
    expect((await parentRow.locator('td.sent').textContent())?.trim()).toBe('1');
    expect((await childRow.locator('td.received').textContent())?.trim()).toMatch(/^1/);
    const edge = page.locator(`[data-testid=mail-edges] tr[data-from="${root}"][data-to="${child}"]`);
    expect(await edge.locator('td').nth(2).textContent()).toBe('1');
    await shot('18-tree');
  });

  it('the tool runner: a form from the schema, run under a chosen process’s policy, the audit entry shown', async () => {
    // a live process whose policy allows the shell only (parked on approving it)
    const locked = await kernel.spawn({
      name: 'shell-only',
      task: 'Run `echo locked` in the shell',
      policy: { allowed_tools: ['shell'], ask_tools: ['shell'] },
    });
    await expect
      .poll(async () => (await kernel.get(locked)).waitOn, { timeout: 30_000 })
      .toMatch(/^approval/);
    await page.goto(`${server.url}/#/tools`);
    await page.click('tr[data-tool=calculator]');
    const runner = page.locator('[data-testid=tool-runner]');
    const field = runner.locator('[name=arg-expression]');
    await field.fill('6 * 7');
    // under no process: the configured default policy allows it
    await runner.locator('button[type=submit]').click();
    await expect.poll(() => runner.locator('[data-testid=tool-result]').textContent()).toContain('42');
    const okId = Number(await runner.locator('[data-testid=tool-audit]').getAttribute('data-audit'));
    const api = await kernel.audit.list({ stream: 'api', limit: 1000 });
    expect(api.find((e) => e.id === okId)?.kind).toBe('io.tool_call');
    // under the shell-only process: its policy refuses the calculator, and the refusal is in its stream
    await expect.poll(() => runner.locator(`select[name=runAs] option[value="${locked}"]`).count()).toBe(1);
    await runner.locator('select[name=runAs]').selectOption(String(locked));
    await runner.locator('button[type=submit]').click();
    await expect
      .poll(() => runner.locator('[data-testid=tool-result]').textContent())
      .toContain('refused or failed');
    const refusedId = Number(await runner.locator('[data-testid=tool-audit]').getAttribute('data-audit'));
    const mine = await kernel.audit.list({ stream: `proc:${locked}`, limit: 1000 });
    const refused = mine.find((e) => e.id === refusedId);
    expect(refused?.kind).toBe('io.tool_error');
    expect((refused?.payload as { tool: string }).tool).toBe('calculator');
    await shot('19-tool-runner');
    await kernel.kill(locked);
  });
});
