/**
 * Conversations: what a user says to a process after its task.
 *   - a user message is mail on topic `user` (the mailbox is durable and its acknowledgement commits with
 *     the step that took it, so a message is taken exactly once); a conversational program appends it as a
 *     user turn at its next step — append-only, so the provider's cached prefix survives;
 *   - an exited process of a conversational program is continued from its exit snapshot into its own pid
 *     (Kernel.restore into 'same' at the final step discards nothing).
 */
import { KernelError } from '../errors.js';
import { MAX_USER_MESSAGE_CHARS, PREVIEW_MAX_CHARS } from '../param.js';
import type { ProcessState } from '../storage/state/types.js';
import type { KernelCore } from './core.js';
import { infoOf } from './lifecycle.js';
import { isLive } from './pcb.js';
import type { ProcControl } from './process-table.js';
import { restoreProcess } from './spawn.js';
import { USER_TOPIC } from './syscalls.js';

export interface SendResult {
  pid: number;
  messageId: number;
  /** The process had exited and this message continues it. */
  continued: boolean;
  state: ProcessState;
}

export async function sendMessage(
  k: KernelCore,
  pid: number,
  text: string,
  from: string,
): Promise<SendResult> {
  if (typeof text !== 'string' || !text.trim()) throw new KernelError('EINVAL', 'a message needs some text');
  if (text.length > MAX_USER_MESSAGE_CHARS)
    throw new KernelError(
      'EINVAL',
      `a message may have at most ${MAX_USER_MESSAGE_CHARS} characters (MAX_USER_MESSAGE_CHARS), got ${text.length}`,
    );
  if (k.stopping) throw new KernelError('ESTATE', 'the kernel is shutting down; message refused');
  let pc = k.procs.get(pid);
  // A process caught between its answer and its exit snapshot: let it finish exiting, then continue it.
  if (pc && !isLive(pc.pcb.state)) {
    await pc.loop;
    pc = k.procs.get(pid);
  }
  const row = await k.storage.state.getProcess(pid);
  if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
  const live = pc ? isLive(pc.pcb.state) : isLive(row.state);
  let snapshotId: number | null = null;
  if (!live) {
    const program = k.programs.get(row.program);
    if (!program.conversational) {
      throw new KernelError(
        'ESTATE',
        `process ${pid} has exited (${row.state}) and its program '${row.program}' takes no messages after exit`,
        { details: { pid, state: row.state } },
      );
    }
    const snap = await k.storage.state.latestSnapshot(pid);
    if (!snap || snap.stepNo !== row.stepNo) {
      throw new KernelError(
        'ESTATE',
        `process ${pid} has no snapshot of its last step (${row.stepNo}) to continue from; restore a checkpoint instead`,
        { details: { pid, state: row.state } },
      );
    }
    snapshotId = snap.id;
  }
  const messageId = await k.storage.driver.transaction(async (tx) => {
    const id = await k.storage.coordination.send(
      { from: `user:${from}`, to: String(pid), topic: USER_TOPIC, body: { text, from } },
      tx,
    );
    await k.storage.audit.append(
      {
        stream: `proc:${pid}`,
        kind: 'proc.message',
        actor: from,
        payload: {
          messageId: id,
          chars: text.length,
          text: text.slice(0, PREVIEW_MAX_CHARS),
          continues: !live,
        },
      },
      tx,
    );
    return id;
  });
  if (live) {
    if (pc) {
      pc.userMail = true;
      // Between its last answer and its exit the process may not look at its mailbox again (lessons are
      // written at exit): if it exits done with the message untaken, continue it, as for an exited one.
      void pc.loop?.then(() => continueUnanswered(k, pc!)).catch(() => undefined);
    }
    k.services.wakeMailbox(pid);
    return { pid, messageId, continued: false, state: pc ? pc.pcb.state : row.state };
  }
  await restoreProcess(k, snapshotId!, { into: 'same' });
  return { pid, messageId, continued: true, state: (await infoOf(k, pid)).state };
}

async function continueUnanswered(k: KernelCore, pc: ProcControl): Promise<void> {
  const pcb = pc.pcb;
  if (!pc.userMail || isLive(pcb.state) || pcb.exitReason !== null || k.stopping) return;
  if (k.procs.get(pcb.pid) && k.procs.get(pcb.pid) !== pc) return; // already continued
  pc.userMail = false;
  const snap = await k.storage.state.latestSnapshot(pcb.pid);
  if (snap && snap.stepNo === pcb.stepNo) await restoreProcess(k, snap.id, { into: 'same' });
}
