/** Argument checks for the Scheduler: bad input becomes a KernelError that names the field and the fix. */
import { KernelError } from '../errors.js';
import * as P from '../param.js';
import type { Pid } from './policy.js';
import type { SchedEntity } from './types.js';

export function stateError(pid: Pid, what: string): KernelError {
  return new KernelError('ESTATE', `pid ${pid} ${what}`, { details: { pid } });
}

export function checkPid(pid: unknown): void {
  if (typeof pid !== 'number' || !Number.isInteger(pid)) {
    throw new KernelError('EINVAL', `pid must be an integer, got ${String(pid)}`, {
      details: { field: 'pid' },
    });
  }
}

export function checkPriority(p: unknown): void {
  if (typeof p !== 'number' || !Number.isInteger(p) || p < P.PRIORITY_MIN || p > P.PRIORITY_MAX) {
    throw new KernelError(
      'EINVAL',
      `priority must be an integer ${P.PRIORITY_MIN}–${P.PRIORITY_MAX} (lower is more urgent), got ${String(p)}`,
      {
        details: { field: 'priority' },
      },
    );
  }
}

export function validateEntity(e: SchedEntity): void {
  if (typeof e !== 'object' || e === null)
    throw new KernelError('EINVAL', 'enqueue() needs an entity { pid, priority, model, provider }');
  if (typeof e.pid !== 'number' || !Number.isInteger(e.pid))
    throw new KernelError('EINVAL', `pid must be an integer, got ${String(e.pid)}`);
  checkPriority(e.priority);
  if (e.weight !== undefined && !(Number.isFinite(e.weight) && e.weight > 0)) {
    throw new KernelError(
      'EINVAL',
      `weight of pid ${e.pid} must be a positive number, got ${String(e.weight)}`,
      { details: { pid: e.pid } },
    );
  }
  for (const k of ['model', 'provider'] as const) {
    if (typeof e[k] !== 'string' || e[k].length === 0) {
      throw new KernelError('EINVAL', `${k} of pid ${e.pid} must be a non-empty string`, {
        details: { pid: e.pid },
      });
    }
  }
  if (e.vruntime !== undefined && !(Number.isFinite(e.vruntime) && e.vruntime >= 0)) {
    throw new KernelError('EINVAL', `vruntime of pid ${e.pid} must be a finite number ≥ 0`, {
      details: { pid: e.pid },
    });
  }
  if (e.estTokens !== undefined && !(Number.isFinite(e.estTokens) && e.estTokens >= 0)) {
    throw new KernelError('EINVAL', `estTokens of pid ${e.pid} must be a finite number ≥ 0`, {
      details: { pid: e.pid },
    });
  }
}

export function positive(n: number, name: string): number {
  if (!(Number.isFinite(n) && n > 0))
    throw new KernelError('ECONFIG', `scheduler ${name} must be a positive number, got ${n}`);
  return n;
}

export function positiveInt(n: number, name: string): number {
  if (!(Number.isInteger(n) && n > 0))
    throw new KernelError('ECONFIG', `scheduler ${name} must be a positive integer, got ${n}`);
  return n;
}

export function nonNegative(n: number, name: string): number {
  if (!(Number.isFinite(n) && n >= 0))
    throw new KernelError('EINVAL', `release(): ${name} must be a finite number ≥ 0, got ${n}`);
  return n;
}
