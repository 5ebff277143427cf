/**
 * How a process comes to run on this node: spawned from a request, restored from a checkpoint, or
 * recovered from storage at boot. Each ends the same way: the row is adopted into the process table and
 * its step loop (./runner.ts) starts.
 */
import { rmSync } from 'node:fs';
import { rebindContextStates } from '../context/snapshot.js';
import { KernelError } from '../errors.js';
import { checkSeedPath } from '../io/workspaces.js';
import type { Arms } from '../learning/ab.js';
import { lessonArgs } from '../learning/process-hooks.js';
import {
  MAX_LIVE_CHILDREN,
  MAX_LIVE_PROCESSES,
  MAX_SPAWN_DEPTH,
  PREVIEW_MAX_CHARS,
  PRIORITY_DEFAULT,
} from '../param.js';
import type { Queryable } from '../storage/driver.js';
import type { ProcessRow } from '../storage/state/types.js';
import { logger } from '../util/log.js';
import { isClustered } from './cluster.js';
import type { KernelCore } from './core.js';
import { leaseOf, noteLease } from './lease-guard.js';
import { hasUserMail } from './lifecycle.js';
import { applyProfile } from './profiles.js';
import { startLoop } from './runner.js';
import { USER_TOPIC } from './syscalls.js';

const log = logger('kernel');

export interface SpawnOptions {
  /** Defaults to the profile's name when `agent` is given, else "agent". */
  name?: string;
  task: string;
  /** A named profile from config `agents:` (model, system, tools, policy, budgets); explicit options win. */
  agent?: string;
  /** A persona/system prompt for this process, ahead of the program's own instructions. */
  system?: string;
  priority?: number;
  model?: string;
  program?: string;
  policy?: Record<string, unknown>;
  /** Work in the shared workspace of this name (as `policy.workspace`); absent: a workspace of its own. */
  workspace?: string;
  budgets?: { maxTokens?: number; maxCostUsd?: number; maxSteps?: number; maxWallMs?: number };
  args?: unknown;
  parentPid?: number | null;
  /**
   * Files to put in its workspace before its first step (relative path → content): an eval suite's files,
   * a test's fixtures. With a workspace of its own, only this process sees them.
   */
  files?: Readonly<Record<string, string>>;
}

export async function spawnProcess(core: KernelCore, spawnOpts: SpawnOptions): Promise<number> {
  const child = await prepareSpawn(core, spawnOpts);
  child.start();
  return child.pid;
}

/**
 * Creates the process atomically: its row and its program state commit together (in `tx` when given, so a
 * parent's step records the spawn with it), never a row in `new` without program state. `start()` adopts
 * the row and starts its loop; call it once the transaction has committed.
 */
