/**
 * Model-call journal rows a step holds for its commit (./call-journal.ts hold): written by the step's
 * one-statement commit (./commit.ts), or each on its own before the step does anything that could act on
 * the answer (./syscall-gate.ts) or commits another way. Apart from the journal so the gate and the
 * commit reach them without importing it.
 *
 * Also the gateway journal rows a step holds (holdEntry, ../gateway/journal.ts): they ride the step's
 * commit only to save a statement (the one-statement commit, or its transaction), so a call is one
 * statement and its row is stored atomically with its step. Unlike a model-call row, the step's fate does
 * not decide theirs — each records an answer already sent: a step that does not commit them (it failed,
 * was fenced, its commit failed) leaves them to the runner, which writes each on its own (writeEntries).
 */
import type { StepContext } from '../abi.js';
import type { Queryable } from '../storage/driver.js';

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

/** A gateway journal row held for the step's commit (holdEntry). */
export interface HeldEntry {
  /** The row as JSON text (its columns but pid, which the commit takes from the process row). */
  readonly json: string;
  /** Inserts the row with `q`: the commit's transaction, or the driver (on its own). */
  insert(q: Queryable): Promise<void>;
  /** Told once: the row is stored (err undefined), or writing it on its own failed. */
  settled(err?: unknown): void;
}

/** Gateway journal rows a step holds, in call order. */
const entries = new WeakMap<object, HeldEntry[]>();

/** Adds a gateway journal row to those the step holds for its commit. */
export function holdEntry(step: StepContext, entry: HeldEntry): void {
  const list = entries.get(step);
  if (list) list.push(entry);
  else entries.set(step, [entry]);
}

/**
 * The gateway journal rows the step holds, as one JSON array (null when none), left held: the commit
 * writes them and then calls entriesStored; if it does not get that far the runner writes them.
 */
export function heldEntries(step: object): { json: string; entries: readonly HeldEntry[] } | null {
  const list = entries.get(step);
  if (!list?.length) return null;
  return { json: `[${list.map((e) => e.json).join(',')}]`, entries: list };
}

/** The step's commit stored its gateway journal rows. */
export function entriesStored(step: object): void {
  const list = entries.get(step);
  entries.delete(step);
  for (const e of list ?? []) e.settled();
}

/**
 * Writes, each on its own, the gateway journal rows a step holds that no commit stored — once the step is
 * over without committing them. Never throws: a row that cannot be written is reported to its owner.
 */
export async function writeEntries(q: Queryable, step: object): Promise<void> {
  const list = entries.get(step);
  if (!list?.length) return;
  entries.delete(step);
  for (const e of list)
    await e.insert(q).then(
      () => e.settled(),
      (err: unknown) => e.settled(err ?? new Error('gateway journal row not written')),
    );
}
