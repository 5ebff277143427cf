/**
 * Demo agents for `aos start` with no provider key: tasks the simulator's rule-based policy
 * (src/llm/simulated/policy.ts) answers with real tool calls — arithmetic through the calculator, a
 * workspace listing, a memory stored and then found again — so a newcomer watches processes run, call
 * tools and finish within seconds. They run on the simulator and say so; nothing here pretends to be a model.
 * Wording matters: the policy also calls any tool whose name part (≥ 5 letters) appears as a word in the
 * task, so a task mentioning "agent" would call spawn_agent with the same task, recursively; each demo
 * agent's policy therefore offers only the tools it needs.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kernel } from '../kernel/kernel.js';
import { logger } from '../util/log.js';

const log = logger('demo');

export interface DemoAgent {
  name: string;
  task: string;
  priority?: number;
  policy?: Record<string, unknown>;
  /** Spawned once this demo agent (by name) has exited. */
  after?: string;
}

/** The shared workspace the listing demo works in (`<security.workspace>/shared/demo`). */
const DEMO_WORKSPACE = 'demo';

export const DEMO_AGENTS: readonly DemoAgent[] = [
  {
    name: 'demo-calculator',
    task: 'What is (17 + 25) * 3 - 12 / 4? Then also work out 2 ^ 10.',
    priority: 40,
    policy: { allowed_tools: ['calculator', 'final_answer'] },
  },
  {
    name: 'demo-workspace',
    task: 'List up to 20 entries of ./ and tell me what the workspace contains.',
    // A named workspace, so the welcome note seeded there is what it lists (its own would be empty).
    policy: { allowed_tools: ['list_dir', 'read_file', 'final_answer'], workspace: DEMO_WORKSPACE },
  },
  {
    name: 'demo-remember',
    task: 'Use memory_store to remember: the kernel demo started today.',
    policy: { memory_owner: 'demo', allowed_tools: ['memory_store', 'final_answer'] },
  },
  {
    name: 'demo-recall',
    task: 'Use memory_search to find what was remembered about the kernel demo.',
    policy: { memory_owner: 'demo', allowed_tools: ['memory_search', 'final_answer'] },
    after: 'demo-remember',
  },
];

const WELCOME = `# Welcome to agent-os-kernel

This directory is a shared workspace (security.workspace in config.yaml, then shared/demo): file tools of the
processes that name it (policy workspace: demo) read and write here, and their sandboxed commands run here.
Every other process works in a directory of its own, proc/<pid>. The demo agent "demo-workspace" lists it.
`;

/** Seeds an empty workspace with a welcome note, so the listing demo has something to show. */
function seedWorkspace(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).length === 0 && !existsSync(join(dir, 'WELCOME.md')))
    writeFileSync(join(dir, 'WELCOME.md'), WELCOME);
}

/** Spawns the demo agents; returns their pids (dependent ones are spawned later and not included). */
export async function spawnDemoAgents(
  k: Kernel,
  agents: readonly DemoAgent[] = DEMO_AGENTS,
): Promise<number[]> {
  seedWorkspace(k.tools.workspaceOf({ pid: 0, policy: { workspace: DEMO_WORKSPACE } }).path);
  const pids = new Map<string, number>();
  const spawn = (a: DemoAgent) =>
    k.spawn({
      name: a.name,
      task: a.task,
      ...(a.priority !== undefined ? { priority: a.priority } : {}),
      ...(a.policy ? { policy: a.policy } : {}),
    });
  for (const a of agents) {
    if (a.after) continue;
    pids.set(a.name, await spawn(a));
  }
  for (const a of agents) {
    if (!a.after) continue;
    const first = pids.get(a.after);
    if (first === undefined) continue;
    void k
      .wait(first)
      .then(() => (k.isStopping() ? undefined : spawn(a)))
      .catch((err) => log.warn(`demo agent ${a.name} not started: ${String(err)}`));
  }
  return [...pids.values()];
}
