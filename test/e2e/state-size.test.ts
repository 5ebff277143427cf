/**
 * The per-step state of the built-in ReAct agent carries its tool list by reference (issue 17): the
 * offered tools are re-derived from `io.tools` on import and checked against the hash in the state. What a
 * user relies on stays: a checkpoint restored into a new pid sends the model the same prompt bytes the
 * original sent at that step (the cached prefix survives), and a checkpoint in the earlier format (the tool
 * list inside the state) still restores, with the same bytes, and its next state is the compact one.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { resolverFromProvider } from '../../src/kernel/model-resolver.js';
import type { ScriptedTurn, SimRequest } from '../../src/llm/simulated/scenario.js';
import { SimulatedProvider } from '../../src/llm/simulated/simulated-provider.js';

const ROUNDS = 4;
const requests: SimRequest[] = [];

/** One calculator call per step until the count reaches ROUNDS, then the answer. */
function script(req: SimRequest): ScriptedTurn {
  requests.push(structuredClone(req));
  const values = req.messages
    .filter((m) => m.role === 'tool' && m.name === 'calculator')
    .map((m) => Number(m.content.trim()));
  const v = Math.max(0, ...values);
  if (v < ROUNDS)
    return {
      text: `step ${v + 1}`,
      toolCalls: [{ name: 'calculator', arguments: { expression: `${v}+1` } }],
    };
  return { toolCalls: [{ name: 'final_answer', arguments: { answer: `counted ${v}` } }] };
}

/** What the model receives, as bytes: the prompt-cache prefix and everything after it. */
const wire = (r: SimRequest) => JSON.stringify({ messages: r.messages, tools: r.tools });

/** Where two lists of request bytes first differ (request index, offset and both sides), or null. */
function firstDiff(a: string[], b: string[]): string | null {
  if (a.length !== b.length) return `${a.length} requests, expected ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    let at = 0;
    while (x[at] === y[at]) at++;
    return `request ${i} at byte ${at}: ${x.slice(at - 40, at + 80)} ≠ ${y.slice(at - 40, at + 80)}`;
  }
  return null;
}

describe('per-step state without the tool list', () => {
  let k: Kernel;
  beforeAll(async () => {
    k = await createKernel({
      storage: 'memory://',
      config: {
        data_dir: mkdtempSync(join(tmpdir(), 'aos-statesize-')),
        security: { sandbox: 'none', workspace: mkdtempSync(join(tmpdir(), 'aos-ws-')) },
        storage: { snapshot_every_steps: 1 },
      },
      models: resolverFromProvider(new SimulatedProvider({ scenario: script })),
      plugins: false,
    });
  });
  afterAll(async () => {
    await k?.shutdown();
  });

  async function snapshotAt(pid: number, stepNo: number): Promise<number> {
    const s = (await k.storage.state.listSnapshots(pid)).find(
      (x) => x.stepNo === stepNo && x.reason === 'periodic',
    );
    expect(s, `pid ${pid} has a snapshot at step ${stepNo}`).toBeDefined();
    return s!.id;
  }

  /** The requests the model got while `run` ran. */
  async function during(run: () => Promise<unknown>): Promise<SimRequest[]> {
    const from = requests.length;
    await run();
    return requests.slice(from);
  }

  it('a ReAct step with the default tools stores no tool schema, and a restore sends the same bytes', async () => {
    let pid = 0;
    const orig = await during(async () => {
      pid = await k.spawn({ name: 'orig', task: 'Count to four with the calculator.' });
      expect((await k.wait(pid)).result).toBe(`counted ${ROUNDS}`);
    });
    expect(orig).toHaveLength(ROUNDS + 1);
    const tools = orig[0]!.tools;
    expect(tools.length).toBeGreaterThan(5);

    // Every step's state (the process row and each periodic snapshot) names the tools by hash only.
    const row = await k.storage.state.getProcess(pid);
    const snaps = await k.storage.state.listSnapshots(pid);
    for (const state of [row!.programState, ...snaps.map((s) => s.programState)]) {
      const json = JSON.stringify(state);
      for (const t of tools) expect(json).not.toContain(t.description);
      expect((state as { ctx: { toolsHash: string; toolsCount: number } }).ctx).toMatchObject({
        toolsHash: expect.stringMatching(/^[0-9a-f]{32}$/),
        toolsCount: tools.length,
      });
    }

    // Restored into a new pid from step 2: its first request is the original's third, byte for byte.
    const cp = await snapshotAt(pid, 2);
    let again = 0;
    const restored = await during(async () => {
      again = await k.restore(cp, { name: 'again' });
      expect((await k.wait(again)).result).toBe(`counted ${ROUNDS}`);
    });
    expect(again).not.toBe(pid);
    // (Later requests differ in the simulator's call ids, which count its requests.)
    expect(restored).toHaveLength(orig.length - 2);
    expect(firstDiff([wire(restored[0]!)], [wire(orig[2]!)])).toBeNull();
  });

  it('a checkpoint that carries its tool list (the earlier format) restores with the same bytes', async () => {
    let pid = 0;
    const orig = await during(async () => {
      pid = await k.spawn({ name: 'old', task: 'Count to four with the calculator.' });
      await k.wait(pid);
    });
    const cp = await snapshotAt(pid, 2);
    // Rewrite the snapshot as the earlier format wrote it: the canonical list inside, no reference.
    const snap = await k.storage.state.getSnapshot(cp);
    const state = structuredClone(snap!.programState) as { ctx: Record<string, unknown> };
    const { toolsHash: _h, toolsCount: _c, ...ctx } = state.ctx;
    state.ctx = { ...ctx, tools: orig[0]!.tools };
    await k.storage.driver.query('UPDATE snapshots SET program_state = $2::jsonb WHERE id = $1', [
      cp,
      JSON.stringify(state),
    ]);

    let again = 0;
    const restored = await during(async () => {
      again = await k.restore(cp, { name: 'old-again' });
      expect((await k.wait(again)).result).toBe(`counted ${ROUNDS}`);
    });
    // (Later requests differ in the simulator's call ids, which count its requests.)
    expect(restored).toHaveLength(orig.length - 2);
    expect(firstDiff([wire(restored[0]!)], [wire(orig[2]!)])).toBeNull();
    // Its next states are the compact form.
    const row = await k.storage.state.getProcess(again);
    expect((row!.programState as { ctx: Record<string, unknown> }).ctx.tools).toBeUndefined();
  });
});
