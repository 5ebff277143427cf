/**
 * The learning layer's seam (DESIGN §8). Reads trajectories from the step log, analyses them, keeps
 * lessons as memories and the seeds' recorder annotations in the kv store. It needs only the storage
 * roles below, never the kernel: the kernel calls `onExit` when a process ends and `lessonsFor` when one
 * starts; the API, CLI and the seeds' names (./recorder.ts) read through it.
 */
import { KernelError } from '../errors.js';
import { TASK_FAMILY_SIMILARITY } from '../param.js';
import type { MemoryStore } from '../storage/memory/memory-store.js';
import type { StateStore } from '../storage/state/state-store.js';
import type { ProcessRow } from '../storage/state/types.js';
import { cosine } from '../util/embedder.js';
import { type AbReport, type Arms, abReport } from './ab.js';
import { type Analysis, analyzeTrajectories } from './analyze.js';
import { type Lesson, LessonBook, type RetrievedLesson, type StoredLesson } from './lessons.js';
import { distillRequest, parseModelLessons } from './model-distill.js';
import { buildTrajectory, type Trajectory } from './trajectory.js';

export interface LearningStorage {
  state: Pick<StateStore, 'getProcess' | 'listProcesses' | 'listSteps' | 'kvGet' | 'kvCas'>;
  memory: MemoryStore;
}

export interface TrajectoryFilter {
  agent?: string;
  program?: string;
  profile?: string;
  /** A task text: selects trajectories whose task is similar (embedding cosine ≥ familySimilarity). */
  family?: string;
  familySimilarity?: number;
  limit?: number;
}

export const NOTES_NS = 'trajectory.notes';
export const RECORDED_NS = 'trajectory.recorded';
/** A/B assignments: key `change:<id>` → the processes of that change's test and their arms. */
export const AB_NS = 'learning.ab';

interface AbEntry {
  pid: number;
  arm: Arms[string];
}
const TERMINAL = ['zombie', 'terminated'] as const;

export class Learning {
  readonly lessons: LessonBook;

  constructor(private readonly storage: LearningStorage) {
    this.lessons = new LessonBook(storage.memory);
  }

  /** One process's trajectory (with any recorder notes), or ENOPROC. */
  async trajectory(pid: number): Promise<Trajectory> {
    const row = await this.storage.state.getProcess(pid);
    if (!row) throw new KernelError('ENOPROC', `no process ${pid}`);
    return this.build(row);
  }

  private async build(row: ProcessRow): Promise<Trajectory> {
    const steps = [];
    for (let after = 0; ; ) {
      const page = await this.storage.state.listSteps(row.pid, { after, limit: 1000 });
      steps.push(...page);
      if (page.length < 1000) break;
      after = page.at(-1)!.stepNo;
    }
    const notes = (await this.storage.state.kvGet(NOTES_NS, `pid:${row.pid}`))?.value as
      | Trajectory['notes']
      | undefined;
    return buildTrajectory(row, steps, notes ?? []);
  }

  /** Trajectories of processes matching the filter, newest first; recorder-only ones included by agent. */
  async trajectories(f: TrajectoryFilter = {}): Promise<Trajectory[]> {
    const limit = f.limit ?? 200;
    const rows: ProcessRow[] = [];
    for (let offset = 0; ; offset += 1000) {
      const page = await this.storage.state.listProcesses({ limit: 1000, offset });
      rows.push(...page);
      if (page.length < 1000) break;
    }
    let sel = rows.filter(
      (r) =>
        (f.agent === undefined || r.name === f.agent) &&
        (f.program === undefined || r.program === f.program) &&
        (f.profile === undefined ||
          (r.policy as Record<string, unknown>)?.profile === f.profile ||
          (r.programState as Record<string, unknown> | null)?.profile === f.profile),
    );
    if (f.family !== undefined && sel.length > 0) {
      const emb = this.storage.memory.embedder;
      const [q, ...vs] = await emb.embed([f.family, ...sel.map((r) => r.task)]);
      const min = f.familySimilarity ?? TASK_FAMILY_SIMILARITY;
      sel = sel.filter((_, i) => cosine(q!, vs[i]!) >= min);
    }
    sel.sort((a, b) => b.pid - a.pid);
    const out: Trajectory[] = [];
    for (const r of sel.slice(0, limit)) out.push(await this.build(r));
    if (f.agent !== undefined && out.length < limit)
      out.push(...(await this.recorded(f.agent)).slice(0, limit - out.length));
    return out;
  }

