/**
 * The seeds' learning API as thin TypeScript names (轨迹记录 · 策略优化):
 *
 *   const recorder = new TrajectoryRecorder(kernel);
 *   const id = await recorder.startRecording('Agent1', pid, 'task');
 *   await recorder.addStep({ phase: 'thinking', thought: 'analyse the problem' });
 *   await recorder.finishRecording('success', true);
 *   const analysis = await new AgentOptimizer(recorder).analyze('Agent1');
 *   analysis.successRate; analysis.suggestions;
 *
 * A kernel process already has its trajectory (the step log); the recorder only adds annotations to it.
 * A pid the kernel does not know (work done outside the kernel) becomes a recorded trajectory of its own.
 * Both persist in the kernel's storage, so the optimizer reads them after a restart.
 */
import { randomUUID } from 'node:crypto';
import { KernelError } from '../errors.js';
import type { Analysis } from './analyze.js';
import type { Learning, RecordedTrajectory } from './learning.js';

export interface RecorderStep {
  phase: string;
  thought?: string;
  action?: string;
  observation?: string;
}

/** Anything that carries the learning layer: a Kernel (`kernel.learning`) or the layer itself. */
export type LearningHost = Learning | { readonly learning: Learning };

const layerOf = (h: LearningHost): Learning => ('learning' in h ? h.learning : h);

export class TrajectoryRecorder {
  readonly learning: Learning;
  private current: RecordedTrajectory | null = null;
  private readonly open = new Map<string, RecordedTrajectory>();

  constructor(host: LearningHost) {
    this.learning = layerOf(host);
  }

  /** Starts a recording; returns its id. With a kernel pid, annotations attach to that process. */
  async startRecording(agent: string, pid: number, task: string): Promise<string> {
    if (!agent) throw new KernelError('EINVAL', 'startRecording needs an agent name');
    let kernelProcess = false;
    try {
      kernelProcess = (await this.learning.trajectory(pid)).agent === agent;
    } catch (err) {
      if (!KernelError.is(err, 'ENOPROC')) throw err;
    }
    const rec: RecordedTrajectory = {
      id: randomUUID(),
      agent,
      pid,
      task,
      kernelProcess,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      outcome: null,
      success: null,
      notes: [],
    };
    this.open.set(rec.id, rec);
    this.current = rec;
    await this.learning.saveRecording(rec.id, rec);
    return rec.id;
  }

  /** Adds an annotated step to the current recording (or the one named by `id`). */
  async addStep(step: RecorderStep, id?: string): Promise<void> {
    const rec = this.pick(id);
    const note = { ...step, at: new Date().toISOString() };
    rec.notes.push(note);
    if (rec.kernelProcess) await this.learning.appendNote(`pid:${rec.pid}`, note);
    await this.learning.saveRecording(rec.id, rec);
  }

  async finishRecording(outcome: string, success: boolean, id?: string): Promise<RecordedTrajectory> {
    const rec = this.pick(id);
    rec.finishedAt = new Date().toISOString();
    rec.outcome = outcome;
    rec.success = success;
    await this.learning.saveRecording(rec.id, rec);
    this.open.delete(rec.id);
    if (this.current?.id === rec.id) this.current = null;
    return rec;
  }

  /** The seeds spell it this way (`finish_recoding`); kept so their example runs unchanged. */
  finishRecoding(outcome: string, success: boolean, id?: string): Promise<RecordedTrajectory> {
    return this.finishRecording(outcome, success, id);
  }

  private pick(id?: string): RecordedTrajectory {
    const rec = id ? this.open.get(id) : this.current;
    if (!rec) {
      throw new KernelError(
        'ESTATE',
        id
          ? `no open recording ${id}`
          : 'no recording in progress: call startRecording(agent, pid, task) first',
      );
    }
    return rec;
  }
}

export class AgentOptimizer {
  readonly learning: Learning;

  constructor(host: TrajectoryRecorder | LearningHost) {
    this.learning = host instanceof TrajectoryRecorder ? host.learning : layerOf(host);
  }

  /** Success rate, distributions, ranked failure modes and suggestions with evidence for one agent name. */
  analyze(agent: string): Promise<Analysis> {
    return this.learning.analyze({ agent });
  }
}
