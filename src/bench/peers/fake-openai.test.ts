import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel } from '../../kernel/kernel.js';
import { type FakeOpenAi, startFakeOpenAi } from './fake-openai.js';
import { TASK } from './worker.js';

let fake: FakeOpenAi;
let dir: string;
beforeAll(async () => {
  fake = await startFakeOpenAi({ latencyMs: 0, toolCalls: 10 });
  dir = mkdtempSync(join(tmpdir(), 'aos-fake-openai-'));
});
afterAll(async () => {
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('peer bench workload', () => {
  it('drives the built-in ReAct agent through 10 calculator calls and an answer over the openai SDK', async () => {
    const k = await createKernel({
      storage: 'memory://',
      plugins: false,
      config: {
        data_dir: dir,
        default_model: 'gpt-fake',
        llms: { models: [{ name: 'gpt-fake', provider: 'openai', base_url: fake.url, api_key: 'sk-test' }] },
        security: { sandbox: 'none', workspace: join(dir, 'workspace') },
        server: { demo_agents: false },
      },
    });
    try {
      const pid = await k.spawn({ name: 'counter', task: TASK });
      const st = await k.wait(pid);
      expect(st.state).toBe('terminated');
      expect(st.result).toBe('The count reached 10.');
      expect(fake.stats()).toEqual({ requests: 11, toolTurns: 10, answers: 1 });
      const steps = await k.steps(pid);
      const calls = steps.flatMap(
        (s) => (s.record as { toolCalls?: Array<{ name: string; ok: boolean }> }).toolCalls ?? [],
      );
      expect(calls.filter((c) => c.name === 'calculator' && c.ok)).toHaveLength(10);
    } finally {
      await k.shutdown();
    }
  });
});
