import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../errors.js';
import { parseNpx, resolveLaunch } from './launch.js';

describe('sandboxed MCP launch', () => {
  it('runs `npx <installed pkg>` as node <its bin> (no network needed inside the sandbox)', () => {
    expect(parseNpx('npx', ['-y', '@scope/pkg@1.2.3', 'a'])).toEqual({ pkg: '@scope/pkg', rest: ['a'] });
    expect(parseNpx('node', ['x.js'])).toBeNull();
    // the exact entry config.example.yaml suggests
    const l = resolveLaunch(
      {
        name: 'filesystem',
        command: 'npx',
        args: ['@modelcontextprotocol/server-filesystem', './workspace'],
        env: {},
      },
      {},
    );
    expect(l.command).toBe(process.execPath);
    expect(l.args[0]).toMatch(/node_modules\/@modelcontextprotocol\/server-filesystem\/dist\/index\.js$/);
    expect(existsSync(l.args[0]!)).toBe(true);
    expect(l.args.slice(1)).toEqual(['./workspace']);
  });

  it('names the fix for a package that is not installed instead of timing out', () => {
    let err: unknown;
    try {
      resolveLaunch({ name: 'x', command: 'npx', args: ['-y', 'aos-no-such-package-xyz'], env: {} }, {});
    } catch (e) {
      err = e;
    }
    expect(KernelError.is(err, 'ENOTFOUND')).toBe(true);
    expect((err as Error).message).toContain('npm install aos-no-such-package-xyz');
  });

  it('gives each server a writable dir under the data dir; known servers are told to keep state there', () => {
    const data = mkdtempSync(join(tmpdir(), 'aos-mcp-data-'));
    const l = resolveLaunch(
      {
        name: 'memory',
        command: 'node',
        args: ['/opt/x/node_modules/@modelcontextprotocol/server-memory/dist/index.js'],
        env: {},
      },
      { dataDir: data },
    );
    const dir = join(data, 'mcp', 'memory');
    expect(existsSync(dir)).toBe(true);
    expect(l.writePaths).toEqual([dir]);
    expect(l.env.MEMORY_FILE_PATH).toBe(join(dir, 'memory.json'));
    expect(l.env.XDG_DATA_HOME).toBe(dir);
    // the entry's own env wins
    const own = resolveLaunch(
      { name: 'm', command: 'node', args: ['s.js'], env: { XDG_DATA_HOME: '/elsewhere' } },
      { dataDir: data },
    );
    expect(own.env.XDG_DATA_HOME).toBe('/elsewhere');
  });
});
