/**
 * GET /docs in a real browser (headless Chromium): every operation of the OpenAPI document is listed with its
 * parameters and schemas, and its try-it form sends the request with the token and shows the answer — a
 * public route without a token, an operator route with one (the memory it stores exists afterwards). Every
 * request the page makes goes to this server (nothing from a CDN).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';

const CHROMIUM = process.env.AOS_CHROMIUM ?? '/usr/bin/chromium';

describe.skipIf(!existsSync(CHROMIUM))('/docs: the API reference with try-it, served locally', () => {
  let kernel: Kernel;
  let server: ApiServer;
  let ctx: BrowserContext;
  let page: Page;
  let dir: string;
  let token: string;
  const origins = new Set<string>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aos-docs-'));
    kernel = await createKernel({
      config: { data_dir: dir, storage: { url: 'memory://' }, security: { workspace: join(dir, 'ws') } },
      recover: false,
      plugins: false,
    });
    server = await createServer(kernel, { host: '127.0.0.1', port: 0, dataDir: dir });
    token = readFileSync(server.adminTokenFile, 'utf8').trim();
    ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(30_000);
    page.on('request', (r) => origins.add(new URL(r.url()).origin));
  }, 180_000);

  afterAll(async () => {
    await ctx?.close();
    await server?.close();
    await kernel?.shutdown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lists every route of the document', async () => {
    await page.goto(`${server.url}/docs`);
    await page.waitForSelector('details.op');
    const doc = (await (await fetch(`${server.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const want = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    const shown = await page
      .locator('details.op')
      .evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { op: string } }).dataset.op));
    expect(shown.sort()).toEqual(want.sort());
  });

  it('tries a public route without a token and an operator route with one', async () => {
    const health = page.locator('details.op[data-op="get /api/v1/health"]');
    await health.locator(':scope > summary').click();
    await health.locator('button[type=submit]').click();
    await expect.poll(() => health.locator('[data-testid=status]').textContent()).toMatch(/^200 /);
    expect(await health.locator('[data-testid=response]').textContent()).toContain('"ok": true');

    const store = page.locator('details.op[data-op="post /api/v1/memory"]');
    await store.locator(':scope > summary').click();
    // the body is prefilled from the schema's required fields
    expect(JSON.parse(await store.locator('textarea[name=body]').inputValue())).toEqual({ content: '' });
    await store
      .locator('textarea[name=body]')
      .fill('{"content": "stored from the docs page", "owner": "docs"}');
    await store.locator('button[type=submit]').click();
    await expect.poll(() => store.locator('[data-testid=status]').textContent()).toMatch(/^401 /);
    await page.fill('#token', token);
    await page.locator('#token').dispatchEvent('change');
    await store.locator('button[type=submit]').click();
    await expect.poll(() => store.locator('[data-testid=status]').textContent()).toMatch(/^201 /);
    const [m] = await kernel.storage.memory.list({ owner: 'docs' });
    expect(m?.content).toBe('stored from the docs page');
    expect(await store.locator('[data-testid=response]').textContent()).toContain(m!.id);

    const get = page.locator('details.op[data-op="get /api/v1/memory/{id}"]');
    await get.locator(':scope > summary').click();
    await get.locator('input[name=id]').fill(m!.id);
    await get.locator('button[type=submit]').click();
    await expect.poll(() => get.locator('[data-testid=status]').textContent()).toMatch(/^200 /);
    expect([...origins]).toEqual([server.url]);
  });
});
