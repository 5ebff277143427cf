/**
 * Agent-loop conformance: the built-in ReAct agent runs an 11-step tool task (ten file reads, one of
 * them failing, then `final_answer`) against every preset's dialect, over loopback HTTP through the
 * official SDKs, with the simulator enforcing each vendor's documented request rules
 * (src/llm/wire-rules.ts) and refusing a violation with that vendor's error. A run that completes is a run
 * whose every request was one the vendor accepts; the wire bodies are then checked for the rules a vendor
 * does not refuse but a correct client keeps (is_error on failed Anthropic tool results, reasoning dropped
 * where the vendor drops it, max_tokens as configured).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel } from '../../src/kernel/kernel.js';
import { PRESETS } from '../../src/llm/presets.js';
import type { ScriptedTurn, SimRequest } from '../../src/llm/simulated/scenario.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { rulesFor, thinks } from '../../src/llm/wire-rules.js';

type Loose = Record<string, unknown>;

const FILES = 10;
const MISSING = 4; // the fifth read names a file that does not exist: a failed tool result
/** The agent's files, put in its own workspace at spawn. */
const NOTES = Object.fromEntries(
  Array.from({ length: FILES }, (_, i) => i)
    .filter((i) => i !== MISSING)
    .map((i) => [`notes/f${i}.txt`, `file ${i} says ${i * i}\n`]),
);

interface Case {
  label: string;
  preset: string;
  model: string;
  thinkingBudget?: number;
  /** Agent steps stream (the default) or make plain calls (`stream: false` on the model). */
  stream: boolean;
}

const DIALECTS: Array<Omit<Case, 'stream'>> = [
  ...PRESETS.map((p) => ({ label: p.name, preset: p.name, model: p.defaultModel })),
  { label: 'deepseek thinking', preset: 'deepseek', model: 'deepseek-reasoner' },
  { label: 'kimi thinking', preset: 'kimi', model: 'kimi-k2-thinking' },
  { label: 'kimi-cn thinking', preset: 'kimi-cn', model: 'kimi-k2-thinking' },
  { label: 'anthropic thinking', preset: 'anthropic', model: 'claude-sonnet-4-5', thinkingBudget: 2048 },
];
// Every dialect twice: streamed (each vendor's chunk format, usage from its final event) and not.
const CASES: Case[] = DIALECTS.flatMap((d) => [
  { ...d, stream: true },
  { ...d, label: `${d.label} (no stream)`, stream: false },
]);
const keyOf = (c: Case) => `${c.preset}|${c.model}|${c.stream ? 'stream' : 'plain'}`;

/** Tool results seen since the task: the agent's progress, whatever the dialect. */
function progress(req: SimRequest): number {
  return req.messages.filter((m) => m.role === 'tool').length;
}

/** Ten reads (one of a missing file), then the answer; a thinking model reasons on every turn. */
function scenario(c: Case) {
  const rules = rulesFor(c.preset);
  const reasons = thinks(rules, c.model);
  return (req: SimRequest): ScriptedTurn => {
    const n = progress(req);
    const reasoning = reasons
      ? { reasoning: `Step ${n + 1}: ${n < FILES ? 'read the next file' : 'answer'}.` }
      : {};
    if (n < FILES) {
      return {
        // A whitespace-only text next to a tool call (what real models emit): Anthropic refuses it echoed.
        ...(n === 2 ? { text: '\n\n' } : {}),
        ...reasoning,
        toolCalls: [
          { name: 'read_file', arguments: { path: n === MISSING ? 'notes/missing.txt' : `notes/f${n}.txt` } },
        ],
      };
    }
    return {
      ...reasoning,
      toolCalls: [{ name: 'final_answer', arguments: { answer: `read ${FILES - 1} files` } }],
    };
  };
}

