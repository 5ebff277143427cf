/**
 * Fork from a step: a new process that starts from the source's state after step N — the snapshot taken
 * at that step (a periodic one every `storage.snapshot_every_steps`, an explicit checkpoint, or the exit
 * snapshot that ends each turn) — optionally with a user message that replaces the turn the source took
 * next ("what if I had asked this instead"). Restore does the work (./spawn.ts): program state, context
 * pages, usage and unconsumed mail travel; the source is untouched and may still be running.
 */
import { KernelError } from '../errors.js';
import { MAX_USER_MESSAGE_CHARS } from '../param.js';
import type { KernelCore } from './core.js';
import { restoreProcess } from './spawn.js';

export interface ForkOptions {
  /** The step whose committed state the fork starts from. */
  stepNo: number;
  /** A user turn the fork takes at its first step, in place of what the source was told after step N. */
  message?: string;
  /** Who sends the message (a token name). */
  from?: string;
  name?: string;
}

export interface ForkResult {
  pid: number;
  checkpointId: number;
  stepNo: number;
}

/** The steps of `pid` a fork can start from, each with its snapshot (newest snapshot of a step wins). */
export async function forkPoints(
  core: KernelCore,
  pid: number,
): Promise<Map<number, { checkpointId: number; reason: string }>> {
  const points = new Map<number, { checkpointId: number; reason: string }>();
  // listSnapshots is newest first: the first one seen for a step is the newest
  for (const s of await core.storage.state.listSnapshots(pid))
    if (!points.has(s.stepNo)) points.set(s.stepNo, { checkpointId: s.id, reason: s.reason });
  return points;
}

export async function forkProcess(core: KernelCore, pid: number, o: ForkOptions): Promise<ForkResult> {
  const row = await core.storage.state.getProcess(pid);
  if (!row) throw new KernelError('ENOPROC', `no process ${pid}`, { details: { pid } });
  if (o.message !== undefined) {
    if (!o.message.trim())
      throw new KernelError('EINVAL', 'a fork message needs some text (or leave it out)');
    if (o.message.length > MAX_USER_MESSAGE_CHARS)
      throw new KernelError(
        'EINVAL',
        `a message may have at most ${MAX_USER_MESSAGE_CHARS} characters (MAX_USER_MESSAGE_CHARS), got ${o.message.length}`,
      );
    if (!core.programs.get(row.program).conversational)
      throw new KernelError(
        'EINVAL',
        `process ${pid} runs program '${row.program}', which takes no user messages; fork it without "message"`,
        { details: { pid, program: row.program } },
      );
  }
  const points = await forkPoints(core, pid);
  const at = points.get(o.stepNo);
  if (!at) {
    const steps = [...points.keys()].sort((a, b) => a - b);
    throw new KernelError(
      'ENOTFOUND',
      `process ${pid} has no snapshot of step ${o.stepNo} to fork from; forkable steps: ${steps.length ? steps.join(', ') : 'none'} ` +
        `(a snapshot is taken every storage.snapshot_every_steps steps — currently ${core.storage.state.snapshotEverySteps} —, ` +
        'at each checkpoint and at each exit; set snapshot_every_steps: 1 to fork from any step)',
      { details: { pid, stepNo: o.stepNo, forkable: steps } },
    );
  }
  const newPid = await restoreProcess(core, at.checkpointId, {
    into: 'new',
    name: o.name ?? `${row.name}@${o.stepNo}`,
    ...(o.message !== undefined ? { message: { text: o.message, from: o.from ?? 'user' } } : {}),
  });
  return { pid: newPid, checkpointId: at.checkpointId, stepNo: o.stepNo };
}
