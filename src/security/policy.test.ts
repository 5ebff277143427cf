import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isPrivateAddress, SecurityPolicy } from './policy.js';

const ws = () => realpathSync(mkdtempSync(join(tmpdir(), 'aos-pol-')));

describe('SecurityPolicy', () => {
  test('accepts the seeds shape and exposes limits', () => {
    const p = new SecurityPolicy({
      permission_level: 'elevated',
      max_memory_mb: 128,
      allowed_paths: ['/tmp'],
      blocked_paths: ['/tmp/x'],
    });
    expect(p.level).toBe('elevated');
    expect(p.limits.memoryMb).toBe(128);
    expect(p.toJSON()).toMatchObject({ permission_level: 'elevated', max_memory_mb: 128 });
    expect(() => new SecurityPolicy({ permission_level: 'root' as never })).toThrow(
      /permission_level "root" is not one of readonly, standard, elevated, admin/,
    );
    expect(() => new SecurityPolicy({ max_memory_mb: -1 })).toThrow(
      /max_memory_mb must be a positive number/,
    );
  });

  test('paths: workspace ok; .. , absolute and symlink escapes refused; blocked paths always', () => {
    const w = ws();
    const p = new SecurityPolicy();
    expect(p.resolvePath('a/b.txt', 'write', w)).toBe(join(w, 'a/b.txt'));
    expect(() => p.resolvePath('../../etc/passwd', 'read', w)).toThrow(/outside the allowed paths/);
    expect(() => p.resolvePath('/etc/hostname', 'read', w)).toThrow(/outside the allowed paths/);
    symlinkSync('/etc', join(w, 'etc-link'));
    expect(() => p.resolvePath('etc-link/hostname', 'read', w)).toThrow(
      /resolves through a symlink to \/etc\/hostname/,
    );
    symlinkSync('/tmp/aos-dangling-target-xyz', join(w, 'dangling'));
    expect(() => p.resolvePath('dangling', 'write', w)).toThrow(/outside the allowed paths/);
    expect(() =>
      new SecurityPolicy({ permission_level: 'admin' }).resolvePath('/etc/shadow', 'read', w),
    ).toThrow(/blocked by policy/);
    expect(() =>
      new SecurityPolicy({ permission_level: 'admin' }).resolvePath(
        join(homedir(), '.ssh/id_rsa'),
        'read',
        w,
      ),
    ).toThrow(/blocked/);
    expect(() => p.resolvePath('a\0b', 'read', w)).toThrow(/NUL/);
  });

  test('levels: readonly cannot write; allowed_paths readable, writable only from elevated', () => {
    const w = ws();
    const extra = ws();
    writeFileSync(join(extra, 'f'), '');
    expect(() => new SecurityPolicy({ permission_level: 'readonly' }).resolvePath('x', 'write', w)).toThrow(
      /cannot write/,
    );
    const std = new SecurityPolicy({ allowed_paths: [extra] });
    expect(std.resolvePath(join(extra, 'f'), 'read', w)).toBe(join(extra, 'f'));
    expect(() => std.resolvePath(join(extra, 'f'), 'write', w)).toThrow(/outside the allowed paths/);
    expect(
      new SecurityPolicy({ permission_level: 'elevated', allowed_paths: [extra] }).resolvePath(
        join(extra, 'f'),
        'write',
        w,
      ),
    ).toBe(join(extra, 'f'));
    mkdirSync(join(w, 'blocked'));
    expect(() =>
      new SecurityPolicy({ blocked_paths: [join(w, 'blocked')] }).resolvePath('blocked/x', 'read', w),
    ).toThrow(/blocked by policy/);
  });

  test('tools: level permissions, allowed_tools patterns, ask_tools', () => {
    const p = new SecurityPolicy({
      allowed_tools: ['read_file', 'filesystem.*'],
      ask_tools: ['filesystem.write_file'],
    });
    expect(p.checkTool('read_file', ['fs.read']).decision).toBe('allow');
    expect(p.checkTool('shell', ['exec']).decision).toBe('deny');
    expect(p.checkTool('filesystem.list', ['fs.read']).decision).toBe('allow');
    expect(p.checkTool('filesystem.write_file', ['fs.write']).decision).toBe('ask');
    expect(new SecurityPolicy({ permission_level: 'readonly' }).checkTool('shell', ['exec'])).toMatchObject({
      decision: 'deny',
    });
  });

  test('network allowlist by domain, private addresses refused after resolution', () => {
    const p = new SecurityPolicy({ network_allow: ['example.com', '*.github.com'] });
    expect(p.hostAllowed('example.com')).toBe(true);
    expect(p.hostAllowed('EXAMPLE.com.')).toBe(true);
    expect(p.hostAllowed('sub.example.com')).toBe(false);
    expect(p.hostAllowed('api.github.com')).toBe(true);
    expect(p.hostAllowed('github.com')).toBe(false);
    expect(p.hostAllowed('evilgithub.com')).toBe(false);
    expect(() => p.checkHost('evil.com')).toThrow(
      /network access to evil.com is not allowed; add it to network_allow/,
    );
    expect(() => p.checkHost('example.com', ['127.0.0.1'])).toThrow(/resolves to private address 127.0.0.1/);
    expect(() =>
      new SecurityPolicy({ permission_level: 'readonly', network_allow: ['*'] }).checkHost('example.com'),
    ).toThrow(/no network access/);
    for (const ip of [
      '10.1.2.3',
      '127.0.0.1',
      '169.254.169.254',
      '192.168.1.1',
      '172.20.0.1',
      '::1',
      '::ffff:127.0.0.1',
    ])
      expect(isPrivateAddress(ip)).toBe(true);
    expect(isPrivateAddress('93.184.216.34')).toBe(false);
  });
});
