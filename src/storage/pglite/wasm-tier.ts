/**
 * PGlite's WASM code tier for a process that embeds it (PGLITE_WASM_LIFTOFF_ONLY in ../../param.ts). V8
 * compiles PostgreSQL's 9 MB module with its baseline compiler (Liftoff) and recompiles hot functions with
 * TurboFan on background threads. One TurboFan job over PostgreSQL's largest functions uses ~30 MiB of
 * compiler memory; glibc keeps what those threads freed in their malloc arenas, so the kernel's RSS kept
 * 40–60 MiB it never used again. Liftoff only: no tier-up, no arenas. One V8 flag, set once per process
 * before the first PGlite compiles; the initdb children get it on their command line (PGLITE_CHILD_FLAGS).
 */
import { setFlagsFromString } from 'node:v8';
import { KernelError } from '../../errors.js';
import { PGLITE_WASM_LIFTOFF_ONLY, PGLITE_WASM_TIERUP_ENV } from '../../param.js';

/** V8 flags through which a process already chose its WASM tiers: the embedder's choice stands. */
const OWN_CHOICE = /^--(no-)?(liftoff|liftoff[-_]only|wasm[-_]tier[-_]up|wasm[-_]dynamic[-_]tiering)\b/;

/** Flags for a child process that runs PGlite once (initdb): Liftoff only is also faster there (2.8 vs 3.5 s). */
export const PGLITE_CHILD_FLAGS: readonly string[] = ['--liftoff-only'];

let applied: boolean | undefined;

/** True when this call or an earlier one set Liftoff only; false: V8's tiers, or the process's own WASM flags. */
export function pgliteWasmTier(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): boolean {
  const raw = env[PGLITE_WASM_TIERUP_ENV];
  let liftoffOnly = PGLITE_WASM_LIFTOFF_ONLY;
  if (raw === '1' || raw === 'true') liftoffOnly = false;
  else if (raw === '0' || raw === 'false') liftoffOnly = true;
  else if (raw !== undefined && raw !== '') {
    throw new KernelError(
      'ECONFIG',
      `${PGLITE_WASM_TIERUP_ENV}=${raw} is not 1 or 0: set it to 1 (PGlite's hot functions recompiled by ` +
        'TurboFan: 5–15 % faster statements, +40–80 MiB RSS), 0 (Liftoff only, the default), or unset it',
    );
  }
  if (applied !== undefined) return applied;
  const flags = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (!liftoffOnly || flags.some((f) => OWN_CHOICE.test(f))) {
    applied = false;
    return applied;
  }
  setFlagsFromString('--liftoff-only');
  applied = true;
  return applied;
}
