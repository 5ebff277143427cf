/**
 * The network allowlist of sandboxed commands: an HTTP proxy (CONNECT for TLS, absolute-URL requests for
 * plain HTTP) listening on a unix socket that is bound into the sandbox, which otherwise has no network.
 * Each request's host is checked against the allowlist and its resolved addresses against private ranges
 * (SecurityPolicy.checkHost). Anything not spoken through the proxy has no route at all.
 */
import { lookup } from 'node:dns/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { KernelError } from '../../errors.js';
import { logger } from '../../util/log.js';
import { SecurityPolicy } from '../policy.js';

const log = logger('sandbox.proxy');

export interface AllowlistProxy {
  readonly socketPath: string;
  /** Hosts refused so far (for audit and tests). */
  readonly refused: string[];
  close(): Promise<void>;
}

async function admit(policy: SecurityPolicy, host: string): Promise<string> {
  const addrs = await lookup(host, { all: true }).catch(() => {
    throw new KernelError('ENOTFOUND', `cannot resolve ${host}`);
  });
  policy.checkHost(
    host,
    addrs.map((a) => a.address),
  );
  return addrs[0]?.address ?? host;
}

export async function startAllowlistProxy(
  socketPath: string,
  allow: readonly string[],
): Promise<AllowlistProxy> {
  const policy = new SecurityPolicy({ permission_level: 'standard', network_allow: [...allow] });
  const refused: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URL required (this is a proxy)\n');
      return;
    }
    admit(policy, url.hostname)
      .then((address) => {
        const up = httpRequest(
          {
            host: address,
            port: url.port || 80,
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
        refused.push(url.hostname);
        res.writeHead(403).end(`${e instanceof Error ? e.message : String(e)}\n`);
      });
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const [host = '', portText = '443'] = (req.url ?? '').split(/:(?=\d+$)/);
    admit(policy, host)
      .then((address) => {
        const up = connect(Number(portText), address, () => {
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
        refused.push(host);
        log.debug('refused CONNECT', { host });
        client.end(`HTTP/1.1 403 Forbidden\r\n\r\n${e instanceof Error ? e.message : String(e)}\n`);
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
