/**
 * Agent programs are step functions over serialisable state:
 *   step(state, sys) → continue(state) | done(result) | fail(error)
 * Because state is plain data the kernel can checkpoint after every step, preempt between steps and
 * resume after a crash. Programs touch the world only through `sys` (the syscall table).
 */

import type { StepRecord, StepResult } from '../abi.js';
import { KernelError } from '../errors.js';
import type { Sys } from './syscalls.js';

export type { StepRecord, StepResult } from '../abi.js';

export interface ProgramInit {
  pid: number;
  name: string;
  task: string;
  args?: unknown;
}

export interface AgentProgram<S = unknown> {
  readonly name: string;
  /**
   * Takes user messages as turns (Kernel.send): a message that arrives while it answers is answered
   * next, and an exited process of this program can be continued by one.
   */
  readonly conversational?: boolean;
  /**
   * Hands every model answer out of the kernel the moment llm.chat returns (the gateway's callers): the
   * call's journal row (llm_calls) is then written off that path, and the step's commit waits for it.
   */
  readonly forwardsAnswers?: boolean;
  /** Initial state from the spawn request. Must be JSON-serialisable. */
  init(input: ProgramInit): S | Promise<S>;
  step(state: S, sys: Sys): Promise<StepResult<S>>;
}

export const continueWith = <S>(state: S, record?: StepRecord): StepResult<S> =>
  record ? { kind: 'continue', state, record } : { kind: 'continue', state };
export const done = <S>(state: S, result: unknown, record?: StepRecord): StepResult<S> =>
  record ? { kind: 'done', state, result, record } : { kind: 'done', state, result };
export const fail = <S>(state: S, error: string, record?: StepRecord): StepResult<S> =>
  record ? { kind: 'fail', state, error, record } : { kind: 'fail', state, error };

export class ProgramRegistry {
  private readonly programs = new Map<string, AgentProgram<unknown>>();

  register<S>(program: AgentProgram<S>): void {
    if (!/^[a-z][a-z0-9_.-]{0,63}$/.test(program.name)) {
      throw new KernelError('EINVAL', `program name '${program.name}' must match [a-z][a-z0-9_.-]{0,63}`);
    }
    this.programs.set(program.name, program as AgentProgram<unknown>);
  }

  get(name: string): AgentProgram<unknown> {
    const p = this.programs.get(name);
    if (!p) {
      throw new KernelError(
        'ENOTFOUND',
        `no agent program named '${name}'; registered: ${this.names().join(', ')}`,
      );
    }
    return p;
  }

  names(): string[] {
    return [...this.programs.keys()].sort();
  }
}
