/**
 * Storage outages park, not kill. A storage error that passes with time — the disk full (ENOSPC, SQLSTATE
 * 53100), the connection lost or refused (08xxx, 57P01–57P03 as after pg_terminate_backend or a server
 * restart, ECONNRESET/ECONNREFUSED), too many connections (53300) — anywhere in a process's loop (a
 * syscall's read or journal write, the step commit, the exit commit) is handled like a crash of that one
 * process: nothing of the step in flight is kept, the process waits in `waiting(storage)` (in memory: the
 * database is what failed) with backoff, and once storage answers it reloads its row and resumes from its
 * last committed step, with the same exactly-once replay of model and tool calls as after a crash. A
 * commit whose outcome was lost with the connection is read back, never redone: the row says whether it
 * happened. Kill and shutdown end the wait. Errors that do not pass (a constraint, bad SQL) are not parked.
 */
import { newUsage } from '../abi.js';
import { KernelError } from '../errors.js';
import { STORAGE_PARK_BASE_MS, STORAGE_PARK_MAX_MS } from '../param.js';
import { sqlState } from '../storage/sql.js';
import { storedCopy } from '../storage/state/delta.js';
import { logger } from '../util/log.js';
import type { KernelCore } from './core.js';
import { statusOfRow } from './info.js';
import { forget, hasUserMail, voidStep } from './lifecycle.js';
import { isLive, parseProviderWait } from './pcb.js';
import type { ProcControl } from './process-table.js';

const log = logger('kernel');

const TRANSIENT_STATES = new Set(['53100', '53200', '53300', '57P01', '57P02', '57P03', '58030']);
const TRANSIENT_ERRNO = new Set([
  'ENOSPC',
  'EDQUOT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);
const TRANSIENT_TEXT =
  /no space left on device|disk quota exceeded|connection terminated|connection error and is not queryable|terminating connection|connection (?:refused|reset)|server closed the connection|timeout exceeded when trying to connect|the database system is (?:starting up|shutting down)/i;

/** The storage error `err` is (or wraps), when it is one that passes with time. */
export function transientStorageError(err: unknown): KernelError | null {
  if (!(err instanceof KernelError) || err.code !== 'EBACKEND') return null;
  // Anywhere in the chain: a layer that adds what it was doing (the audit entry of a tool call, say) wraps
  // the driver's error, and the wrapped cause still says whether time will mend it.
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const state = sqlState(e);
    if (state && (TRANSIENT_STATES.has(state) || state.startsWith('08'))) return err;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_ERRNO.has(code)) return err;
    if (e !== err && e instanceof Error && TRANSIENT_TEXT.test(e.message)) return err;
  }
  return TRANSIENT_TEXT.test(err.message) ? err : null;
}

/**
 * Waits out a storage outage for `pc`, then reloads it from its stored row. Returns true when the loop
 * should go on running it, false when it is gone from this node (exited meanwhile, taken by another node,
 * shut down).
 */
export async function parkOnStorage(core: KernelCore, pc: ProcControl, err: KernelError): Promise<boolean> {
  const pcb = pc.pcb;
  voidStep(core, pc);
  for (let attempt = 0; ; attempt++) {
    const ms = Math.min(STORAGE_PARK_MAX_MS, STORAGE_PARK_BASE_MS * 2 ** Math.min(attempt, 20));
    const reason = (attempt === 0 ? err.message : 'storage still unavailable')
      .replace(/\s+/g, ' ')
      .slice(0, 200);
    if (pcb.state === 'ready') core.procs.setState(pc, 'running');
    if (pcb.state === 'running' || pcb.state === 'waiting') {
      core.procs.setState(pc, 'waiting', { on: 'storage', until: Date.now() + ms, reason });
    }
    if (attempt === 0) log.warn(`pid ${pcb.pid} parked on a storage outage, retrying in ${ms} ms: ${reason}`);
    await sleep(pc, ms);
    if (core.stopping) return false;
    try {
      const row = await core.storage.state.getProcess(pcb.pid);
      pc.userMail ||= await hasUserMail(core, pcb.pid);
      log.info(
        `pid ${pcb.pid}: storage answers again after ${attempt + 1} attempt(s); resuming from step ${row?.stepNo}`,
      );
      return reload(core, pc, row);
    } catch (e) {
      if (!transientStorageError(e)) throw e;
    }
  }
}

function sleep(pc: ProcControl, ms: number): Promise<void> {
  if (pc.abort.signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.abort.signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref?.();
    pc.abort.signal.addEventListener('abort', done, { once: true });
  });
}

/** Puts the PCB back to what storage committed; a kill requested meanwhile is kept (the loop acts on it). */
function reload(
  core: KernelCore,
  pc: ProcControl,
  row: Awaited<ReturnType<KernelCore['storage']['state']['getProcess']>>,
): boolean {
  const pcb = pc.pcb;
  if (core.procs.get(pcb.pid) !== pc) return false; // dropped meanwhile (its lease went to another node)
  if (!row || row.leaseEpoch !== pcb.leaseEpoch) {
    log.warn(`pid ${pcb.pid}: ${row ? 'taken over by another node' : 'gone from storage'} during the outage`);
    forget(core, pc);
    return false;
  }
  pcb.stepNo = row.stepNo;
  pcb.programState = row.programState;
  pcb.storedState = storedCopy(row.programState);
  pcb.usage = { ...newUsage(), ...row.usage };
  pcb.vruntime = row.vruntime;
  pcb.result = row.result;
  pcb.exitReason = row.exitReason;
  if (!isLive(row.state)) {
    // The exit committed, its answer was lost with the connection: finish it here, do not run it again.
    core.cpu.forget(pcb.pid);
    if (pcb.state !== 'zombie') core.procs.setState(pc, 'zombie');
    if (row.state === 'terminated') core.procs.setState(pc, 'terminated');
    core.procs.exited(pcb.pid, statusOfRow(row));
    if (row.state === 'terminated') core.procs.remove(pcb.pid);
    return false;
  }
  const parked = row.state === 'waiting' ? parseProviderWait(row.waitOn) : null;
  if (pcb.state === 'waiting' || pcb.state === 'running') {
    if (parked) core.procs.setState(pc, 'waiting', parked);
    else core.procs.setState(pc, 'ready');
  }
  return true;
}