  /** Analysis of the matching trajectories (finished ones; live ones are counted in `runs` only). */
  async analyze(f: TrajectoryFilter | string = {}): Promise<Analysis> {
    const filter = typeof f === 'string' ? { agent: f } : f;
    const subject =
      filter.agent ??
      filter.profile ??
      filter.program ??
      (filter.family ? `tasks like "${filter.family.slice(0, 60)}"` : 'all processes');
    return analyzeTrajectories(subject, await this.trajectories({ limit: 1000, ...filter }));
  }

  /** Distils the finished process's trajectory into lessons and settles the lessons it was given. */
  async onExit(
    pid: number,
    o: { tenant?: string | null; usedLessons?: readonly string[]; written?: readonly Lesson[] } = {},
  ): Promise<StoredLesson[]> {
    const row = await this.storage.state.getProcess(pid);
    if (!row || !(TERMINAL as readonly string[]).includes(row.state)) return [];
    const t = await this.build(row);
    if (o.usedLessons?.length) await this.lessons.feedback(o.usedLessons, t.success);
    return this.lessons.learn(t, o.tenant ?? null, o.written ?? []);
  }

  /**
   * Lessons written by the process's own model about its run, which is ending with `exit`: `chat` is the
   * kernel's gate (`llm.chat`, purpose 'learning'). Untrusted output: only well-formed lines survive;
   * an error propagates (the caller falls back to the extractive lessons alone).
   */
  async writeLessons(
    pid: number,
    exit: { outcome: 'done' | 'failed'; result: unknown; exitReason: string | null },
    chat: (req: ReturnType<typeof distillRequest>) => Promise<{ content: string }>,
  ): Promise<Lesson[]> {
    const row = await this.storage.state.getProcess(pid);
    if (!row) return [];
    const t = { ...(await this.build(row)), ...exit, success: exit.outcome === 'done' };
    const res = await chat(distillRequest(t));
    return parseModelLessons(res.content, t);
  }

  lessonsFor(
    task: string,
    o: {
      tenant?: string | null;
      profile?: string | null;
      k?: number;
      maxChars?: number;
      minSimilarity?: number;
    } = {},
  ): Promise<RetrievedLesson[]> {
    return this.lessons.retrieve(task, o);
  }

  // ── A/B tests of profile changes ──

  /** Records the arms a new process was given (ProfileOptimizer.forSpawn) for the changes' reports. */
  async recordArms(pid: number, arms: Arms): Promise<void> {
    for (const [changeId, arm] of Object.entries(arms))
      await kvUpdate(this.storage.state, AB_NS, `change:${changeId}`, (cur: AbEntry[] | null) =>
        cur?.some((e) => e.pid === pid) ? cur : [...(cur ?? []), { pid, arm }],
      );
  }

  /** The A/B report of one change: the arms' finished processes compared, with 95 % intervals. */
  async abReport(changeId: string): Promise<AbReport> {
    const entries =
      ((await this.storage.state.kvGet(AB_NS, `change:${changeId}`))?.value as AbEntry[] | undefined) ?? [];
    if (entries.length === 0)
      throw new KernelError(
        'ENOTFOUND',
        `change ${changeId} has no A/B processes: apply it with a share below 1 (e.g. --share 0.5) and spawn processes of its profile`,
      );
    const runs = [];
    for (const e of entries.slice(-2000)) {
      const row = await this.storage.state.getProcess(e.pid);
      if (row) runs.push({ arm: e.arm, trajectory: await this.build(row) });
    }
    return abReport(changeId, runs);
  }

  // ── the seeds' recorder, persisted in kv ──

