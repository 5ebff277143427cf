/**
 * The network allowlist of sandboxed commands: an HTTP proxy (CONNECT for TLS, absolute-URL requests for
 * plain HTTP) listening on a unix socket that is bound into the sandbox, which otherwise has no network.
 * Order matters: the host name and port are checked against the allowlist BEFORE any DNS lookup (a refused
 * name is never resolved, so it cannot carry data out through a resolver), then every resolved address
 * against the private ranges, then the proxy connects to the address it checked (no second lookup to
 * rebind). Every refusal is reported through `onRefused` so the caller audits it.
 */
import { lookup } from 'node:dns/promises';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelError } from '../../errors.js';
import { logger } from '../../util/log.js';
import { SecurityPolicy } from '../policy.js';
import type { NetworkRefusal } from '../sandbox.js';

const log = logger('sandbox.proxy');

export interface AllowlistProxy {
  readonly socketPath: string;
  /** Hosts refused so far (for audit and tests). */
  readonly refused: string[];
  close(): Promise<void>;
}

export interface ProxyOptions {
  onRefused?: (ev: NetworkRefusal) => void;
}

/**
 * The proxy a sandboxed command gets: its socket in a fresh 0700 directory of the kernel's user (the
 * sandbox binds it in), owned by the sandbox uid when there is one. Its teardown (close, remove the
 * directory) is pushed onto `cleanups`; returns the socket's path.
 */
export async function startSandboxProxy(
  allow: readonly string[],
  onRefused: ((ev: NetworkRefusal) => void) | undefined,
  owner: { uid: number; gid: number } | null | undefined,
  cleanups: Array<() => Promise<void> | void>,
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'aos-proxy-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'proxy.sock');
  const proxy = await startAllowlistProxy(sock, allow, onRefused ? { onRefused } : {});
  cleanups.push(() => proxy.close());
  if (owner) chownSync(sock, owner.uid, owner.gid);
  return sock;
}

/** Checks name and port, then resolves and checks the addresses; returns the address to connect to. */
export async function admitTarget(policy: SecurityPolicy, host: string, port: number): Promise<string> {
  const h = host.replace(/^\[|\]$/g, '');
  policy.checkHost(h, [], port); // before DNS
  const addrs = isIP(h)
    ? [h]
    : (
        await lookup(h, { all: true }).catch(() => {
          throw new KernelError('ENOTFOUND', `cannot resolve ${h}`);
        })
      ).map((a) => a.address);
  policy.checkHost(h, addrs, port);
  const first = addrs[0];
  if (!first) throw new KernelError('ENOTFOUND', `cannot resolve ${h}`);
  return first;
}

function parsePort(text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : -1;
}

export async function startAllowlistProxy(
  socketPath: string,
  allow: readonly string[],
  opts: ProxyOptions = {},
): Promise<AllowlistProxy> {
  const policy = new SecurityPolicy({ permission_level: 'standard', network_allow: [...allow] });
  const refused: string[] = [];
  const sockets = new Set<Socket>();
  const refuse = (host: string, port: number, e: unknown): string => {
    const reason = e instanceof Error ? e.message : String(e);
    refused.push(host);
    log.debug('refused', { host, port });
    try {
      opts.onRefused?.({ host, port, reason });
    } catch {
      // the auditor's failure is its own to report; the connection is refused either way
    }
    return reason;
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('not http');
    } catch {
      res.writeHead(400).end('absolute http:// URL required (this is a proxy)\n');
      return;
    }
    const port = parsePort(url.port, 80);
    admitTarget(policy, url.hostname, port)
      .then((address) => {
        const up = httpRequest(
          {
            host: address,
            port,
            method: req.method,
            path: url.pathname + url.search,
            headers: { ...req.headers, host: url.host },
          },
          (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
          },
        );
        up.on('error', (e) => res.writeHead(502).end(`upstream error: ${e.message}\n`));
        req.pipe(up);
      })
      .catch((e: unknown) => {
        res.writeHead(403).end(`${refuse(url.hostname, port, e)}\n`);
      });
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const [host = '', portText] = (req.url ?? '').split(/:(?=\d+$)/);
    const port = parsePort(portText, 443);
    admitTarget(policy, host, port)
      .then((address) => {
        const up = connect(port, address, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length) up.write(head);
          up.pipe(client);
          client.pipe(up);
        });
        sockets.add(up);
        up.on('close', () => sockets.delete(up));
        up.on('error', () => client.destroy());
      })
      .catch((e: unknown) => {
        client.end(`HTTP/1.1 403 Forbidden\r\n\r\n${refuse(host, port, e)}\n`);
      });
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(socketPath, () => res());
  });
  return {
    socketPath,
    refused,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
