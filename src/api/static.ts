/**
 * Serves the built dashboard (Vue, built by Vite into web/dist and copied to dist/web by the build) at `/`,
 * with index.html as the fallback for client-side routes. Without a build, `/` explains how to make one.
 * Small on purpose: a handful of static files does not need a plugin dependency.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** dist/web next to the compiled server, else web/dist in a source checkout. */
export function findDashboard(explicit?: string): string | null {
  const candidates = explicit
    ? [resolve(explicit)]
    : [
        fileURLToPath(new URL('../web/', import.meta.url)),
        fileURLToPath(new URL('../../web/dist/', import.meta.url)),
      ];
  for (const c of candidates) if (existsSync(join(c, 'index.html'))) return c;
  return null;
}

export const NOT_BUILT_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>agent-os-kernel</title>
<style>body{font:15px/1.6 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}code{background:#f4f4f4;padding:.1rem .3rem}</style></head>
<body><h1>agent-os-kernel</h1><p>The kernel and its API are running, but the web dashboard is not built.</p>
<p>Build it with <code>npm run build</code> (or <code>npm run build:web</code>) and restart <code>aos start</code>.</p>
<p>Meanwhile: the API is under <a href="/api/v1/health"><code>/api/v1</code></a>, its OpenAPI document at <a href="/docs"><code>/docs</code></a>, live events at <code>/api/v1/events</code>, Prometheus metrics at <code>/metrics</code>. The admin token is in <code>&lt;data_dir&gt;/admin.token</code>.</p></body></html>`;

export function mountDashboard(app: FastifyInstance, dir: string | null): void {
  const root = dir ? resolve(dir) : null;
  const send = (path: string) => {
    const body = readFileSync(path);
    const type = TYPES[extname(path)] ?? 'application/octet-stream';
    // Vite's hashed assets never change; index.html must always be revalidated.
    const cache = path.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache';
    return { body, type, cache };
  };
  app.get('/*', async (req, reply) => {
    // Fastify has decoded the path once already; decoding again would turn %252f into a separator.
    const url = (req.params as { '*': string })['*'] ?? '';
    if (url.startsWith('api/') || url === 'api') {
      reply.code(404);
      return {
        error: { code: 'ENOTFOUND', message: `no route ${req.method} /${url}; GET /docs lists the API` },
      };
    }
    if (!root) {
      reply.type('text/html; charset=utf-8');
      return NOT_BUILT_PAGE;
    }
    let file = resolve(root, `.${sep}${url}`);
    // Under the dashboard's own directory: the prefix must end at a separator (/web is not /webx).
    if (url.includes('\0') || (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep))) {
      reply.code(404);
      return { error: { code: 'ENOTFOUND', message: 'no such file' } };
    }
    if (!existsSync(file) || !statSync(file).isFile()) {
      // A path with an extension is a missing asset; anything else is a client-side route.
      if (extname(url)) {
        reply.code(404);
        return { error: { code: 'ENOTFOUND', message: `no file /${url} in the dashboard build` } };
      }
      file = join(root, 'index.html');
    }
    const f = send(file);
    reply.type(f.type).header('cache-control', f.cache);
    return f.body;
  });
}
