/**
 * docs/api.md is generated from the served OpenAPI document. This test fails when the committed file is
 * stale; `UPDATE_API_DOCS=1 npx vitest run test/e2e/api-docs.test.ts` rewrites it.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openApiMarkdown } from '../../src/api/openapi.js';
import { type ApiServer, createServer } from '../../src/api/server.js';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';

let kernel: Kernel | undefined;
let server: ApiServer | undefined;
afterAll(async () => {
  await server?.close();
  await kernel?.shutdown();
});

it('docs/api.md matches the OpenAPI document', async () => {
  kernel = await createKernel({
    storage: 'memory://',
    config: {
      data_dir: mkdtempSync(join(tmpdir(), 'aos-docs-')),
      security: { sandbox: 'none', workspace: mkdtempSync(join(tmpdir(), 'aos-docs-ws-')) },
    },
    plugins: false,
  });
  server = await createServer(kernel, { listen: false, dashboardDir: null });
  const md = openApiMarkdown(server.openapi());
  const file = join(import.meta.dirname, '../../docs/api.md');
  if (process.env.UPDATE_API_DOCS === '1' || !existsSync(file)) writeFileSync(file, md);
  expect(
    readFileSync(file, 'utf8'),
    'docs/api.md is stale: run UPDATE_API_DOCS=1 npx vitest run test/e2e/api-docs.test.ts',
  ).toBe(md);
  for (const r of server.routes)
    expect(md).toContain(`${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
});