export async function prepareSpawn(
  core: KernelCore,
  spawnOpts: SpawnOptions,
  tx?: Queryable,
): Promise<{ pid: number; start(): void }> {
  if (core.stopping) throw new KernelError('ESTATE', 'the kernel is shutting down; spawn refused');
  const profiled = await applyProfile(core, spawnOpts);
  const o =
    profiled.workspace === undefined
      ? profiled
      : { ...profiled, policy: { ...(profiled.policy ?? {}), workspace: profiled.workspace } };
  const program = core.programs.get(o.program ?? 'react');
  const model = o.model ?? core.models.defaultModel();
  core.models.resolve(model); // fail now, not at the first step, when the model is unknown
  let req = {
    parentPid: o.parentPid ?? null,
    name: o.name ?? 'agent',
    task: o.task,
    priority: o.priority ?? PRIORITY_DEFAULT,
    model,
  };
  if (core.hooks.has('proc.spawn.before')) req = await core.hooks.before('proc.spawn.before', req);
  if (!Number.isInteger(req.priority) || req.priority < 0 || req.priority > 99) {
    throw new KernelError(
      'EINVAL',
      `priority must be an integer 0–99 (lower is more urgent), got ${req.priority}`,
    );
  }
  checkSpawnLimits(core, req.parentPid);
  core.tools.workspaceOf({ pid: 0, policy: o.policy ?? {} }); // EINVAL now for a bad workspace name
  for (const f of Object.keys(o.files ?? {})) checkSeedPath(f);
  const args = await lessonArgs(core.learning, core.config.learning, program.name, req.task, o.args);
  const create = async (q: Queryable): Promise<ProcessRow> => {
    const row = await core.storage.state.createProcess(
      {
        name: req.name,
        task: req.task,
        parentPid: req.parentPid,
        priority: req.priority,
        state: 'new',
        model,
        program: program.name,
        policy: o.policy ?? {},
        budgets: o.budgets ?? {},
        ownerNode: core.nodeId,
        ...leaseOf(core),
      },
      q,
    );
    const programState = await program.init({ pid: row.pid, name: row.name, task: row.task, args });
    const ready = await core.storage.state.updateProcess(row.pid, { programState, state: 'ready' }, {}, q);
    if (o.files) seedFiles(core, ready, o.files);
    return ready;
  };
  // The row's lease starts at its transaction's start (database clock), after this moment; in a parent's
  // transaction, which began before, it is unknown here and renewed before the first effect.
  const sentAt = tx ? null : performance.now();
  const row = tx ? await create(tx) : await core.storage.driver.transaction(create);
  const arms = (o.args as { ab?: Arms } | undefined)?.ab;
  if (arms) await core.learning.recordArms(row.pid, arms);
  return {
    pid: row.pid,
    start() {
      const pc = core.procs.adopt(row, core.models.defaultModel());
      if (sentAt !== null) noteLease(core, pc, sentAt);
      core.tools.workspaces.ensure(core.tools.workspaceOf(row)); // its own directory, unless it shares one
      // Created just now, and no other node can run it: nothing of it is journaled yet.
      pc.recordsClean = !isClustered(core);
      core.storage.audit.expectEmpty(`proc:${row.pid}`); // a new pid's stream: its first step in one statement
      core.hooks.emit('proc.spawn.after', { pid: row.pid, parentPid: req.parentPid, name: row.name });
      startLoop(core, pc);
    },
  };
}

/** A spawn's files, in its transaction: a seed that fails leaves no process, and no directory of its own. */
function seedFiles(core: KernelCore, row: ProcessRow, files: Readonly<Record<string, string>>): void {
  const ws = core.tools.workspaceOf(row);
  try {
    core.tools.workspaces.seed(ws, files);
  } catch (err) {
    if (ws.kind === 'own') rmSync(ws.path, { recursive: true, force: true });
    throw err;
  }
}

/** Fork-bomb guards: an agent that keeps spawning copies of itself hits EQUOTA, not the machine's memory. */
function checkSpawnLimits(core: KernelCore, parentPid: number | null): void {
  if (core.procs.liveCount() >= MAX_LIVE_PROCESSES) {
    throw new KernelError(
      'EQUOTA',
      `spawn refused: ${MAX_LIVE_PROCESSES} live processes (MAX_LIVE_PROCESSES)`,
    );
  }
  if (parentPid === null) return;
  const depth = core.procs.depth(parentPid, MAX_SPAWN_DEPTH);
  if (depth >= MAX_SPAWN_DEPTH) {
    throw new KernelError(
      'EQUOTA',
      `spawn refused: process ${parentPid} is ${depth} generations deep (MAX_SPAWN_DEPTH ${MAX_SPAWN_DEPTH}); an agent may be spawning copies of itself`,
    );
  }
  const children = core.procs.liveChildren(parentPid);
  if (children >= MAX_LIVE_CHILDREN) {
    throw new KernelError(
      'EQUOTA',
      `spawn refused: process ${parentPid} already has ${children} live children (MAX_LIVE_CHILDREN)`,
    );
  }
}

export interface RestoreOptions {
  name?: string;
  priority?: number;
  into?: 'new' | 'same';
  /** A user message the restored process takes at its first step (a fork with an edited message). */
  message?: { text: string; from: string };
}

