/**
 * A step that does not commit leaves nothing behind, not even in the process's memory. The storage is cut
 * off (for real: the test role's backends terminated, new connections refused) in the middle of a step —
 * after the model answered and its reply entered the context, before the step commits — so the step is
 * void and the process parks in `waiting(storage)`. Once storage is back the step is redone from the last
 * committed state: the redone step must see exactly the context a step that was never interrupted sees,
 * so each agent's answer and its model requests equal those of an undisturbed run of the same task. (The
 * defect this guards: the live context kept the void step's assistant turn and tool results, so the redone
 * step showed the model its own earlier reply and answered differently.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { createSimulator, type SimulatorHandle } from '../../src/llm/simulated/server.js';
import { pgUnreachableReason } from '../../src/storage/testing/backends.case.js';
import { type OutageRole, outageRole } from './pg-outage.js';

const TASKS = ['What is 17 * 23? Then also compute 17 + 1.', 'What is 41 + 59? Then also compute 2 * 50.'];
const unreachable = await pgUnreachableReason();

describe.skipIf(unreachable !== null)(
  `a void step leaves no trace in the redone step${unreachable ? ` (skipped: ${unreachable})` : ''}`,
  () => {
    let db: OutageRole;
    let sim: SimulatorHandle;
    const kernels: Kernel[] = [];

    beforeAll(async () => {
      db = await outageRole('aos_void');
      sim = await createSimulator({ latency: { ttftMs: 0, perTokenMs: 0 } });
    });

    afterAll(async () => {
      for (const k of kernels) await k.shutdown().catch(() => undefined);
      await sim?.close();
      await db?.drop(['ref', 'cut'].map((s) => `${db.role}_${s}`));
    });

    async function boot(schema: string): Promise<Kernel> {
      const k = await createKernel({
        storage: db.url(`${db.role}_${schema}`),
        config: {
          default_model: 'gpt-4o',
          llms: {
            models: [{ name: 'gpt-4o', provider: 'openai', base_url: sim.urlFor('openai'), api_key: 'sk-x' }],
          },
          security: { sandbox: 'none' },
          server: { demo_agents: false },
        },
        plugins: false,
      });
      kernels.push(k);
      return k;
    }

    /** Each task's answer and the text of every step it committed. */
    async function outcome(k: Kernel, pids: number[]) {
      const out: Array<{ result: unknown; exitReason: unknown; steps: string[] }> = [];
      for (const pid of pids) {
        const st = await k.wait(pid, 120_000);
        const steps = (await k.steps(pid)).map((s) => {
          const rec = s.record as { text?: string; toolCalls?: Array<{ name: string }> };
          return JSON.stringify({ text: rec.text ?? null, calls: (rec.toolCalls ?? []).map((c) => c.name) });
        });
        out.push({ result: st.result, exitReason: st.exitReason ?? null, steps });
      }
      return out;
    }

    it('the redone step answers as an undisturbed step does', async () => {
      const ref = await boot('ref');
      const refPids = await Promise.all(TASKS.map((task, i) => ref.spawn({ name: `ref-${i}`, task })));
      const expected = await outcome(ref, refPids);
      for (const e of expected) expect(e.exitReason).toBeNull();
      expect(expected.every((e) => e.steps.length >= 2)).toBe(true);

      const k = await boot('cut');
      let cut = false;
      let parked = 0;
      const cutDone = new Promise<void>((resolve) => {
        k.hooks.on('proc.state', (e) => {
          if (e.to === 'waiting' && e.waitOn?.startsWith('storage')) {
            parked += 1;
            resolve();
          }
        });
      });
      // The second tool call of a step — the model has answered, its reply and the first call's result are
      // in the context — cuts storage off: its intent record or the step commit fails, and the step is void.
      const calls = new Map<number, number>();
      k.hooks.on('io.tool_call.before', async (e) => {
        if (cut || !e.pid) return;
        calls.set(e.pid, (calls.get(e.pid) ?? 0) + 1);
        if (calls.get(e.pid) !== 2) return;
        cut = true;
        await db.cut();
      });
      const pids = await Promise.all(TASKS.map((task, i) => k.spawn({ name: `ref-${i}`, task })));
      await cutDone;
      await db.restore();
      const got = await outcome(k, pids);
      expect(cut).toBe(true);
      expect(parked).toBeGreaterThanOrEqual(1);
      expect(got).toEqual(expected);
    }, 90_000);
  },
);
