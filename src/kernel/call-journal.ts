/**
 * The model-call journal (table llm_calls). Every model response is written the moment it arrives, with its
 * usage and cost, committed on its own: a crash before the step commits loses no spend. When the step is
 * run again, a journaled response to the same request is replayed instead of calling the model twice, and
 * its spend is charged then (the first run's step never committed and its process's in-memory usage was
 * lost — unless that run was this incarnation's, which charged it as it went: chargedHere). A journaled
 * call that cannot be replayed (the request changed, or only partial usage came back) is charged to the
 * re-run as spend and the new call is journaled as a re-run (`rerun`, next `attempt`). Rows are keyed
 * (pid, step, call index within the step, attempt) and fenced by the process's lease epoch.
 *
 * A program that hands each answer straight out of the kernel (AgentProgram.forwardsAnswers: the gateway,
 * whose caller gets the answer the moment llm.chat returns) does not wait for its row: with budget spend
 * to move the write is left in flight (deferRecord) and the step's commit waits for it (journalWritten);
 * without, it is held like a native program's (below) — its step commits right after. A crash in that
 * window loses the row — the call's spend record and its step replay; what that costs is in docs/gateway.md.
 *
 * An answer with no budget spend to move is held instead (hold): its row is written by the
 * step's one-statement commit (../storage/state/state-store.ts commitStepChained, fenced like the step),
 * or on its own before anything of the step can have an effect (writeHeld: the gate calls it before every
 * syscall but a model call or a pure tool's, and the commit before any other way of committing). So the
 * row is durable before any effect the answer led to; a crash before that loses only an answer nothing
 * acted on — its step runs again and calls the model again, and that first call's spend is not recorded.
 */

import type { StepContext } from '../abi.js';
import { KernelError } from '../errors.js';
import type { ChatResponse, LlmUsage } from '../llm/model.js';
import { type BudgetSpend, spendParams, spendSql } from '../storage/coordination/budget-grants.js';
import { jsonbText } from '../util/storable.js';
import type { KernelCore } from './core.js';
import { type HeldCall, holdCall } from './held-calls.js';
import type { ProcControl } from './process-table.js';
import { requestHash as hashRequest } from './request-hash.js';
import { account, auditResult } from './syscall-gate.js';

const positions = new WeakMap<StepContext, number>();
/**
 * The journal rows of a process's current step that this incarnation (this ProcControl, in memory) wrote,
 * and so already charged when the call returned or failed: a re-run of the step here — after a provider
 * park, a failed commit — must not charge them again. A run elsewhere (another node, after a restart) has
 * another ProcControl, whose in-memory usage never saw them, and charges them.
 */
const chargedHere = new WeakMap<ProcControl, { stepNo: number; rows: Set<string> }>();

function noteCharged(pc: ProcControl, stepNo: number, index: number, attempt: number): void {
  let c = chargedHere.get(pc);
  if (!c || c.stepNo !== stepNo) {
    c = { stepNo, rows: new Set() };
    chargedHere.set(pc, c);
  }
  c.rows.add(`${index}:${attempt}`);
}
/** Journal writes a step left in flight (deferRecord), which its commit waits for (journalWritten). */
const inFlight = new WeakMap<StepContext, Array<Promise<void>>>();

/** Leaves a journal write in flight; the step's commit waits for it (a failure fails the commit). */
export function deferRecord(step: StepContext, write: Promise<void>): void {
  write.catch(() => undefined); // awaited at commit; until then it must not count as unhandled
  const list = inFlight.get(step);
  if (list) list.push(write);
  else inFlight.set(step, [write]);
}

/** Waits for the journal writes the step left in flight (before the step commits). */
export async function journalWritten(step: StepContext): Promise<void> {
  const list = inFlight.get(step);
  if (!list) return;
  inFlight.delete(step);
  await Promise.all(list);
}

