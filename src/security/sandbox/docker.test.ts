/**
 * The container sandbox's command line (no engine runs here: `docker info` has no daemon, and podman's
 * runc cannot create the container's cgroup on this host's v1 hierarchy — see docs/security.md). The
 * red-team finding it answers: without --user the container ran as the image's root, so `chmod u+s` on a
 * file it made in the bound workspace left a setuid-root file on the host.
 */
import { describe, expect, test } from 'vitest';
import { dockerRunArgs } from './docker.js';

const req = {
  command: 'sh',
  args: ['-c', 'id'],
  cwd: '/w/proc/7',
  readPaths: ['/opt/tool'],
  writePaths: ['/w/proc/7'],
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
    expect(p).toContain('/w/proc/7:/w/proc/7:rw,nosuid,nodev');
    expect(p).toContain('/opt/tool:/opt/tool:ro,nosuid,nodev');
    const d = dockerRunArgs(req, 'img', { uid: 1000, gid: 1000 });
    expect(d).toContain('/w/proc/7:/w/proc/7:rw');
  });
});
