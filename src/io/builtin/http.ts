/**
 * http_fetch: GET/POST a URL from the kernel process under the network policy. The host must be in
 * network_allow; every address it resolves to is checked (private ranges refused unless allowed literally,
 * which blocks DNS-rebinding to 127.0.0.1 and the metadata service); redirects are followed by hand so each
 * hop is checked again. Bodies are capped; binary bodies are summarised, not dumped.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { z } from 'zod';
import { KernelError } from '../../errors.js';
import * as P from '../../param.js';
import type { SecurityPolicy } from '../../security/policy.js';
import { defineTool } from '../tool.js';

export async function checkUrl(policy: SecurityPolicy, raw: string): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new KernelError('EINVAL', `"${raw}" is not an absolute URL (expected https://host/path)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KernelError('EPERM', `only http and https URLs may be fetched, not ${url.protocol}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  // Check the name first so a refused host is never even resolved.
  policy.checkHost(host, [], port);
  const ips = isIP(host)
    ? [host]
    : (
        await lookup(host, { all: true }).catch(() => {
          throw new KernelError('ENOTFOUND', `cannot resolve ${host}`);
        })
      ).map((a) => a.address);
  policy.checkHost(host, ips, port);
  return url;
}

export const httpFetchTool = defineTool({
  name: 'http_fetch',
  description:
    'Fetch a URL over HTTP(S) (only hosts allowed by policy). Returns status, content type and body text.',
  input: z.object({
    url: z.string().min(1),
    method: z.enum(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH']).default('GET'),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.string().optional(),
  }),
  permissions: ['net'],
  idempotent: false,
  timeoutMs: 60_000,
  async run(args, ctx) {
    let url = await checkUrl(ctx.policy, args.url);
    let method: string = args.method;
    let body = args.body;
    for (let hop = 0; ; hop++) {
      const res = await fetch(url, {
        method,
        redirect: 'manual',
        signal: ctx.signal,
        ...(args.headers ? { headers: args.headers } : {}),
        ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
      });
      const loc = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && loc) {
        if (hop >= P.HTTP_FETCH_MAX_REDIRECTS)
          throw new KernelError('EINVAL', `more than ${P.HTTP_FETCH_MAX_REDIRECTS} redirects`);
        url = await checkUrl(ctx.policy, new URL(loc, url).toString());
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      const type = res.headers.get('content-type') ?? '';
      const reader = res.body?.getReader();
      const chunks: Uint8Array[] = [];
      let size = 0;
      let truncated = false;
      while (reader) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > P.TOOL_HTTP_MAX_BODY_BYTES) {
          truncated = true;
          await reader.cancel();
          break;
        }
        chunks.push(value);
      }
      const buf = Buffer.concat(chunks);
      const textual =
        /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|.*\+json|.*\+xml)/.test(type) ||
        type === '';
      return {
        status: res.status,
        url: url.toString(),
        content_type: type,
        body: textual ? buf.toString('utf8') : `[${buf.length} bytes of ${type}; not shown]`,
        truncated,
      };
    }
  },
});
