/**
 * The dashboard shows a step's tokens as the model streams them: headless Chromium (Debian's, driven by
 * playwright-core) on a process page while its agent's model call is still open. The agent is parked on a
 * rate limit until the page is listening, then the simulator streams a few words and holds the stream
 * open — so the text on screen can only have come from the live `llm.delta` events, before any commit.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';

const root = new URL('../../', import.meta.url).pathname;
const CHROMIUM = process.env.AOS_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(root, 'test-artifacts', 'web');

describe.skipIf(!existsSync(CHROMIUM))('dashboard: live tokens in the process view', () => {
  let kernel: Kernel;
  let server: ApiServer;
  let ctx: BrowserContext;
  let page: Page;
  let dir: string;
  let token: string;
  const sim = new SimulatedProvider({ latency: { ttftMs: 0, perTokenMs: 0 } });

  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies
  const api = async (method: string, path: string, body?: unknown): Promise<any> =>
    (
      await fetch(`${server.url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      })
    ).json();

  beforeAll(async () => {
    if (!existsSync(join(root, 'web/dist/index.html'))) {
      const { build } = await import('vite');
      await build({ configFile: join(root, 'web/vite.config.mjs'), logLevel: 'warn' });
    }
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'aos-web-stream-'));
    kernel = await createKernel({
      config: {
        data_dir: join(dir, 'data'),
        storage: { url: 'memory://' },
        security: { sandbox: 'none', workspace: join(dir, 'ws') },
        server: { demo_agents: false },
        scheduler: { provider_retry_base_ms: 20, provider_retry_max_ms: 100 },
      },
      models: resolverFromProvider(sim),
      recover: false,
      plugins: false,
    });
    server = await createServer(kernel, {
      host: '127.0.0.1',
      port: 0,
      dataDir: join(dir, 'data'),
      dashboardDir: join(root, 'web/dist'),
    });
    token = readFileSync(server.adminTokenFile, 'utf8').trim();
    ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      viewport: { width: 1440, height: 900 },
    });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(30_000);
  }, 180_000);

  afterAll(async () => {
    sim.engine.outage(null);
    await ctx?.close();
    await server?.close();
    await kernel?.shutdown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the streaming step’s text before the step commits', async () => {
    await page.goto(server.url);
    await page.fill('input[name=token]', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('.dot.ok'); // the dashboard's own event stream is connected

    sim.engine.outage({ status: 429, retryAfterMs: 600_000 });
    const { pid } = await api('POST', '/processes', { name: 'streamer', task: 'say something slowly' });
    await expect
      .poll(async () => (await api('GET', `/processes/${pid}`)).waitOn as string, { timeout: 30_000 })
      .toMatch(/^provider:/);
    const before = server.events.size;
    await page.goto(`${server.url}/#/proc/${pid}`);
    await page.waitForSelector('[data-testid=chat]');
    // the process view opened its token stream: only now may the model speak
    await expect.poll(() => server.events.size, { timeout: 30_000 }).toBeGreaterThan(before);

    const partial = 'Tokens appear in the dashboard while the model is still talking';
    sim.engine.outage(null);
    sim.engine.script([{ hang: true, partialText: partial }]);
    await api('POST', `/processes/${pid}/resume`, {});
    const live = page.locator('[data-testid=live-tokens]');
    await expect
      .poll(() => live.locator('[data-testid=live-text]').textContent(), { timeout: 30_000 })
      .toContain(partial);
    expect(await live.getAttribute('data-step')).toBe('1');
    // nothing of it is committed: the model call is still open
    const p = await api('GET', `/processes/${pid}`);
    expect({ state: p.state, stepNo: p.stepNo }).toEqual({ state: 'running', stepNo: 0 });
    await page.screenshot({ path: join(SHOTS, 'live-tokens.png') });
    await api('POST', `/processes/${pid}/kill`, {});
  }, 120_000);

  it('a cut stream starts over on screen: the cut words go, the card says so, the new attempt streams', async () => {
    sim.engine.outage({ status: 429, retryAfterMs: 600_000 });
    const { pid } = await api('POST', '/processes', { name: 'cut', task: 'get cut off' });
    await expect
      .poll(async () => (await api('GET', `/processes/${pid}`)).waitOn as string, { timeout: 30_000 })
      .toMatch(/^provider:/);
    // back to the list (the previous process page's token stream closes), then to this process
    await page.goto(`${server.url}/#/`);
    await page.waitForSelector('[data-testid=proc-table]');
    await expect.poll(() => server.events.size, { timeout: 30_000 }).toBe(1);
    await page.goto(`${server.url}/#/proc/${pid}`);
    await page.waitForSelector('[data-testid=chat]');
    await expect.poll(() => server.events.size, { timeout: 30_000 }).toBe(2);
    sim.engine.outage(null);
    // The first answer is cut halfway (the step is abandoned and parked); the retry streams and holds.
    sim.engine.script([
      { text: 'These first words belong to an attempt that will be cut off before it ends', cut: true },
      { hang: true, partialText: 'The second attempt streams from the start' },
    ]);
    await api('POST', `/processes/${pid}/resume`, {});
    const live = page.locator('[data-testid=live-tokens]');
    await expect
      .poll(() => live.locator('[data-testid=live-text]').textContent(), { timeout: 30_000 })
      .toContain('The second attempt streams from the start');
    const shown = await live.textContent();
    expect(shown).toContain('stream cut');
    expect(shown).not.toContain('These first words');
    expect((await api('GET', `/processes/${pid}`)).stepNo).toBe(0);
    await api('POST', `/processes/${pid}/kill`, {});
  }, 120_000);
});
