/**
 * The container sandbox's command line; the attacks themselves run on a real engine (podman) in
 * test/security/docker-sandbox.test.ts. Findings it answers: without --user the container ran as the
 * image's root, so `chmod u+s` on a file it made in the bound workspace left a setuid-root file on the
 * host; with network_allow ['*'] it was put on the bridge, whose gateway is the host (a service bound to
 * 0.0.0.0 answered, and every private range was routed).
 */
import { describe, expect, test } from 'vitest';
import { SANDBOX_CONTAINER_TIMEOUT_GRACE_S } from '../../param.js';
import { type Bridge, dockerRunArgs, LABEL } from './docker.js';

const req = {
  command: 'sh',
  args: ['-c', 'id'],
  cwd: '/nonexistent-aos/w/proc/7',
  readPaths: ['/nonexistent-aos/opt/tool'],
  writePaths: ['/nonexistent-aos/w/proc/7'],
  limits: { memoryMb: 128, cpuSeconds: 5, processes: 16, fileSizeMb: 8, wallSeconds: 5 },
};

describe('DockerSandbox command line', () => {
  test('never the image root: the sandbox uid, no capabilities, no_new_privs, read-only root, nosuid tmp', () => {
    const a = dockerRunArgs(req, 'img', { uid: 64_000, gid: 64_000 });
    const at = (flag: string) => a[a.indexOf(flag) + 1];
    expect(at('--user')).toBe('64000:64000');
    expect(at('--cap-drop')).toBe('ALL');
    expect(at('--security-opt')).toBe('no-new-privileges');
    expect(a).toContain('--read-only');
    expect(at('--tmpfs')).toMatch(/^\/tmp:.*nosuid,nodev/);
    expect(at('--network')).toBe('none');
    // the user flag comes before the image: everything after the image is the command
    expect(a.indexOf('--user')).toBeLessThan(a.indexOf('img'));
    expect(a.slice(a.indexOf('img') + 1)).toEqual(['sh', '-c', 'id']);
  });

  test('podman binds are nosuid,nodev too (docker -v has no such option)', () => {
    const p = dockerRunArgs(req, 'img', { uid: 1000, gid: 1000 }, { podman: true });
    expect(p).toContain('/nonexistent-aos/w/proc/7:/nonexistent-aos/w/proc/7:rw,nosuid,nodev');
    expect(p).toContain('/nonexistent-aos/opt/tool:/nonexistent-aos/opt/tool:ro,nosuid,nodev');
    const d = dockerRunArgs(req, 'img', { uid: 1000, gid: 1000 });
    expect(d).toContain('/nonexistent-aos/w/proc/7:/nonexistent-aos/w/proc/7:rw');
  });

  test('podman kills the container at its wall limit + grace by itself (a dead kernel cannot); both carry the labels', () => {
    const p = dockerRunArgs(
      req,
      'img',
      { uid: 1000, gid: 1000 },
      { podman: true, name: 'aos-sandbox-1-1-abc' },
    );
    expect(p[p.indexOf('--timeout') + 1]).toBe(
      String(Math.ceil(req.limits.wallSeconds) + SANDBOX_CONTAINER_TIMEOUT_GRACE_S),
    );
    expect(p).toContain(`${LABEL}=1`);
    const d = dockerRunArgs(req, 'img', { uid: 1000, gid: 1000 }, { name: 'aos-sandbox-1-1-abc' });
    expect(d).not.toContain('--timeout');
    expect(d).toContain(`${LABEL}=1`);
  });

  test("no network of its own, even with network_allow ['*']: egress is the kernel's proxy, bridged inside", () => {
    const bridge: Bridge = {
      files: [
        '/usr/bin/socat\0socat',
        '/lib/x86_64-linux-gnu/libc.so.6\0libc.so.6',
        '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\0ld-linux-x86-64.so.2',
      ],
      loader: 'ld-linux-x86-64.so.2',
      socat: 'socat',
    };
    const a = dockerRunArgs(
      { ...req, network: ['*'] },
      'img',
      { uid: 1, gid: 1 },
      {
        proxy: { socket: '/tmp/p/proxy.sock', bridge },
      },
    );
    expect(a[a.indexOf('--network') + 1]).toBe('none');
    expect(a).not.toContain('bridge');
    expect(a).toContain('/tmp/p/proxy.sock:/run/aos-proxy.sock:rw');
    expect(a).toContain('/usr/bin/socat:/run/aos-bridge/socat:ro');
    expect(a).toContain('HTTPS_PROXY=http://127.0.0.1:3128');
    const cmd = a.slice(a.indexOf('img') + 1);
    expect(cmd[0]).toBe('/bin/sh');
    expect(cmd[2]).toContain(
      '/run/aos-bridge/ld-linux-x86-64.so.2 --library-path /run/aos-bridge /run/aos-bridge/socat',
    );
    expect(cmd.slice(-3)).toEqual(['sh', '-c', 'id']);
    // without hosts: no proxy, no bridge
    const none = dockerRunArgs({ ...req, network: [] }, 'img', { uid: 1, gid: 1 });
    expect(none[none.indexOf('--network') + 1]).toBe('none');
    expect(none.join(' ')).not.toContain('aos-bridge');
  });

  test("the host's / cannot be bound (a container cannot mount over its root): a clear error", () => {
    expect(() => dockerRunArgs({ ...req, readPaths: ['/'] }, 'img', { uid: 1, gid: 1 })).toThrow(
      /cannot bind the host's \/ .*name the directories/,
    );
  });
});