describe('agent-loop conformance: a 10-step tool task on every preset dialect over HTTP', () => {
  let sim: SimulatorHandle;
  let dir: string;
  // Cases run side by side on one simulator: requests are told apart by preset and model.
  const bodies = new Map<string, Loose[]>();
  const plays = new Map(CASES.map((c) => [keyOf(c), scenario(c)]));

  beforeAll(async () => {
    sim = await createSimulator({ latency: { ttftMs: 0, perTokenMs: 0 } });
    const mode = (stream: boolean) => (stream ? 'stream' : 'plain');
    sim.engine.script((req) => plays.get(`${req.preset}|${req.model}|${mode(req.stream)}`)?.(req));
    const record = sim.engine.record.bind(sim.engine);
    sim.engine.record = (route, preset, body) => {
      const key = `${preset}|${String(body.model)}|${mode(body.stream === true)}`;
      if (route !== '/v1/embeddings') bodies.get(key)?.push(body);
      record(route, preset, body);
    };
    dir = mkdtempSync(join(tmpdir(), 'aos-conf-'));
  });
  afterAll(async () => {
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it.concurrent(`${c.label} (${c.model})`, async () => {
      const seen: Loose[] = [];
      bodies.set(keyOf(c), seen);
      const kernel = await createKernel({
        storage: 'memory://',
        plugins: false,
        recover: false,
        config: {
          data_dir: join(dir, c.label.replace(/\W+/g, '-')),
          default_model: c.model,
          llms: {
            models: [
              {
                name: c.model,
                provider: c.preset,
                base_url: sim.urlFor(c.preset),
                api_key: 'sk-conformance',
                max_output_tokens: 1500,
                stream: c.stream,
                ...(c.thinkingBudget
                  ? { thinking_budget_tokens: c.thinkingBudget, max_output_tokens: 4096 }
                  : {}),
              },
            ],
          },
          // a root per case: the kernels run at once, each with its own pid 1
          security: { sandbox: 'none', workspace: join(dir, `ws-${c.label.replace(/\W+/g, '-')}`) },
          server: { demo_agents: false },
        },
      });
      const deltas: Array<{ stepNo: number; type: string; text: string; name?: string }> = [];
      kernel.hooks.on('llm.delta', (e) => {
        const d = e.delta as { type: string; delta?: string; argumentsDelta?: string; name?: string };
        deltas.push({
          stepNo: e.stepNo,
          type: d.type,
          text: d.delta ?? d.argumentsDelta ?? '',
          ...(d.name ? { name: d.name } : {}),
        });
      });
      try {
        const pid = await kernel.spawn({
          name: 'conformance',
          task: `Read the ten files notes/f0.txt … notes/f9.txt and report what they say.`,
          model: c.model,
          files: NOTES,
        });
        const st = await kernel.wait(pid);
        expect(
          { state: st.state, error: st.exitReason ?? null },
          `${c.label}: the agent must finish`,
        ).toEqual({
          state: 'terminated',
          error: null,
        });
        // Exactly one request per step: no request was refused and retried.
        expect(seen.length).toBe(FILES + 1);
        expect(st.result).toBe(`read ${FILES - 1} files`);
        // Usage came through in this dialect (streamed: from its final chunk or message_delta).
        const usage = (await kernel.get(pid)).usage;
        expect(usage.apiCalls).toBe(FILES + 1);
        expect(usage.tokensIn).toBeGreaterThan(0);
        expect(usage.tokensOut).toBeGreaterThan(0);
        for (const b of seen) expect(b.stream === true, 'stream flag on the wire').toBe(c.stream);
        if (c.stream) {
          if (rulesFor(c.preset).errorShape !== 'anthropic')
            for (const b of seen) expect(b.stream_options).toEqual({ include_usage: true });
          // Each step's tool call arrived in fragments that assemble to the call the step made.
          for (let step = 1; step <= FILES + 1; step++) {
            const calls = deltas.filter((d) => d.stepNo === step && d.type === 'tool_call');
            expect(calls.map((d) => d.name ?? '').join('')).toBe(
              step <= FILES ? 'read_file' : 'final_answer',
            );
            expect(() => JSON.parse(calls.map((d) => d.text).join(''))).not.toThrow();
            // A thinking model's reasoning streamed too (Anthropic's signed thinking block included).
            const anthropic = rulesFor(c.preset).errorShape === 'anthropic';
            if (anthropic ? c.thinkingBudget : thinks(rulesFor(c.preset), c.model)) {
              const reasoning = deltas
                .filter((d) => d.stepNo === step && d.type === 'reasoning')
                .map((d) => d.text)
                .join('');
              expect(reasoning.trim()).toMatch(/^Step \d+: /);
            }
          }
          const ttft = await kernel.metrics.registry.getSingleMetricAsString('aos_llm_ttft_seconds');
          expect(ttft).toContain(`aos_llm_ttft_seconds_count{model="${c.model}"} ${FILES + 1}`);
        } else expect(deltas).toEqual([]);
      } finally {
        await kernel.shutdown();
      }

      const last = seen[seen.length - 1]!;
      const messages = (last.messages as Loose[]) ?? [];
      const rules = rulesFor(c.preset);
      if (rules.errorShape === 'anthropic') {
        // Failed tool results say so; configured max_tokens is what goes out.
        const results = messages.flatMap((m) =>
          Array.isArray(m.content) ? (m.content as Loose[]).filter((b) => b.type === 'tool_result') : [],
        );
        expect(results.filter((r) => r.is_error === true)).toHaveLength(1);
        expect(last.max_tokens).toBe(c.thinkingBudget ? 4096 : 1500);
      } else {
        for (const m of messages) if (m.role === 'tool') expect(m).not.toHaveProperty('name');
        const maxKey = c.preset === 'openai' ? 'max_completion_tokens' : 'max_tokens';
        expect(last[maxKey]).toBe(1500);
        if (thinks(rules, c.model) && rules.reasoning.carrier === 'reasoning_content') {
          const calls = messages.filter((m) => m.role === 'assistant' && m.tool_calls);
          expect(calls.length).toBe(FILES);
          for (const m of calls) expect(m.reasoning_content).toMatch(/^Step \d+/);
        }
      }
      if (typeof last.prompt_cache_key === 'string')
        expect(last.prompt_cache_key).toMatch(/^aos-[0-9a-f]{12}-\d+$/);
    }, 60_000);
  }

  it('no request of any dialect was refused', () => {
    expect(sim.stats.errors).toEqual({});
  });
});
