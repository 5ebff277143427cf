/**
 * Class 8, second half — one agent's files are not another agent's. By default each process works in a
 * directory of its own (`<root>/proc/<pid>`): agent A plants a `.git/config` whose core.fsmonitor runs a
 * payload, and a file; agent B, spawned the same way, sees neither, its cli.git_status runs nothing of A's,
 * and it cannot reach A's workspace through `..`, an absolute path or a symlink — with the file tools,
 * its shell (real bubblewrap, kernel as root) or an MCP server. Sharing is explicit (a named workspace);
 * a fork works on a copy of its source's workspace. On the code before, every process shared the root:
 * B listed A's `.git`, read its file and ran git in A's repository.
 */
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bootRig, type Rig, shellData } from './harness.js';

const PLANT = String.raw`
set -e
git init -q . && git config user.name a && git config user.email a@b
printf 'a secret\n' > secret-a.txt && git add . && git commit -qm one
printf '#!/bin/sh\ntouch "%s/PWNED-$1"\n' "$PWD" > evil.sh && chmod 755 evil.sh
git config core.fsmonitor "$PWD/evil.sh fsmonitor"
printf 'more\n' >> secret-a.txt
echo planted
`;

/** A dependency-free MCP stdio server whose one tool lists its working directory. */
const MCP_SERVER = `
import { createInterface } from 'node:readline';
import { readdirSync } from 'node:fs';
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize')
    send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion,
      capabilities: { tools: {} }, serverInfo: { name: 'lister', version: '1.0.0' } } });
  else if (m.method === 'tools/list')
    send({ jsonrpc: '2.0', id: m.id, result: { tools: [{ name: 'ls', description: 'list the cwd',
      inputSchema: { type: 'object', properties: {} }, annotations: { readOnlyHint: true } }] } });
  else if (m.method === 'tools/call')
    send({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text',
      text: JSON.stringify({ cwd: process.cwd(), entries: readdirSync('.').sort() }) }] } });
  else if (m.id !== undefined) send({ jsonrpc: '2.0', id: m.id, result: {} });
});
`;

