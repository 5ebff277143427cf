/**
 * Model-call journal rows a step holds for its commit (./call-journal.ts hold): written by the step's
 * one-statement commit (./commit.ts), or each on its own before the step does anything that could act on
 * the answer (./syscall-gate.ts) or commits another way. Apart from the journal so the gate and the
 * commit reach them without importing it.
 */
import type { StepContext } from '../abi.js';

/** A call's journal row held for the step's commit (hold): the row as JSON, and how to write it alone. */
export interface HeldCall {
  /** `{ call_index, attempt, request_hash, model, response, usage, cost, rerun }` as JSON text. */
  readonly json: string;
  write(): Promise<void>;
}

/** Journal rows a step holds for its commit (hold), in call order. */
const held = new WeakMap<object, HeldCall[]>();

/** Adds a row to those the step holds. */
export function holdCall(step: StepContext, call: HeldCall): void {
  const list = held.get(step);
  if (list) list.push(call);
  else held.set(step, [call]);
}

/** Whether the step holds journal rows not written yet. */
export function holdsCalls(step: object): boolean {
  return (held.get(step)?.length ?? 0) > 0;
}

/**
 * The rows the step held, taken for its commit as one JSON array (null when none): the commit writes
 * them in its statement, or calls `write()` on each before it commits another way.
 */
export function takeHeld(step: object): { json: string; calls: HeldCall[] } | null {
  const list = held.get(step);
  if (!list?.length) return null;
  held.delete(step);
  return { json: `[${list.map((c) => c.json).join(',')}]`, calls: list };
}

/** Writes the rows the step held, each on its own (before an effect, or a commit of another shape). */
export async function writeHeld(step: object): Promise<void> {
  const list = held.get(step);
  if (!list?.length) return;
  held.delete(step);
  for (const c of list) await c.write();
}
