import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../kernel/kernel.js';
import { DEMO_AGENTS, spawnDemoAgents } from './demo-agents.js';

let k: Kernel | undefined;
afterAll(async () => {
  await k?.shutdown();
});

describe('demo agents', () => {
  it('all finish on the simulator with real tool calls, spawn nothing else, and the recall finds the stored memory', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'aos-demo-ws-'));
    k = await createKernel({
      storage: 'memory://',
      config: { security: { sandbox: 'none', workspace } },
      plugins: false,
    });
    const exits: Array<{ pid: number; reason: string | null }> = [];
    let recalled: number | null = null;
    k.hooks.on('proc.exit', (e) => void exits.push({ pid: e.pid, reason: e.reason }));
    k.hooks.on('proc.spawn.after', (e) => {
      if (e.name === 'demo-recall') recalled = e.pid;
    });
    const pids = await spawnDemoAgents(k);
    expect(pids).toHaveLength(DEMO_AGENTS.filter((a) => !a.after).length);
    expect(readdirSync(join(workspace, 'shared', 'demo'))).toContain('WELCOME.md');
    for (const pid of pids) await k.wait(pid, 30_000);
    while (recalled === null) await new Promise((r) => setTimeout(r, 10));
    await k.wait(recalled, 30_000);
    expect(exits).toHaveLength(DEMO_AGENTS.length);
    expect(exits.every((e) => e.reason === null)).toBe(true);
    const byName = new Map<string, unknown>();
    for (const e of exits) {
      const p = await k.get(e.pid);
      byName.set(p.name, p.result);
    }
    expect(String(byName.get('demo-calculator'))).toContain('123');
    expect(String(byName.get('demo-calculator'))).toContain('1024');
    expect(String(byName.get('demo-workspace'))).toContain('WELCOME.md');
    expect(String(byName.get('demo-recall'))).toContain('kernel demo started today');
  });
});
