/**
 * Where bwrap may not name the sandbox's UTS namespace (podman's default seccomp profile refuses
 * sethostname to a container without CAP_SYS_ADMIN), the sandbox still starts: the boot probe finds it
 * out and commands keep the hostname they start with. Here a `bwrap` first on PATH refuses `--hostname`
 * the way bwrap does in such a container and passes everything else to the real one. (Own file: the
 * probe's result is cached per process.)
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { bootRig, type Rig, shellData } from './harness.js';

let rig: Rig | undefined;
afterAll(async () => {
  await rig?.close();
});

test('a refused --hostname does not cost the sandbox: bubblewrap, isolated, the starting hostname kept', async () => {
  const bin = mkdtempSync(join(tmpdir(), 'aos-nohostname-'));
  writeFileSync(
    join(bin, 'bwrap'),
    `#!/bin/sh\ncase " $* " in *" --hostname "*) echo "bwrap: Can't set hostname to aos-sandbox: Operation not permitted" >&2; exit 1;; esac\nexec /usr/bin/bwrap "$@"\n`,
  );
  chmodSync(join(bin, 'bwrap'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    rig = await bootRig({ sandbox: 'bubblewrap' });
    const h = (await (await fetch(`${rig.server.url}/api/v1/health`)).json()) as { sandbox: unknown };
    expect(h.sandbox).toEqual({ name: 'bubblewrap', isolated: true, warning: null });
    const { out } = await rig.attack([
      { name: 'shell', args: { command: 'hostname; cat /proc/1/comm; id -u' } },
    ]);
    const d = shellData(out[0]!);
    expect(d.exit_code, d.stderr).toBe(0);
    expect(d.stdout.split('\n')).toEqual([
      hostname(),
      'bwrap',
      String(process.getuid?.() === 0 ? 64000 : process.getuid?.()),
      '',
    ]);
  } finally {
    process.env.PATH = path;
  }
});
