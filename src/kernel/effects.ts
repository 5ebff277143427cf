/**
 * Exactly-once kernel effects. A step that is killed before it commits is run again from the same state;
 * whatever it did to kernel state must not happen twice. Mail and acknowledgements are buffered and commit
 * with the step (./kernel.ts commitStep). The rest (kv compare-and-set, memory, spawn) take effect when called
 * — other agents see them at once — and commit in ONE transaction with a record keyed by the step and the
 * call's position in it (`${pid}:${step}:k${n}`, table tool_calls): a re-run step finds the record and gets
 * the recorded result back instead of a second effect. Reads that feed effects (kv_get) are recorded too,
 * so the re-run sees what the first run saw and takes the same path. Definite failures are recorded as well.
 * Every record is fenced: it lands only while the writer holds the process's lease epoch.
 */

import type { StepContext } from '../abi.js';
import { KernelError } from '../errors.js';
import type { Queryable } from '../storage/driver.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import { logger } from '../util/log.js';
import { jsonbText } from '../util/storable.js';
import type { KernelCore } from './core.js';
import type { ProcControl } from './process-table.js';

const log = logger('kernel');

/** Position of the next recorded kernel effect within each in-flight step. */
const positions = new WeakMap<StepContext, number>();

type Outcome = { ok: true; value: unknown } | { ok: false; error: ReturnType<KernelError['toJSON']> };

/**
 * Runs `fn` (the effect, on the transaction it is given) once per step position: the first run commits the
 * effect together with its record; a re-run of the same step replays the record. Outside a step in flight
 * (a syscall made through the API) there is nothing to re-run, so `fn` runs in a plain transaction.
 */
export async function onceInStep<R>(
  k: KernelCore,
  pc: ProcControl,
  step: StepContext,
  name: string,
  args: unknown,
  fn: (tx: Queryable) => Promise<R>,
): Promise<R> {
  const pcb = pc.pcb;
  if (pc.step !== step) return k.storage.driver.transaction(fn);
  const n = positions.get(step) ?? 0;
  positions.set(step, n + 1);
  const key = `${pcb.pid}:${step.stepNo}:k${n}`;
  const argsHash = sha256Hex(canonicalJson({ name, args: args ?? null }));
  // A step's first attempt after a commit on this node has no records (ProcControl.recordsClean).
  const prev =
    pc.freshStep === step
      ? { rows: [] }
      : await k.storage.driver.query<{ tool: string; args_hash: string; result: unknown }>(
          "SELECT tool, args_hash, result FROM tool_calls WHERE key = $1 AND state = 'done'",
          [key],
        );
  const rec = prev.rows[0];
  if (rec) {
    if (rec.tool !== name || rec.args_hash !== argsHash) {
      // The re-run took another path than the recorded run; the recorded effect happened and stays.
      log.warn(`pid ${pcb.pid} step ${step.stepNo}: re-run diverged at ${key} (${rec.tool} → ${name})`);
    }
    const out = (typeof rec.result === 'string' ? JSON.parse(rec.result) : rec.result) as Outcome;
    if (rec.tool === name) {
      if (out.ok) return out.value as R;
      throw new KernelError(out.error.code, out.error.message, { details: out.error.details });
    }
  }
  const record = (q: Queryable, outcome: Outcome) => writeRecord(q, pc, step, key, name, argsHash, outcome);
  try {
    return await k.storage.driver.transaction(async (tx) => {
      const value = await fn(tx);
      await record(tx, { ok: true, value: value ?? null });
      return value;
    });
  } catch (err) {
    // A definite refusal (a CAS conflict, a bad argument) is part of the step's history too; storage
    // trouble and fencing are not (nothing happened, and a fenced writer must write nothing).
    if (KernelError.is(err) && !['EBACKEND', 'EFENCED', 'EABORTED'].includes(err.code)) {
      await record(k.storage.driver, { ok: false, error: err.toJSON() });
    }
    throw err;
  }
}

/** Inserts the record only while the process row still carries the writer's lease epoch (fencing). */
async function writeRecord(
  q: Queryable,
  pc: ProcControl,
  step: StepContext,
  key: string,
  name: string,
  argsHash: string,
  outcome: Outcome,
): Promise<void> {
  const r = await q.query(
    `INSERT INTO tool_calls (key, pid, tool, args_hash, result, state, step_no, call_index)
     SELECT $1::text, $2::bigint, $3::text, $4::text, $5::jsonb, 'done', $6::integer, $7::integer
     WHERE EXISTS (SELECT 1 FROM processes WHERE pid = $2::bigint AND lease_epoch = $8::bigint
       AND (lease_expires_at IS NULL OR lease_expires_at > now()))
     ON CONFLICT (key) DO NOTHING`,
    [
      key,
      pc.pcb.pid,
      name,
      argsHash,
      jsonbText(outcome),
      step.stepNo,
      Number(key.slice(key.lastIndexOf('k') + 1)),
      pc.pcb.leaseEpoch,
    ],
  );
  if (r.rowCount === 1) return;
  const cur = await q.query<{ lease_epoch: unknown }>('SELECT lease_epoch FROM processes WHERE pid = $1', [
    pc.pcb.pid,
  ]);
  const epoch = cur.rows[0] ? Number(cur.rows[0].lease_epoch) : null;
  if (epoch !== pc.pcb.leaseEpoch) {
    throw new KernelError(
      'EFENCED',
      `pid ${pc.pcb.pid} is owned by lease epoch ${epoch ?? '(gone)'}, not ${pc.pcb.leaseEpoch}: this node lost the process and writes nothing`,
      { details: { pid: pc.pcb.pid, expectEpoch: pc.pcb.leaseEpoch, actualEpoch: epoch } },
    );
  }
  throw new KernelError(
    'ECONFLICT',
    `effect ${key} was recorded concurrently by another writer of the same step`,
  );
}
