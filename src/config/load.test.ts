import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../errors.js';
import { DEFAULT_STORAGE_URL } from '../param.js';
import { loadConfig, parseConfigText } from './load.js';
import { CONFIG_TEMPLATE } from './template.js';

const env = { DEEPSEEK_API_KEY: 'sk-test-deepseek-0000000000000000', HOME: '/root' };

function errorOf(fn: () => unknown): KernelError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelError) return e;
    throw e;
  }
  throw new Error('expected a KernelError');
}

describe('config', () => {
  it('accepts the seeds config and interpolates ${ENV}', () => {
    const seeds = `
api_keys:
  deepseek: "\${DEEPSEEK_API_KEY}"
  kimi: "\${KIMI_API_KEY}"
llms:
  models:
    - name: "deepseek-chat"
      provider: "deepseek"
    - name: "moonshot-v1-32k"
      provider: "kimi"
default_model: "deepseek-chat"
`;
    const { config, unsetEnv } = parseConfigText(seeds, 'seeds.yaml', env);
    expect(config.api_keys.deepseek).toBe(env.DEEPSEEK_API_KEY);
    expect(config.api_keys.kimi).toBe('');
    expect(unsetEnv).toEqual(['KIMI_API_KEY']);
    expect(config.llms.models.map((m) => m.provider)).toEqual(['deepseek', 'kimi']);
    expect(config.default_model).toBe('deepseek-chat');
    expect(config.storage.url).toBe(DEFAULT_STORAGE_URL);
    expect(config.server.host).toBe('127.0.0.1');
  });

  it('supports ${ENV:-default}', () => {
    const { config } = parseConfigText(
      'storage:\n  url: "${AOS_URL:-postgres://localhost/x}"\n',
      'c.yaml',
      {},
    );
    expect(config.storage.url).toBe('postgres://localhost/x');
  });

  it('names the file, key path, found value and expectation on a bad value', () => {
    const e = errorOf(() => parseConfigText('server:\n  port: "eighty"\n', '/etc/aos.yaml', {}));
    expect(e.code).toBe('ECONFIG');
    expect(e.message).toContain('/etc/aos.yaml');
    expect(e.message).toContain("'server.port'");
    expect(e.message).toContain('found string "eighty"');
    expect(e.message).toContain('expected number');
  });

  it('rejects unknown keys and bad enums clearly', () => {
    const e = errorOf(() => parseConfigText('shedular:\n  policy: fair\n', 'c.yaml', {}));
    expect(e.message).toContain("unknown key 'shedular'");
    const e2 = errorOf(() => parseConfigText('scheduler:\n  policy: lottery\n', 'c.yaml', {}));
    expect(e2.message).toContain("'scheduler.policy'");
    expect(e2.message).toContain('"fair"');
  });

  it('reports YAML syntax errors with a line number', () => {
    const e = errorOf(() => parseConfigText('server:\n  port: [1, 2\n', 'c.yaml', {}));
    expect(e.message).toMatch(/c\.yaml:\d+:\d+: YAML syntax error/);
  });

  it('the template and config.example.yaml are the same valid document', () => {
    expect(readFileSync(new URL('../../config.example.yaml', import.meta.url), 'utf8')).toBe(CONFIG_TEMPLATE);
    const { config } = parseConfigText(CONFIG_TEMPLATE, 'template', env);
    expect(config.llms.models.length).toBeGreaterThan(0);
    expect(config.storage.url).toBe('pglite://./.aos/data');
  });

  it('runs on defaults without a file, and errors on an explicit missing file', () => {
    expect(loadConfig({ cwd: '/nonexistent-dir', env: {} }).file).toBeNull();
    const e = errorOf(() => loadConfig({ path: 'missing.yaml', cwd: '/tmp', env: {} }));
    expect(e.message).toContain('aos config init');
  });

  it('one default policy: no file, an empty file and the template agree (shell asks first)', () => {
    const none = loadConfig({ cwd: '/nonexistent-dir', env: {} }).config.security.default_policy;
    const empty = parseConfigText('{}', 'empty', env).config.security.default_policy;
    const tpl = parseConfigText(CONFIG_TEMPLATE, 'template', env).config.security;
    expect(none.ask_tools).toEqual(['shell']);
    expect(empty).toEqual(none);
    // no workspace among allowed_paths: a process's own is given apart, the root would be every process's
    expect(tpl.default_policy).toEqual(none);
    // a workspace per process, with and without a config file
    expect(tpl.shared_workspace).toBe(false);
    expect(loadConfig({ cwd: '/nonexistent-dir', env: {} }).config.security.shared_workspace).toBe(false);
    expect(parseConfigText('{}', 'empty', env).config.security.shared_workspace).toBe(false);
  });
});
