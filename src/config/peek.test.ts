import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { peekServerLocation } from './peek.js';
import { CONFIG_TEMPLATE } from './template.js';

const dir = mkdtempSync(join(tmpdir(), 'aos-peek-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { AOS_PORT: '9191', HOME: '/root' };

/** peek must find the same server and token file as the full loader, or give up (null) where it throws. */
async function both(yaml: string | null) {
  const cwd = mkdtempSync(join(dir, 'c-'));
  if (yaml !== null) writeFileSync(join(cwd, 'config.yaml'), yaml);
  const peeked = await peekServerLocation({ cwd, env });
  let full: { server: { host: string; port: number }; data_dir: string } | Error;
  try {
    const { config } = loadConfig({ cwd, env });
    full = { server: { host: config.server.host, port: config.server.port }, data_dir: config.data_dir };
  } catch (e) {
    full = e as Error;
  }
  return { peeked, full };
}

describe('peekServerLocation', () => {
  it.each([
    ['no config file', null],
    ['the config init template', CONFIG_TEMPLATE],
    ['server and data_dir set', 'data_dir: ./state\nserver:\n  host: 127.0.0.2\n  port: 7000\n'],
    ['${ENV} with a default', 'server:\n  port: 7001\ndata_dir: "${AOS_DIR:-./d}"\n'],
    ['an empty document', ''],
  ])('agrees with loadConfig: %s', async (_name, yaml) => {
    const { peeked, full } = await both(yaml);
    expect(full).not.toBeInstanceOf(Error);
    expect(peeked).toEqual(full);
  });

  it.each([
    ['a port out of range', 'server:\n  port: 70000\n'],
    ['a string port', 'server:\n  port: "${AOS_PORT}"\n'],
    ['a YAML error', 'server: [\n'],
    ['a list at the top', '- a\n- b\n'],
    ['server as a list', 'server: [1]\n'],
  ])('gives up where loadConfig names an error: %s', async (_name, yaml) => {
    const { peeked, full } = await both(yaml);
    expect(full).toBeInstanceOf(Error);
    expect(peeked).toBeNull();
  });

  it('a named file that does not exist is left to loadConfig to report', async () => {
    expect(await peekServerLocation({ path: join(dir, 'nope.yaml'), cwd: dir, env })).toBeNull();
    expect(() => loadConfig({ path: join(dir, 'nope.yaml'), cwd: dir, env })).toThrow(/does not exist/);
  });
});