export interface JournalSlot {
  /** A response journaled by an interrupted run of this step, to be used instead of a new call. */
  readonly replay: ChatResponse | null;
  /** Whether record() writes a journal row (a call inside a step in flight); else its spend is written apart. */
  readonly journaled: boolean;
  /**
   * Journals the new call's response (or, when it failed, what it cost) as soon as it is known, and in
   * the same statement its spend of the budgets it reserved (../storage/coordination/budget-grants.ts).
   */
  record(
    usage: LlmUsage,
    costUsd: number,
    ms: number,
    response: ChatResponse | null,
    spend?: readonly BudgetSpend[],
  ): Promise<void>;
  /**
   * Holds the new call's row (an answer, no budget spend) for the step's commit instead of writing it
   * now; see the module comment. Only for a slot that is `journaled`.
   */
  hold(usage: LlmUsage, costUsd: number, ms: number, response: ChatResponse): void;
}

type Row = {
  attempt: number | string;
  request_hash: string;
  response: unknown;
  usage: unknown;
  cost: number | string;
};

const NO_JOURNAL: JournalSlot = {
  replay: null,
  journaled: false,
  record: async () => {},
  hold: () => {
    throw new Error('journal: hold() on a call outside a step in flight');
  },
};

/** Opens the journal slot of the next model call of this step (outside a step in flight: no journal). */
export async function journalSlot(
  k: KernelCore,
  pc: ProcControl,
  step: StepContext,
  request: unknown,
): Promise<JournalSlot> {
  const pcb = pc.pcb;
  if (pc.step !== step) return NO_JOURNAL;
  const index = positions.get(step) ?? 0;
  positions.set(step, index + 1);
  // Plain JSON, not canonical: the request is the gate's zod-parsed copy, its keys in schema order and its
  // messages rendered by the same code from the same state, so the same request gives the same text —
  // without sorting every message's keys on every call (that was ~3 % of an agent step's CPU). A request
  // that serialises differently (another kernel version) is only not replayed: called again, as a re-run.
  // Hashed incrementally per process (./request-hash.ts: the messages after the previous call's only).
  // Computed when first needed: a fresh step needs it only to write its row, after the answer came.
  const model = pcb.model;
  let hash: string | null = null;
  const requestHash = (): string => {
    if (hash === null) hash = hashRequest(pcb, model, request as { messages: readonly unknown[] });
    return hash;
  };
  // A step's first attempt after a commit on this node has nothing journaled (ProcControl.recordsClean).
  const { rows } =
    pc.freshStep === step
      ? { rows: [] as Row[] }
      : await k.storage.driver.query<Row>(
          `SELECT attempt, request_hash, response, usage, cost FROM llm_calls
           WHERE pid = $1 AND step_no = $2 AND call_index = $3 ORDER BY attempt`,
          [pcb.pid, step.stepNo, index],
        );
  const last = rows[rows.length - 1];
  const replayable = last && last.response !== null && last.request_hash === requestHash() ? last : null;
  // Everything the interrupted run spent is charged now: the replayed call as the call, the rest as spend —
  // and each of the rest is audited now, in this step's entries: its own step never committed, so its
  // llm.chat entry was lost with it (a gateway call answered, or a native call whose request changed,
  // would otherwise be paid for and absent from the audit chain). A run that was this incarnation's
  // charged its calls as it went (chargedHere): audited now, not charged again.
  const here = chargedHere.get(pc);
  for (const r of rows) {
    const u = parse(r.usage) as Partial<LlmUsage> & { ms?: number };
    if (r !== replayable) {
      const response = parse(r.response) as ChatResponse | null;
      step.auditEntries.push({
        kind: 'llm.chat',
        payload: {
          stepNo: step.stepNo,
          recovered: { attempt: Number(r.attempt), requestHash: r.request_hash, cost: Number(r.cost) || 0 },
          ok: response !== null,
          ms: u.ms ?? 0,
          ...(response ? { result: auditResult('llm.chat', response) } : { usage: u }),
        },
      });
    }
    if (here?.stepNo === step.stepNo && here.rows.has(`${index}:${Number(r.attempt)}`)) continue;
    account(
      k,
      pc,
      {
        tokensIn: u.input ?? 0,
        tokensCached: u.cachedInput ?? 0,
        tokensOut: u.output ?? 0,
        apiCalls: 1,
        cost: Number(r.cost) || 0,
        llmMs: u.ms ?? 0,
      },
      pcb.model,
    );
  }
  if (replayable)
    return {
      replay: parse(replayable.response) as ChatResponse,
      journaled: true,
      record: async () => {},
      hold: () => {},
    };
  const first = last ? Number(last.attempt) + 1 : 1;
  const slot: JournalSlot = {
    replay: null,
    journaled: true,
    hold(usage, costUsd, ms, response) {
      const responseText = jsonbText(response);
      const usageText = jsonbText({ ...usage, ms: Math.round(ms) });
      const call: HeldCall = {
        json:
          `{"call_index":${index},"attempt":${first},"request_hash":"${requestHash()}",` +
          `"model":${jsonbText(model)},"response":${responseText},"usage":${usageText},` +
          `"cost":${Number.isFinite(costUsd) ? costUsd : 0},"rerun":${first > 1}}`,
        write: () => slot.record(usage, costUsd, ms, response),
      };
      holdCall(step, call);
      noteCharged(pc, step.stepNo, index, first);
    },
    async record(usage, costUsd, ms, response, spend = []) {
      // The attempt number read above can be taken meanwhile (an earlier incarnation of this process on
      // this node recorded its own call after it): a conflict is the next attempt, not a lost lease.
      for (let attempt = first; attempt < first + 8; attempt++) {
        const insert = `INSERT INTO llm_calls (pid, step_no, call_index, attempt, request_hash, model, response, usage, cost, rerun)
           SELECT $1::integer, $2::integer, $3::integer, $4::integer, $5::text, $6::text, $7::jsonb, $8::jsonb,
             $9::double precision, $10::boolean
           WHERE EXISTS (SELECT 1 FROM processes WHERE pid = $1::integer AND lease_epoch = $11::bigint
             AND (lease_expires_at IS NULL OR lease_expires_at > now()))
           ON CONFLICT DO NOTHING`;
        // With budgets: the spend moves from reserved to spent only if the row was written (no row, no spend).
        const r = await k.storage.driver.query<{ n: number | string }>(
          spend.length
            ? `WITH ins AS (${insert} RETURNING 1), ${spendSql(12, 'ins')} SELECT count(*) AS n FROM ins`
            : insert,
          [
            pcb.pid,
            step.stepNo,
            index,
            attempt,
            requestHash(),
            model,
            response === null ? null : jsonbText(response),
            jsonbText({ ...usage, ms: Math.round(ms) }),
            costUsd,
            attempt > 1,
            pcb.leaseEpoch,
            ...(spend.length ? spendParams(spend) : []),
          ],
        );
        if (spend.length ? Number(r.rows[0]?.n) === 1 : r.rowCount === 1)
          return noteCharged(pc, step.stepNo, index, attempt);
        const held = await k.storage.driver.query(
          `SELECT 1 FROM processes WHERE pid = $1::integer AND lease_epoch = $2::bigint
             AND (lease_expires_at IS NULL OR lease_expires_at > now())`,
          [pcb.pid, pcb.leaseEpoch],
        );
        if (held.rows.length === 0) {
          throw new KernelError(
            'EFENCED',
            `pid ${pcb.pid}: the model call journal refused step ${step.stepNo}'s call ${index}: this node no longer holds the process's lease`,
            { details: { pid: pcb.pid, stepNo: step.stepNo, expectEpoch: pcb.leaseEpoch } },
          );
        }
      }
      throw new KernelError(
        'ECONFLICT',
        `pid ${pcb.pid}: step ${step.stepNo}'s call ${index} could not be journaled: attempts ${first}–${first + 7} are all taken`,
      );
    },
  };
  return slot;
}

function parse(v: unknown): unknown {
  return typeof v === 'string' ? JSON.parse(v) : v;
}
