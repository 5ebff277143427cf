import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { KernelError } from '../errors.js';
import { HttpClient, parseId, readToken, type ServerEvent, SseParser, serverUrl } from './client.js';
import { splitWords } from './commands/shell.js';

describe('SseParser', () => {
  it('parses events split across chunks, CRLF lines, comments and multi-line data', () => {
    const got: ServerEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    p.push(': heartbeat\n\nevent: proc.st');
    p.push('ate\ndata: {"pid":3,"to":"running"}\n\n');
    p.push('event: proc.exit\r\ndata: {"pid":3,\r\ndata: "state":"zombie"}\r\n\r\n');
    p.push('data: not json\n\n');
    expect(got).toEqual([
      { event: 'proc.state', data: { pid: 3, to: 'running' } },
      { event: 'proc.exit', data: { pid: 3, state: 'zombie' } },
      { event: 'message', data: { text: 'not json' } },
    ]);
  });
});

describe('splitWords', () => {
  it('groups quoted words and unescapes', () => {
    expect(splitWords('spawn "What is 6 * 7?" 10 sim-react')).toEqual([
      'spawn',
      'What is 6 * 7?',
      '10',
      'sim-react',
    ]);
    expect(splitWords(`spawn 'a "b" c' "say \\"hi\\""`)).toEqual(['spawn', 'a "b" c', 'say "hi"']);
    expect(splitWords('   ')).toEqual([]);
  });
});

describe('connection settings', () => {
  const config = parseConfig(
    { data_dir: '/nonexistent-aos', server: { host: '0.0.0.0', port: 9999 } },
    'test',
  ).config;
  it('turns a wildcard bind into a loopback URL, and AOS_URL wins', () => {
    expect(serverUrl(config, {})).toBe('http://127.0.0.1:9999');
    expect(serverUrl(config, { AOS_URL: 'http://h:1/' })).toBe('http://h:1');
  });
  it('reads AOS_TOKEN, else the token file, else nothing', () => {
    expect(readToken(config, { AOS_TOKEN: ' t1 \n' })).toBe('t1');
    expect(readToken(config, {})).toBeNull();
  });
  it('parseId refuses what is not a positive integer', () => {
    expect(parseId('12')).toBe(12);
    for (const bad of ['0', '-1', '1.5', 'x', '']) expect(() => parseId(bad)).toThrow(/positive integer/);
  });
});

describe('HttpClient against a stub of the REST contract', () => {
  let url = '';
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
    res.setHeader('content-type', 'application/json');
    if (req.url === '/api/v1/processes/9') {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 'ENOPROC', message: 'no process 9' } }));
    } else if (req.url === '/api/v1/processes/1/kill') {
      res.statusCode = 401;
      res.end(JSON.stringify({ error: { code: 'EAUTH', message: 'bad token' } }));
    } else if (req.url?.startsWith('/api/v1/processes?')) {
      res.end(JSON.stringify({ items: [], total: 0 }));
    } else if (req.url === '/api/v1/events') {
      res.setHeader('content-type', 'text/event-stream');
      res.write('event: proc.step\ndata: {"pid":1,"stepNo":1}\n\n');
      res.end();
    } else {
      res.statusCode = 500;
      res.end('boom');
    }
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the bearer token and query, and maps error bodies to KernelErrors', async () => {
    const c = new HttpClient(url, 'secret');
    expect(await c.listProcesses({ state: 'running', limit: 5 })).toEqual({ items: [], total: 0 });
    expect(seen.at(-1)).toBe('GET /api/v1/processes?state=running&limit=5 Bearer secret');
    const e1 = await c.getProcess(9).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(KernelError);
    expect((e1 as KernelError).code).toBe('ENOPROC');
    const e2 = await c.control(1, 'kill').catch((e: unknown) => e);
    expect((e2 as KernelError).code).toBe('EPERM');
    expect((e2 as KernelError).message).toContain('AOS_TOKEN');
  });

  it('reads the event stream until it ends', async () => {
    const c = new HttpClient(url, 'secret');
    const got: ServerEvent[] = [];
    await c.events((e) => got.push(e), new AbortController().signal);
    expect(got).toEqual([{ event: 'proc.step', data: { pid: 1, stepNo: 1 } }]);
  });
});