describe('red team: workspaces per process (bubblewrap, kernel as root)', () => {
  let rig: Rig;
  let a: number;
  let aWs: string;
  beforeAll(async () => {
    const srvDir = realpathSync(mkdtempSync(join(tmpdir(), 'aos-red-mcp-')));
    const server = join(srvDir, 'server.mjs');
    writeFileSync(server, MCP_SERVER);
    chmodSync(srvDir, 0o755); // the sandbox uid reads the server's file
    rig = await bootRig({
      sandbox: 'bubblewrap',
      perProcess: true,
      config: {
        cli_tools: ['git_status'],
        mcp: { servers: [{ name: 'lister', command: 'node', args: [server] }] },
        storage: { snapshot_every_steps: 1 },
      },
    });
    const planted = await rig.attack([
      { name: 'shell', args: { command: PLANT } },
      { name: 'list_dir', args: { path: '.' } },
    ]);
    a = planted.pid;
    expect(shellData(planted.out[0]!).stdout, planted.out[0]!.output).toContain('planted');
    aWs = (await rig.kernel.get(a)).workspace;
  });
  afterAll(async () => {
    await rig?.close();
  });

  test("each process works in a directory of its own, named by pid and shown in the process's view", async () => {
    expect(aWs).toBe(join(rig.workspace, 'proc', String(a)));
    expect(readdirSync(aWs)).toEqual(expect.arrayContaining(['.git', 'secret-a.txt', 'evil.sh']));
    // The planted files are where A made them, not in the root every process used to share.
    expect(existsSync(join(rig.workspace, 'secret-a.txt'))).toBe(false);
    const res = await fetch(`${rig.server.url}/api/v1/processes/${a}`, {
      headers: { authorization: `Bearer ${readFileSync(join(rig.dataDir, 'admin.token'), 'utf8').trim()}` },
    });
    expect(((await res.json()) as { workspace: string }).workspace).toBe(aWs);
  });

  test("agent B sees none of A's files, and its git_status runs nothing A planted", async () => {
    const rel = `../${a}/secret-a.txt`;
    const { pid: b, out } = await rig.attack([
      { name: 'list_dir', args: { path: '.' } },
      { name: 'cli.git_status', args: {} },
      { name: 'read_file', args: { path: rel } },
      { name: 'read_file', args: { path: join(aWs, 'secret-a.txt') } },
      { name: 'shell', args: { command: `ln -s ${join(aWs, 'secret-a.txt')} link && echo linked` } },
      { name: 'read_file', args: { path: 'link' } },
      { name: 'write_file', args: { path: join(aWs, 'dropped.txt'), content: 'x' } },
      {
        name: 'shell',
        args: {
          command: `cat ${rel} ${join(aWs, 'secret-a.txt')} link 2>&1; ls ${join(rig.workspace, 'proc')} 2>&1; pwd`,
        },
      },
      { name: 'lister.ls', args: {} },
    ]);
    const bWs = join(rig.workspace, 'proc', String(b));
    const [list, status, relRead, absRead, linked, linkRead, write, sh, mcp] = out;
    expect(list!.output).not.toMatch(/secret-a|\.git|evil/);
    // git_status finds no repository in B's workspace: A's core.fsmonitor is never read.
    expect(`${status!.output}`).not.toContain('secret-a');
    expect(readdirSync(aWs).filter((n) => n.startsWith('PWNED-'))).toEqual([]);
    expect(readdirSync(bWs).filter((n) => n.startsWith('PWNED-'))).toEqual([]);
    for (const r of [relRead, absRead, linkRead, write]) {
      expect(r!.ok, r!.output).toBe(false);
      expect(r!.error?.code).toBe('EPERM');
      expect(r!.output).not.toContain('a secret');
    }
    expect(shellData(linked!).stdout).toContain('linked');
    expect(existsSync(join(aWs, 'dropped.txt'))).toBe(false);
    // In the sandbox only B's own workspace is mounted: A's path does not exist there.
    const s = shellData(sh!);
    expect(s.stdout).not.toContain('a secret');
    expect(s.stdout).toMatch(/No such file or directory/);
    expect(s.stdout).toContain(bWs);
    // The MCP server B talks to runs in B's workspace.
    expect(mcp!.ok, mcp!.output).toBe(true);
    const listed = JSON.parse(mcp!.output) as { cwd: string; entries: string[] };
    expect(listed.cwd).toBe(bWs);
    expect(listed.entries).not.toContain('secret-a.txt');
    // Refusals are on the record as denials.
    const denied = (await rig.audit(b)).filter(
      (e) => (e.payload as { decision?: string }).decision === 'deny',
    );
    expect(denied.length).toBeGreaterThanOrEqual(1);
  });

  test('a process can see another one only through a named workspace both name', async () => {
    const { pid: c, out } = await rig.attack(
      [{ name: 'write_file', args: { path: 'shared.txt', content: 'from c' } }],
      { ask_tools: [], workspace: 'team' },
    );
    expect(out[0]!.ok, out[0]!.output).toBe(true);
    const team = join(rig.workspace, 'shared', 'team');
    expect((await rig.kernel.get(c)).workspace).toBe(team);
    const { out: d } = await rig.attack(
      [
        { name: 'read_file', args: { path: 'shared.txt' } },
        { name: 'shell', args: { command: 'cat shared.txt' } },
      ],
      { ask_tools: [], workspace: 'team' },
    );
    expect(d[0]!.output).toContain('from c');
    expect(shellData(d[1]!).stdout).toContain('from c');
    // Not from a process of its own.
    const { out: e } = await rig.attack([{ name: 'read_file', args: { path: join(team, 'shared.txt') } }]);
    expect(e[0]!.error?.code).toBe('EPERM');
  });

  test('a fork works on a copy of its source workspace; the source keeps its own', async () => {
    const points = [...(await rig.kernel.forkPoints(a)).keys()];
    const f = await rig.kernel.fork(a, { stepNo: Math.min(...points) });
    await rig.kernel.wait(f.pid);
    const fWs = (await rig.kernel.get(f.pid)).workspace;
    expect(fWs).toBe(join(rig.workspace, 'proc', String(f.pid)));
    expect(readFileSync(join(fWs, 'secret-a.txt'), 'utf8')).toBe(
      readFileSync(join(aWs, 'secret-a.txt'), 'utf8'),
    );
    writeFileSync(join(fWs, 'only-fork.txt'), 'f');
    expect(existsSync(join(aWs, 'only-fork.txt'))).toBe(false);
  });

  test('an exited process keeps its workspace until it is removed; a live one or a shared one is refused', async () => {
    await expect(rig.kernel.removeWorkspace(9_999)).rejects.toMatchObject({ code: 'ENOPROC' });
    const removed = await rig.kernel.removeWorkspace(a);
    expect(removed).toEqual({ pid: a, path: aWs, removed: true });
    expect(existsSync(aWs)).toBe(false);
    const { pid: t } = await rig.attack([{ name: 'list_dir', args: { path: '.' } }], {
      ask_tools: [],
      workspace: 'team',
    });
    await expect(rig.kernel.removeWorkspace(t)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(existsSync(join(rig.workspace, 'shared', 'team', 'shared.txt'))).toBe(true);
  });
});