/**
 * Starts a process from any checkpoint: a new pid by default (also while the original runs: a fork), or
 * `into: 'same'` to rewind an exited process. Program state, step number, context pages, usage and
 * unconsumed mail come with it (storage/state/restore.ts); the restore is audited in the same transaction.
 */
export async function restoreProcess(
  core: KernelCore,
  checkpointId: number,
  o: RestoreOptions = {},
): Promise<number> {
  if (core.stopping) throw new KernelError('ESTATE', 'the kernel is shutting down; restore refused');
  const { storage } = core;
  // A fork runs alongside its source: it works on a copy of the source's own workspace (a shared one
  // stays shared), made before the fork exists, so a workspace too large to copy refuses the restore.
  const snap = (o.into ?? 'new') === 'new' ? await storage.state.getSnapshot(checkpointId) : null;
  const src = snap ? await storage.state.getProcess(snap.pid) : null;
  const staged = src ? await core.tools.workspaces.stageFork(core.tools.workspaceOf(src)) : null;
  const res = await storage.driver
    .transaction(async (tx) => {
      const r = await storage.state.restore(
        {
          snapshotId: checkpointId,
          into: o.into ?? 'new',
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(o.priority !== undefined ? { priority: o.priority } : {}),
          ownerNode: core.nodeId,
          ...leaseOf(core),
          rebind: rebindContextStates,
          // a fork's own message replaces the user turns the source took after the snapshot
          ...(o.message && (o.into ?? 'new') === 'new' ? { skipMailTopic: USER_TOPIC } : {}),
        },
        tx,
      );
      await storage.audit.append(
        {
          stream: `proc:${r.process.pid}`,
          kind: 'proc.restore',
          actor: 'kernel',
          payload: {
            checkpoint: checkpointId,
            from: r.sourcePid,
            into: o.into ?? 'new',
            stepNo: r.stepNo,
            discardedSteps: r.discardedSteps,
            mail: r.mail,
            pages: r.pages,
            ...(staged ? { workspaceCopy: { files: staged.files, bytes: staged.bytes } } : {}),
            ...(o.message ? { message: true } : {}),
          },
        },
        tx,
      );
      if (o.message) {
        // In the restore's transaction, so the process's first step already sees it as a user turn.
        const { text, from } = o.message;
        const id = await storage.coordination.send(
          { from: `user:${from}`, to: String(r.process.pid), topic: USER_TOPIC, body: { text, from } },
          tx,
        );
        await storage.audit.append(
          {
            stream: `proc:${r.process.pid}`,
            kind: 'proc.message',
            actor: from,
            payload: {
              messageId: id,
              chars: text.length,
              text: text.slice(0, PREVIEW_MAX_CHARS),
              fork: true,
            },
          },
          tx,
        );
      }
      return r;
    })
    .catch((err: unknown) => {
      staged?.discard();
      throw err;
    });
  const row = res.process;
  if (staged) staged.place(core.tools.workspaceOf(row));
  else core.tools.workspaces.ensure(core.tools.workspaceOf(row));
  core.programs.get(row.program); // ENOTFOUND, clearly, for a program this kernel does not have
  core.procs.remove(row.pid); // a rewound zombie: its old control block is history
  const pc = core.procs.adopt(row, core.models.defaultModel());
  pc.userMail = await hasUserMail(core, row.pid);
  startLoop(core, pc);
  return row.pid;
}

/** Boot: every live process found in storage resumes from its last committed step. */
export async function recover(core: KernelCore): Promise<void> {
  const rows = await core.storage.state.listProcesses({
    states: ['new', 'ready', 'running', 'waiting', 'suspended'],
    limit: 100_000,
  });
  for (const row of rows) {
    if (core.procs.get(row.pid)) continue;
    const pc = core.procs.adopt(row, core.models.defaultModel());
    core.tools.workspaces.ensure(core.tools.workspaceOf(row));
    pc.userMail = await hasUserMail(core, row.pid);
    if (row.state !== 'suspended') startLoop(core, pc);
  }
  if (rows.length) log.info(`recovered ${rows.length} live process(es) from storage`);
}

/** Whether user mail waits for `pid` (after recovery or a restore, where no send set the hint). */
