/**
 * Structured outputs on the native path: an agent step asks `llm.chat` for a response format through the
 * syscall gate (its argument schema carries it to the provider) and gets JSON its schema validates; a
 * malformed format is refused by the gate (EINVAL).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KernelError } from '../errors.js';
import { SimulatedProvider } from '../llm/simulated/simulated-provider.js';
import { createKernel, type Kernel } from './kernel.js';
import { resolverFromProvider } from './model-resolver.js';
import { type AgentProgram, done } from './program.js';

const kernels: Kernel[] = [];
afterEach(async () => {
  await Promise.all(kernels.splice(0).map((k) => k.shutdown()));
});

const schema = {
  type: 'object',
  properties: {
    title: { type: 'string' },
    priority: { type: 'string', enum: ['low', 'high'] },
    steps: { type: 'array', items: { type: 'string' } },
  },
  required: ['title', 'priority', 'steps'],
  additionalProperties: false,
};

type Outcome = { content?: string; error?: { code: string; message: string } };

/** One llm.chat with the response format in the spawn args; the answer (or the error) is the result. */
const asker: AgentProgram<{ rf: unknown }> = {
  name: 'asker',
  init: ({ args }) => ({ rf: (args as { rf: unknown }).rf }),
  async step(s, sys) {
    try {
      const r = await sys.call('llm.chat', {
        messages: [{ role: 'user', content: 'Plan the release as JSON.' }],
        responseFormat: s.rf as never,
      });
      return done(s, { content: r.content } satisfies Outcome);
    } catch (err) {
      const e = err as KernelError;
      return done(s, { error: { code: e.code, message: e.message } } satisfies Outcome);
    }
  },
};

async function run(rf: unknown, provider = new SimulatedProvider()): Promise<Outcome> {
  const k = await createKernel({
    storage: 'memory://',
    config: { security: { sandbox: 'none', workspace: mkdtempSync(join(tmpdir(), 'aos-ws-')) } },
    models: resolverFromProvider(provider),
    programs: [asker],
    plugins: false,
  });
  kernels.push(k);
  const pid = await k.spawn({ name: 'asker', task: 'plan', program: 'asker', args: { rf } });
  const st = await k.wait(pid);
  return st.result as Outcome;
}

describe('llm.chat responseFormat (an agent step, through the gate)', () => {
  it('json_schema: the answer is JSON valid against the schema; the provider got response_format', async () => {
    const provider = new SimulatedProvider();
    const out = await run({ type: 'json_schema', name: 'plan', schema, strict: true }, provider);
    const value = JSON.parse(out.content!) as { title: string; priority: string; steps: string[] };
    expect(Object.keys(value).sort()).toEqual(['priority', 'steps', 'title']);
    expect(['low', 'high']).toContain(value.priority);
    expect(Array.isArray(value.steps)).toBe(true);
    const sent = provider.engine.stats.bodies.at(-1)!.body;
    expect(sent.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'plan', schema, strict: true },
    });
  });

  it('json_object: the answer is a JSON object', async () => {
    const out = await run({ type: 'json_object' });
    expect(JSON.parse(out.content!)).toBeTypeOf('object');
  });

  it('a malformed format is refused by the gate with EINVAL naming the field', async () => {
    const out = await run({ type: 'json_schema', name: 'has spaces', schema });
    expect(out.error?.code).toBe('EINVAL');
    expect(out.error?.message).toContain('responseFormat');
  });
});