  async appendNote(key: string, note: Trajectory['notes'][number]): Promise<void> {
    await kvUpdate(this.storage.state, NOTES_NS, key, (cur: Trajectory['notes'] | null) => [
      ...(cur ?? []),
      note,
    ]);
  }

  async saveRecording(id: string, rec: RecordedTrajectory): Promise<void> {
    await kvUpdate(this.storage.state, RECORDED_NS, `rec:${id}`, () => rec);
    await kvUpdate(this.storage.state, RECORDED_NS, `index:${rec.agent}`, (cur: string[] | null) =>
      cur?.includes(id) ? cur : [...(cur ?? []), id],
    );
  }

  async recording(id: string): Promise<RecordedTrajectory | null> {
    return (
      ((await this.storage.state.kvGet(RECORDED_NS, `rec:${id}`))?.value as RecordedTrajectory | undefined) ??
      null
    );
  }

  private async recorded(agent: string): Promise<Trajectory[]> {
    const ids =
      ((await this.storage.state.kvGet(RECORDED_NS, `index:${agent}`))?.value as string[] | undefined) ?? [];
    const out: Trajectory[] = [];
    for (const id of [...ids].reverse()) {
      const r = await this.recording(id);
      // A recording of a kernel process is already covered by that process's own trajectory.
      if (r && !r.kernelProcess) out.push(recordedToTrajectory(r));
    }
    return out;
  }
}

export interface RecordedTrajectory {
  id: string;
  agent: string;
  pid: number;
  task: string;
  kernelProcess: boolean;
  startedAt: string;
  finishedAt: string | null;
  outcome: string | null;
  success: boolean | null;
  notes: Trajectory['notes'];
}

const PHASES: Record<string, 'think' | 'act' | 'observe' | 'answer'> = {
  think: 'think',
  thinking: 'think',
  plan: 'think',
  planning: 'think',
  act: 'act',
  acting: 'act',
  action: 'act',
  observe: 'observe',
  observing: 'observe',
  observation: 'observe',
  answer: 'answer',
  final: 'answer',
};

export function normalisePhase(p: string): 'think' | 'act' | 'observe' | 'answer' | 'note' {
  return PHASES[p.toLowerCase()] ?? 'note';
}

function recordedToTrajectory(r: RecordedTrajectory): Trajectory {
  const success = r.success === true;
  const outcome = r.finishedAt === null ? 'running' : success ? 'done' : 'failed';
  return {
    pid: r.pid,
    agent: r.agent,
    program: 'recorded',
    task: r.task,
    model: null,
    profile: null,
    outcome,
    success,
    result: r.outcome,
    exitReason: success ? null : r.outcome,
    failureMode: outcome === 'failed' ? 'other' : null,
    maxSteps: null,
    systemHash: null,
    steps: r.notes.map((n, i) => ({
      stepNo: i + 1,
      phases: [normalisePhase(n.phase)],
      thought: n.thought ?? null,
      text: n.observation ?? null,
      toolCalls: [],
      tokensIn: 0,
      tokensCached: 0,
      tokensOut: 0,
      cost: 0,
      llmMs: 0,
      cacheHit: null,
      error: null,
      at: n.at,
    })),
    totals: { steps: r.notes.length, tokensIn: 0, tokensCached: 0, tokensOut: 0, cost: 0, llmMs: 0 },
    createdAt: r.startedAt,
    notes: r.notes,
  };
}

/** Compare-and-set with retries: concurrent writers (two programs annotating one run) never lose a write. */
export async function kvUpdate<T>(
  state: LearningStorage['state'],
  ns: string,
  key: string,
  f: (cur: T | null) => T,
): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const cur = await state.kvGet(ns, key);
    try {
      await state.kvCas(ns, key, cur?.version ?? null, f((cur?.value as T | undefined) ?? null));
      return;
    } catch (err) {
      if (!KernelError.is(err, 'ECONFLICT')) throw err;
    }
  }
  throw new KernelError('ECONFLICT', `kv ${ns}/${key}: too many concurrent writers; retry`);
}
