/**
 * One HTTP request from the CLI to the kernel's server, over node:http. Not `fetch`: Node loads its fetch
 * (undici) on first use, ~30–90 ms of a command's start-up, while node:http is already in the binary; a CLI
 * command makes one or two small requests, so it needs nothing undici adds. The event stream (a long-lived
 * body) still uses fetch (client.ts).
 */
import { request as httpRequest } from 'node:http';

export interface HttpAnswer {
  status: number;
  text: string;
}

/** Sends `body` (already a string) and reads the whole answer as UTF-8; rejects on a network error or timeout. */
export async function httpText(
  method: string,
  url: string,
  o: { headers?: Record<string, string>; body?: string; timeoutMs: number },
): Promise<HttpAnswer> {
  const u = new URL(url);
  // TLS only when the URL asks for it: node:https loads the TLS stack
  const send = u.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers };
    if (o.body !== undefined) headers['content-length'] = Buffer.byteLength(o.body);
    const req = send(u, { method, headers, timeout: o.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}
