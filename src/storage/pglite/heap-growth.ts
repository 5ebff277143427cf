/**
 * The JS heap's growth for a process that embeds PGlite (PGLITE_HEAP_GROWING_PERCENT in ../../param.ts):
 * PGlite's WASM memory and Node are most of an embedded kernel's RSS before any agent, so the heap V8 lets
 * grow between full collections is what decides whether 200 agents fit. One V8 flag, set once per process.
 */
import { setFlagsFromString } from 'node:v8';
import { KernelError } from '../../errors.js';
import { HEAP_GROWING_ENV, PGLITE_HEAP_GROWING_PERCENT } from '../../param.js';

/** V8 flags through which a process already chose its heap's growth: the embedder's choice stands. */
const OWN_CHOICE = /^--(heap[-_]growing[-_]percent|optimize[-_]for[-_]size)\b/;

let applied: number | null | undefined;

/** The growth percent in effect for this process after the first call (null: V8's own heuristic). */
export function tightenHeapGrowth(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): number | null {
  const raw = env[HEAP_GROWING_ENV];
  let percent = PGLITE_HEAP_GROWING_PERCENT;
  if (raw !== undefined && raw !== '') {
    percent = Number(raw);
    if (!Number.isInteger(percent) || percent < 0 || percent > 300) {
      throw new KernelError(
        'ECONFIG',
        `${HEAP_GROWING_ENV}=${raw} is not a whole percent between 0 and 300: set it to e.g. ` +
          `${PGLITE_HEAP_GROWING_PERCENT} (the heap grows 1.${PGLITE_HEAP_GROWING_PERCENT}× its live size ` +
          `between full collections), 0 to leave V8's default, or unset it`,
      );
    }
  }
  if (applied !== undefined) return applied;
  const flags = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (percent === 0 || flags.some((f) => OWN_CHOICE.test(f))) {
    applied = null;
    return applied;
  }
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  applied = percent;
  return applied;
}
